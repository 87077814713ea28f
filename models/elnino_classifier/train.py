"""Train ``elnino_classifier``: an LSTM that tells whether next month's Nino 1+2 sea-surface
temperature anomaly will be above the median, from the previous 24 months.

    python models/elnino_classifier/train.py

Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe, main

SPEC = {
    "name": "elnino_classifier",
    "description": (
        "LSTM classifier: is next month's Nino 1+2 SST anomaly above the median of the "
        "training months (class 1) or not (class 0)? From the previous 24 months of SST and "
        "anomaly (1950-2010)."
    ),
    "task": "classify",
    "architecture": {
        "class": "Classifier",
        "kwargs": {
            "input_size": 2,
            "hidden_size": 16,
            "num_layers": 1,
            "n_classes": 2,
            "cell": "lstm",
        },
    },
    "data": {
        "file": "data/elnino.csv",
        "source": ("statsmodels.datasets.elnino (NOAA NWS CPC, ERSST.V3B Nino 1+2, public domain)"),
        "time_column": "date",
        "features": ["sst", "sst_anomaly"],
        "target": "sst_anomaly",
        "classes": ["not above median", "above median"],
        "units": {"sst": "deg C", "sst_anomaly": "deg C from the 1950-1979 mean of the month"},
    },
    "window": 24,
    "horizon": 1,
}
RECIPE = Recipe(epochs=60, lr=0.005, batch_size=32, weight_decay=1e-4, seed=0)

if __name__ == "__main__":
    main(Path(__file__).resolve().parent, SPEC, RECIPE)
