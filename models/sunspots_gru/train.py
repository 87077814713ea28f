"""Train ``sunspots_gru``: a GRU that forecasts next year's sunspot number from 30 years.

    python models/sunspots_gru/train.py

Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe, main

SPEC = {
    "name": "sunspots_gru",
    "description": (
        "GRU forecaster of next year's mean sunspot number from the previous 30 years "
        "(yearly, 1700-2008)."
    ),
    "task": "forecast",
    "architecture": {
        "class": "Forecaster",
        "kwargs": {"input_size": 1, "hidden_size": 32, "num_layers": 1, "cell": "gru"},
    },
    "data": {
        "file": "data/sunspots.csv",
        "source": "statsmodels.datasets.sunspots (NOAA NGDC yearly sunspot numbers, public domain)",
        "time_column": "year",
        "features": ["sunactivity"],
        "target": "sunactivity",
        "units": {"sunactivity": "mean sunspot number"},
    },
    "window": 30,
    "horizon": 1,
}
RECIPE = Recipe(epochs=150, lr=0.01, batch_size=32, weight_decay=1e-5, seed=0)

if __name__ == "__main__":
    main(Path(__file__).resolve().parent, SPEC, RECIPE)
