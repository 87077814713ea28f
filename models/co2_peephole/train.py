"""Train ``co2_peephole``: a peephole LSTM (`explainr.nn.PeepholeLSTM`) that forecasts next
month's change in Mauna Loa CO2 from the previous 24 monthly changes.

    python models/co2_peephole/train.py

Deterministic: rewrites ``model.safetensors`` and ``card.json`` next to this file.
The model sees month-over-month changes rather than levels: the level rises out of the
training range, its changes (the seasonal cycle plus the trend's slope) do not.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Recipe, main

SPEC = {
    "name": "co2_peephole",
    "description": (
        "Peephole LSTM forecaster of next month's change in atmospheric CO2 at Mauna Loa "
        "(ppm) from the previous 24 monthly changes (1958-2001; next level = last level + "
        "forecast)."
    ),
    "task": "forecast",
    "architecture": {
        "class": "Forecaster",
        "kwargs": {"input_size": 1, "hidden_size": 16, "num_layers": 1, "cell": "peephole"},
    },
    "data": {
        "file": "data/co2.csv",
        "source": (
            "statsmodels.datasets.co2 (Keeling & Whorf, SIO flask samples at Mauna Loa, "
            "public domain), weekly samples averaged per month, gaps interpolated"
        ),
        "time_column": "date",
        "features": ["co2_change"],
        "target": "co2_change",
        "units": {"co2": "ppm", "co2_change": "ppm per month"},
    },
    "window": 24,
    "horizon": 1,
}
RECIPE = Recipe(epochs=60, lr=0.01, batch_size=32, weight_decay=1e-5, seed=0)

if __name__ == "__main__":
    main(Path(__file__).resolve().parent, SPEC, RECIPE)
