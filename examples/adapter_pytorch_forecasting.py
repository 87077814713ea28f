"""Explain a pytorch-forecasting model: which quarters of which input drove its forecast.

Trains a small ``RecurrentNetwork`` (LSTM) on three US macro series (real GDP, consumption,
investment; statsmodels' macrodata) with inflation and unemployment as known covariates,
then explains its forecast of real investment one quarter ahead with integrated gradients
and kernel SHAP through ``explainr.adapt``: the windows are in original units, the
library's own scaling runs inside, and each window's series, target scale and future
covariates are held fixed while it is explained.

    python examples/adapter_pytorch_forecasting.py [--out reports/adapter_pf.html] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import pandas as pd
import torch

import explainr

TRAINER = dict(
    accelerator="cpu",
    logger=False,
    enable_progress_bar=False,
    enable_checkpointing=False,
    enable_model_summary=False,
)


def macro_frame() -> pd.DataFrame:
    """One row per quarter and series: value, inflation, unemployment, a time index."""
    from statsmodels.datasets import macrodata

    m = macrodata.load_pandas().data
    quarters = [f"{int(y)}Q{int(q)}" for y, q in zip(m["year"], m["quarter"], strict=True)]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "series": name,
                    "value": m[name].astype("float32"),
                    "infl": m["infl"].astype("float32"),
                    "unemp": m["unemp"].astype("float32"),
                    "time_idx": np.arange(len(m)),
                    "quarter": quarters,
                }
            )
            for name in ("realgdp", "realcons", "realinv")
        ],
        ignore_index=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/adapter_pf.html")
    parser.add_argument("--quick", action="store_true", help="short training, fewer samples")
    args = parser.parse_args()

    import lightning.pytorch as pl
    from pytorch_forecasting import RecurrentNetwork, TimeSeriesDataSet
    from pytorch_forecasting.data import GroupNormalizer

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    torch.set_num_threads(1)
    df = macro_frame()
    training = TimeSeriesDataSet(
        df[df.time_idx < 180],
        time_idx="time_idx",
        target="value",
        group_ids=["series"],
        max_encoder_length=12,
        max_prediction_length=4,
        static_categoricals=["series"],
        time_varying_known_reals=["infl", "unemp"],
        time_varying_unknown_reals=["value"],
        target_normalizer=GroupNormalizer(groups=["series"]),
    )
    pl.seed_everything(0, verbose=False)
    model = RecurrentNetwork.from_dataset(training, hidden_size=16, rnn_layers=1)
    trainer = pl.Trainer(max_epochs=1 if args.quick else 8, **TRAINER)
    trainer.fit(model, training.to_dataloader(train=True, batch_size=32))

    # the explainr part: the model with the data it forecasts from
    ad = explainr.adapt(model, df)
    w = ad.windows(last=1)  # the latest window of the last series (realinv), original units
    ours = ad.predict(w)[0]
    theirs = model.predict(ad.dataset, mode="prediction", trainer_kwargs=dict(TRAINER))[-1]
    print(
        f"forecast for the next 4 quarters: {np.round(ours, 1)} (library: {theirs.numpy().round(1)})"
    )
    if not np.allclose(ours, theirs.numpy(), rtol=1e-4):
        raise SystemExit("the adapter's forecast differs from the library's: please report")

    quarters = df.set_index("time_idx")["quarter"]
    labels = [quarters.loc[int(t)].iloc[0] for t in w.time_labels[0]]
    ex = explainr.explain(
        ad,
        w,
        methods=("integrated_gradients", "kernel_shap"),
        target="value t+1",
        time_labels=labels,
        n_samples=200 if args.quick else None,
        title="Real investment, next quarter (pytorch-forecasting RecurrentNetwork)",
    )
    for method, a in ex.attributions.items():
        by_feature = a.by_feature()[0]
        parts = ", ".join(f"{n} {v:+.1f}" for n, v in zip(w.feature_names, by_feature, strict=True))
        print(f"{method:<22}{parts}   completeness error {a.completeness_error[0]:.2%}")
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
