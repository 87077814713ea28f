"""Train ``planted_lstm``: an LSTM on noise with a planted target, whose right attribution
is known: the target is the sum of features 2..3 over steps 10..14 of each 30-step window.

    python models/planted_lstm/train.py

Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe, main

SPEC = {
    "name": "planted_lstm",
    "description": (
        "LSTM regressor on windows of 30 steps x 5 features of standard normal noise; the "
        "target (at the window's last step) is the sum of features f2 and f3 over window "
        "steps 10..14, so attributions should concentrate in that box."
    ),
    "task": "forecast",
    "architecture": {
        "class": "Forecaster",
        "kwargs": {"input_size": 5, "hidden_size": 32, "num_layers": 1, "cell": "lstm"},
    },
    "data": {
        "file": "data/planted.csv",
        "source": "synthetic: models/data/export.py planted(), seed 0",
        "time_column": "step",
        "features": ["f0", "f1", "f2", "f3", "f4"],
        "target": "target",
        "units": {"f*": "standard normal noise", "target": "sum of the box's cells"},
    },
    "window": 30,
    "horizon": 0,
    "box": {
        "steps": [10, 11, 12, 13, 14],
        "features": [2, 3],
        "feature_names": ["f2", "f3"],
        "note": "window step indices (0 = oldest) and feature indices the target sums over",
    },
}
RECIPE = Recipe(epochs=150, lr=0.005, batch_size=64, weight_decay=0.0, seed=0)

if __name__ == "__main__":
    main(Path(__file__).resolve().parent, SPEC, RECIPE)
