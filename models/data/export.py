"""Regenerate the zoo's CSV files: four public-domain series from ``statsmodels.datasets``
(a dev dependency: ``pip install -e ".[dev]"``; nothing is downloaded) and two synthetic
sets drawn from fixed seeds.

    python models/data/export.py

See README.md next to this script for each file's source, licence and columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels import datasets

HERE = Path(__file__).resolve().parent

MACRO_GROWTH = {  # column written -> macrodata level it is the growth of
    "gdp_growth": "realgdp",
    "cons_growth": "realcons",
    "inv_growth": "realinv",
    "govt_growth": "realgovt",
    "dpi_growth": "realdpi",
    "m1_growth": "m1",
    "pop_growth": "pop",
}
MACRO_RATES = ["tbilrate", "unemp", "infl", "realint"]
ELNINO_BASE_YEARS = (1950, 1979)  # climatology for the anomaly


def macro() -> pd.DataFrame:
    """Quarterly US macro, 1959Q2-2009Q3: growth in % per quarter (100 × log-difference of
    the real levels), and rates in % as published."""
    raw = datasets.macrodata.load_pandas().data
    dates = pd.PeriodIndex.from_fields(
        year=raw["year"].astype(int), quarter=raw["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    frame = pd.DataFrame(index=pd.Index(dates, name="date"))
    for column, level in MACRO_GROWTH.items():
        frame[column] = 100 * np.log(raw[level].to_numpy()).astype(float)
        frame[column] = frame[column].diff()
    for column in MACRO_RATES:
        frame[column] = raw[column].to_numpy()
    return frame.iloc[1:].round(4)


def sunspots() -> pd.DataFrame:
    """Yearly mean sunspot number, 1700-2008."""
    raw = datasets.sunspots.load_pandas().data
    return pd.DataFrame(
        {"sunactivity": raw["SUNACTIVITY"].to_numpy()},
        index=pd.Index(raw["YEAR"].astype(int).to_numpy(), name="year"),
    )


def co2() -> pd.DataFrame:
    """Mauna Loa CO2: weekly flask samples averaged per month, empty months linearly
    interpolated; and the change from the previous month."""
    weekly = datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate(method="linear")
    frame = pd.DataFrame({"co2": monthly.round(3)})
    frame["co2_change"] = frame["co2"].diff().round(3)
    frame.index.name = "date"
    return frame.iloc[1:]


def elnino() -> pd.DataFrame:
    """Monthly Nino 1+2 sea-surface temperature, 1950-2010, and its anomaly from the
    1950-1979 mean of the same calendar month."""
    raw = datasets.elnino.load_pandas().data
    long = raw.melt(id_vars="YEAR", var_name="month", value_name="sst")
    months = {m: k + 1 for k, m in enumerate(raw.columns[1:])}
    long["date"] = pd.to_datetime(
        {"year": long["YEAR"].astype(int), "month": long["month"].map(months), "day": 1}
    )
    frame = long.set_index("date").sort_index()[["sst"]]
    base = frame.loc[f"{ELNINO_BASE_YEARS[0]}" : f"{ELNINO_BASE_YEARS[1]}", "sst"]
    climatology = base.groupby(base.index.month).mean()
    frame["sst_anomaly"] = (frame["sst"] - climatology.loc[frame.index.month].to_numpy()).round(4)
    return frame


def moving(frames: int = 600, size: int = 8, seed: int = 0) -> pd.DataFrame:
    """A 2x2 square moving on a ``size`` x ``size`` grid: each step it moves by its velocity
    (each component -1, 0 or 1), bouncing off the edges; with probability 0.1 per step a new
    velocity is drawn. Columns: pixels ``px_<row>_<col>`` (0/1) and the square's centre
    ``x`` (column) and ``y`` (row), in pixels."""
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, size - 1, 2)
    vel = rng.choice([-1, 1], 2)
    rows = []
    for _ in range(frames):
        image = np.zeros((size, size), dtype=int)
        image[pos[0] : pos[0] + 2, pos[1] : pos[1] + 2] = 1
        rows.append([*image.ravel(), pos[1] + 0.5, pos[0] + 0.5])
        if rng.random() < 0.1:
            vel = rng.integers(-1, 2, 2)
        for axis in range(2):
            if not 0 <= pos[axis] + vel[axis] <= size - 2:
                vel[axis] = -vel[axis]
            pos[axis] += vel[axis]
    columns = [f"px_{r}_{c}" for r in range(size) for c in range(size)] + ["x", "y"]
    return pd.DataFrame(rows, columns=columns, index=pd.RangeIndex(frames, name="step"))


def planted(
    rows: int = 2000,
    features: int = 5,
    window: int = 30,
    box_steps: tuple[int, int] = (10, 15),
    box_features: tuple[int, int] = (2, 4),
    seed: int = 0,
) -> pd.DataFrame:
    """Standard normal noise ``f0..f4`` and a target planted in it: at row t, the sum of
    features 2..3 over steps 10..14 of the ``window`` rows ending at t (rows t-19..t-15).
    The first ``window - 1`` rows have no target."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((rows, features)).round(4)
    frame = pd.DataFrame(noise, columns=[f"f{k}" for k in range(features)])
    frame.index.name = "step"
    target = np.full(rows, np.nan)
    for end in range(window - 1, rows):
        start = end - window + 1
        box = noise[start + box_steps[0] : start + box_steps[1], box_features[0] : box_features[1]]
        target[end] = box.sum()
    frame["target"] = target.round(4)
    return frame


EXPORTS = {
    "macro.csv": macro,
    "sunspots.csv": sunspots,
    "co2.csv": co2,
    "elnino.csv": elnino,
    "moving.csv": moving,
    "planted.csv": planted,
}


def main() -> None:
    for file, make in EXPORTS.items():
        frame = make()
        frame.to_csv(HERE / file)
        print(f"{file}: {len(frame)} rows x {frame.shape[1]} columns")


if __name__ == "__main__":
    main()
