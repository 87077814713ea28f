"""Train ``moving_convlstm``: a ConvLSTM (`explainr.nn.ConvLSTM`) that forecasts the column
of a moving square in the next 8x8 frame from the previous 8 frames.

    python models/moving_convlstm/train.py

Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
Pixels are already 0/1, so they are not rescaled: a per-pixel scaling would make the
same square look different in different places and undo the convolution's shift symmetry.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe, main

SIZE = 8
SPEC = {
    "name": "moving_convlstm",
    "description": (
        "ConvLSTM forecaster of the column (x, in pixels) of a 2x2 square bouncing around "
        "8x8 frames, one step ahead, from the previous 8 frames. Each step is a frame "
        "flattened row by row (64 features); the model reshapes it to (1, 8, 8)."
    ),
    "task": "forecast",
    "architecture": {
        "class": "ConvLSTMForecaster",
        "kwargs": {
            "height": SIZE,
            "width": SIZE,
            "hidden_channels": 8,
            "kernel_size": 3,
            "num_layers": 1,
        },
    },
    "data": {
        "file": "data/moving.csv",
        "source": "synthetic: models/data/export.py moving(), seed 0",
        "time_column": "step",
        "features": [f"px_{r}_{c}" for r in range(SIZE) for c in range(SIZE)],
        "target": "x",
        "frame_shape": [SIZE, SIZE],
        "units": {"px_<row>_<col>": "1 inside the square, else 0", "x": "pixels"},
    },
    "window": 8,
    "horizon": 1,
}
RECIPE = Recipe(epochs=40, lr=0.01, batch_size=32, weight_decay=0.0, seed=0, scaling="none")

if __name__ == "__main__":
    main(Path(__file__).resolve().parent, SPEC, RECIPE)
