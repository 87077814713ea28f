"""Train ``planted_convlstm``: a ConvLSTM whose target is the mean of a known box of cells
(rows 2-5, columns 4-7) during known steps (2 and 3) of 6 frames of noise.

    python models/planted_convlstm/train.py

The right attribution is known: everything inside the box (``card["box"]``), nothing
outside. Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe
from _frames import train_frames

SPEC = {
    "name": "planted_convlstm",
    "description": (
        "ConvLSTM forecaster of a planted target: the mean of the cells in rows 2-5, "
        "columns 4-7 at steps 2 and 3 of 6 frames (batch, 6, 1, 8, 8) of standard normal "
        "noise. Every other cell is irrelevant."
    ),
    "task": "forecast",
    "architecture": {
        "class": "FrameModel",
        "kwargs": {
            "channels": 1,
            "hidden_channels": 4,
            "kernel_size": 3,
            "num_layers": 1,
            "outputs": 1,
            "pool": 0,
            "height": 8,
            "width": 8,
        },
    },
    "data": {
        "kind": "frames",
        "generator": "planted_box",
        "source": "synthetic: explainr._zoo_frames.planted_box, seed 0",
        "count": 3000,
        "steps": 6,
        "frame_shape": [1, 8, 8],
        "seed": 0,
        "features": [],
        "target": "box_mean",
        "units": {"pixel": "standard normal noise"},
    },
    "box": {"steps": [2, 4], "rows": [2, 6], "cols": [4, 8]},
    "window": 6,
    "horizon": 0,
}
RECIPE = Recipe(epochs=40, lr=0.01, batch_size=64, seed=0, scaling="none")

if __name__ == "__main__":
    train_frames(Path(__file__).resolve().parent, SPEC, RECIPE)
