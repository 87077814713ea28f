"""Train ``moving_digits``: a ConvLSTM (`explainr.nn.ConvLSTM`) that names the handwritten
digit drifting across 16x16 frames, from 8 frames.

    python models/moving_digits/train.py

The digits are scikit-learn's bundled 8x8 images (``sklearn.datasets.load_digits``, the
UCI optical recognition set: real handwriting, shipped inside scikit-learn, no download).
Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe
from _frames import train_frames

SPEC = {
    "name": "moving_digits",
    "description": (
        "ConvLSTM classifier of which handwritten digit (0-9) drifts across 16x16 frames, "
        "bouncing off the edges, from 8 frames (batch, time, 1, 16, 16); the digits are "
        "scikit-learn's bundled 8x8 images."
    ),
    "task": "classify",
    "architecture": {
        "class": "FrameModel",
        "kwargs": {
            "channels": 1,
            "hidden_channels": 8,
            "kernel_size": 5,
            "num_layers": 1,
            "outputs": 10,
            "pool": 4,
        },
    },
    "data": {
        "kind": "frames",
        "generator": "moving_digits",
        "source": "scikit-learn load_digits (1797 real 8x8 handwritten digits, bundled)",
        "count": 1797,
        "steps": 8,
        "frame_shape": [1, 16, 16],
        "seed": 0,
        "features": [],
        "target": "digit",
        "units": {"pixel": "ink, 0..1 (the digit's 0..16 over 16)"},
    },
    "classes": [str(d) for d in range(10)],
    "window": 8,
    "horizon": 0,
}
RECIPE = Recipe(epochs=20, lr=0.01, batch_size=32, seed=0, scaling="none")

if __name__ == "__main__":
    train_frames(Path(__file__).resolve().parent, SPEC, RECIPE)
