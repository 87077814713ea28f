"""How ``sunspots_keras_gru.keras`` was made: a small Keras GRU stack trained on sunspots.

Needs Keras 3 (any backend); the example that explains the file does not::

    KERAS_BACKEND=torch python examples/data/make_keras_sunspots.py

Trains ``GRU(16) -> Dropout -> GRU(8) -> Dense(1)`` to forecast next year's sunspot number
from the last 30 years (standardised), on 1700-1949, and writes the model next to this
script with ``sunspots_keras_gru.json``: the window, the scaling, and Keras's own forecast
for the latest window (which the example compares with explainr's).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "models" / "data" / "sunspots.csv"
WINDOW = 30


def main() -> None:
    import keras

    keras.utils.set_random_seed(0)
    df = pd.read_csv(DATA)
    values = df["sunactivity"].to_numpy(dtype=np.float32)
    train = values[df["year"].to_numpy() < 1950]
    mean, std = float(train.mean()), float(train.std())
    scaled = (values - mean) / std
    starts = range(len(train) - WINDOW)
    x = np.stack([scaled[s : s + WINDOW] for s in starts])[..., None]
    y = np.array([scaled[s + WINDOW] for s in starts])[:, None]
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((WINDOW, 1)),
            L.GRU(16, return_sequences=True),
            L.Dropout(0.1),
            L.GRU(8),
            L.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    model.save(HERE / "sunspots_keras_gru.keras")
    last = scaled[-WINDOW:][None, :, None]
    forecast = float(model.predict(last, verbose=0)[0, 0]) * std + mean
    card = {
        "data": "models/data/sunspots.csv",
        "time_column": "year",
        "feature": "sunactivity",
        "window": WINDOW,
        "mean": mean,
        "std": std,
        "keras_forecast_latest_window": forecast,
        "keras_version": keras.__version__,
    }
    (HERE / "sunspots_keras_gru.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
