"""shap's own plots on explainr results: beeswarm, bar and waterfall of a recurrent forecaster.

Explains the zoo's ``macro_lstm`` (next quarter's US CPI inflation from 16 quarters of 11
macro series) on its last 12 windows with kernel SHAP, keeps the windows in original units
(``raw=``), turns the result into a ``shap.Explanation`` and draws shap's plots with
matplotlib. The result is also saved to netCDF and read back, and written as a long table.

    python examples/shap_plots.py [--out reports/shap] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt
import numpy as np
import shap

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/shap", help="folder for the PNG and .nc files")
    parser.add_argument("--quick", action="store_true", help="fewer windows and samples")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    zoo = explainr.zoo.load("macro_lstm")
    last = 4 if args.quick else 12
    x, raw = zoo.windows(last=last)  # scaled (last, 16, 11) and the same windows in % units
    a = explainr.attribute(
        zoo.model,
        x,
        "kernel_shap",
        window=4,  # 4-quarter blocks x series
        n_samples=256 if args.quick else None,
        feature_names=zoo.feature_names,
        time_labels=[str(t.date()) for t in raw[-1].index],
        raw=np.stack([w.to_numpy() for w in raw]),
    )
    print(a)  # Attribution('kernel_shap', windows=..., time=16, features=11)

    # Per series, summed over the window: one shap "feature" per macro series.
    by_series = a.to_shap(by="feature")
    for name, draw in [
        ("beeswarm", lambda: shap.plots.beeswarm(by_series, show=False)),
        ("bar", lambda: shap.plots.bar(by_series, show=False)),
        ("waterfall", lambda: shap.plots.waterfall(by_series[-1], show=False)),
        ("cells_bar", lambda: shap.plots.bar(a[-1:, -4:].to_shap()[0], show=False)),
    ]:
        plt.figure()
        draw()
        plt.tight_layout()
        plt.savefig(out / f"{name}.png", dpi=90)
        plt.close("all")
        print(f"figure: {out / name}.png")

    # f(baseline) + the values is the forecast, as in shap.
    gap = by_series.base_values + by_series.values.sum(axis=1) - a.prediction
    print(f"largest gap between base + values and f(x): {np.abs(gap).max():.2e}")

    path = a.save(out / "macro_kernel_shap.nc")  # netCDF; explainr.load reads it back
    assert explainr.load(path) == a
    a.to_dataframe().to_csv(out / "macro_kernel_shap.csv", index=False)
    print(f"saved: {path} and {out / 'macro_kernel_shap.csv'}")


if __name__ == "__main__":
    main()
