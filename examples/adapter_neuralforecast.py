"""Explain a neuralforecast DeepAR: which quarters drove its mean forecast of US real GDP.

Fits a small DeepAR (inflation as a future exogenous column) with ``NeuralForecast``, then
explains the mean of its latest 4-quarter forecast, in the data's original units, with
``explainr.adapt`` and writes the HTML report.

    python examples/adapter_neuralforecast.py [--out reports/adapter_neuralforecast.html] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import warnings

import pandas as pd
from neuralforecast import NeuralForecast
from neuralforecast.models import DeepAR
from statsmodels.datasets import macrodata

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/adapter_neuralforecast.html")
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)

    data = macrodata.load_pandas().data
    df = pd.DataFrame(
        {
            "unique_id": "US",
            "ds": pd.period_range("1959Q1", periods=len(data), freq="Q").to_timestamp(),
            "y": data["realgdp"],
            "infl": data["infl"],
        }
    )
    model = DeepAR(
        h=4,
        input_size=12,
        lstm_hidden_size=16,
        futr_exog_list=["infl"],
        scaler_type="standard",
        max_steps=20 if args.quick else 300,
        random_seed=0,
        enable_progress_bar=False,
        logger=False,
        accelerator="cpu",
    )
    nf = NeuralForecast(models=[model], freq="QS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(df)

    ad = explainr.adapt(nf, df)  # one series, one model: nothing to pick
    w = ad.windows(last=1)
    print(f"mean forecast from {w.time_labels[0][-1]}: {ad.predict(w)[0].round(1)}")
    ex = explainr.explain(
        ad,
        w,
        methods=("integrated_gradients", "kernel_shap"),
        target="y t+4",
        n_samples=200 if args.quick else None,
        title="neuralforecast DeepAR (mean): US real GDP, 4 quarters ahead",
    )
    for method, a in ex.attributions.items():
        parts = zip(ad.feature_names, a.by_feature()[0], strict=True)
        shares = ", ".join(f"{name} {value:+.1f}" for name, value in parts)
        print(f"{method:<22}{shares}   completeness error {a.completeness_error[0]:.2%}")
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
