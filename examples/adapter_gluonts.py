"""Explain a GluonTS DeepAR forecast of yearly sunspot numbers: which years drove it.

Trains a small GluonTS torch ``DeepAREstimator`` on sunspots 1700-1988 (statsmodels), then
explains the mean of its forecast for 2009 with integrated gradients and kernel SHAP
through ``explainr.adapt``. DeepAR reads 30 past years (24 through its LSTM plus up to 7
years of lags); the adapter takes those 30 years in original units, applies DeepAR's mean
scaling inside and explains the distribution's mean, never a sampled path.

    python examples/adapter_gluonts.py [--out reports/adapter_gluonts.html] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings

import numpy as np
import pandas as pd
import torch

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/adapter_gluonts.html")
    parser.add_argument("--quick", action="store_true", help="short training, fewer samples")
    args = parser.parse_args()

    from gluonts.dataset.common import ListDataset
    from gluonts.torch.model.deepar import DeepAREstimator
    from statsmodels.datasets import sunspots

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    y = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float32)
    start = pd.Period("1700", freq="Y")
    estimator = DeepAREstimator(
        freq="Y",
        prediction_length=3,
        context_length=24,
        num_layers=1,
        hidden_size=16,
        num_batches_per_epoch=10 if args.quick else 50,
        trainer_kwargs=dict(
            max_epochs=1 if args.quick else 10,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tempfile.mkdtemp(),
        ),
    )
    predictor = estimator.train(ListDataset([{"start": start, "target": y[:-20]}], freq="Y"))

    # the explainr part: the predictor with the series it forecasts
    data = ListDataset([{"start": start, "target": y}], freq="Y")
    ad = explainr.adapt(predictor, data)
    w = ad.windows(last=1)  # (1, 30 years, 1) in sunspot numbers, ending in 2008
    mean = ad.predict(w)[0]
    sampled = next(iter(predictor.predict(data))).mean  # the library's 100 sampled paths
    print(
        f"mean forecast 2009-2011: {mean.round(1)} (mean of GluonTS's samples {sampled.round(1)})"
    )
    print(ad.time_note)

    ex = explainr.explain(
        ad,
        w,
        methods=("integrated_gradients", "kernel_shap"),
        target="target t+1",
        n_samples=200 if args.quick else None,
        title="Sunspots in 2009 (GluonTS DeepAR, mean forecast)",
    )
    for method, a in ex.attributions.items():
        by_time = a.by_time()[0]
        top = np.argsort(-np.abs(by_time))[:3]
        years = ", ".join(f"{w.time_labels[0][t]} {by_time[t]:+.1f}" for t in top)
        print(f"{method:<22}{years}   completeness error {a.completeness_error[0]:.2%}")
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
