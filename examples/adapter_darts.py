"""Explain a darts RNNModel: which quarters of GDP and inflation drove its 3-quarter forecast.

Fits a small darts LSTM (``RNNModel``) on US real GDP with inflation and unemployment as
future covariates (both scaled by darts Scalers), then explains its latest forecast in the
data's original units with ``explainr.adapt`` and writes the HTML report.

    python examples/adapter_darts.py [--out reports/adapter_darts.html] [--quick]
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd
from darts import TimeSeries
from darts.dataprocessing.transformers import Scaler
from darts.models import RNNModel
from statsmodels.datasets import macrodata

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/adapter_darts.html")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (smoke run)")
    args = parser.parse_args()

    data = macrodata.load_pandas().data
    data.index = pd.period_range("1959Q1", periods=len(data), freq="Q").to_timestamp()
    gdp = TimeSeries.from_dataframe(data[["realgdp"]].astype("float32"))
    cov = TimeSeries.from_dataframe(data[["infl", "unemp"]].astype("float32"))
    gdp_scaler, cov_scaler = Scaler().fit(gdp), Scaler().fit(cov)

    model = RNNModel(
        input_chunk_length=8,
        model="LSTM",
        hidden_dim=8,
        training_length=16,
        n_epochs=3 if args.quick else 30,
        random_state=0,
        pl_trainer_kwargs={"enable_progress_bar": False, "logger": False, "accelerator": "cpu"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            gdp_scaler.transform(gdp),
            future_covariates=cov_scaler.transform(cov),
            verbose=False,
        )

    # the adapter takes the data in original units and folds the Scalers in
    ad = explainr.adapt(
        model,
        gdp,
        future_covariates=cov,
        n=3,
        scaler={"series": gdp_scaler, "future_covariates": cov_scaler},
    )
    w = ad.windows(last=1)
    print(f"forecast from {w.time_labels[0][-1]}: {ad.predict(w)[0].round(1)}")
    ex = explainr.explain(
        ad,
        w,
        methods=("integrated_gradients", "kernel_shap"),
        target="realgdp t+3",
        n_samples=200 if args.quick else None,
        title="darts RNNModel: US real GDP, 3 quarters ahead",
    )
    for method, a in ex.attributions.items():
        parts = zip(ad.feature_names, a.by_feature()[0], strict=True)
        shares = ", ".join(f"{name} {value:+.1f}" for name, value in parts)
        print(f"{method:<22}{shares}   completeness error {a.completeness_error[0]:.2%}")
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
