"""Explain a model trained and saved with Keras, without Keras or TensorFlow installed.

``examples/data/sunspots_keras_gru.keras`` is a Keras 3 GRU stack (GRU -> Dropout -> GRU ->
Dense) trained on yearly sunspot numbers (``examples/data/make_keras_sunspots.py`` made
it). This script reads the file with ``explainr.adapters.keras.load`` (json, zipfile and
h5py only), checks that its forecast for the latest window equals the one Keras computed
when it saved the model, records the GRUs' gates, explains the forecast with integrated
gradients and kernel SHAP, and writes the HTML report.

    python examples/keras_model.py [--model PATH.keras] [--out reports/keras_model.html] [--quick]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import explainr
from explainr.adapters.keras import load

HERE = Path(__file__).resolve().parent
MODEL = HERE / "data" / "sunspots_keras_gru.keras"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL), help="a .keras or .h5 file")
    parser.add_argument("--out", default="reports/keras_model.html")
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()

    card = json.loads(MODEL.with_suffix(".json").read_text())
    model = load(args.model)  # a torch.nn.Module; each Keras layer is a child of the same name
    print(model)

    df = pd.read_csv(HERE.parent / card["data"], index_col=card["time_column"])
    window = df[card["feature"]].iloc[-card["window"] :]
    x = torch.tensor((window.to_numpy() - card["mean"]) / card["std"], dtype=torch.float32)
    x = x[None, :, None]  # (batch 1, 30 years, 1 feature), scaled as in training

    with explainr.record(model) as rec, torch.no_grad():
        forecast = model(x).item() * card["std"] + card["mean"]
    print(
        f"forecast for {window.index[-1] + 1}: {forecast:.3f} sunspots "
        f"(Keras {card['keras_version']} computed {card['keras_forecast_latest_window']:.3f})"
    )
    if args.model == str(MODEL) and abs(forecast - card["keras_forecast_latest_window"]) > 1e-3:
        raise SystemExit("explainr's forecast differs from the one Keras saved: please report")
    for name in rec.trace.names:
        update = rec.trace[name].gate("update")[0].mean(dim=-1)  # (time,)
        print(f"{name}: mean update gate over the last 5 years {update[-5:].numpy().round(2)}")

    ex = explainr.explain(
        model,
        x,
        methods=("integrated_gradients", "kernel_shap"),
        feature_names=[card["feature"]],
        time_labels=[str(year) for year in window.index],
        raw=window.to_frame(),
        n_samples=200 if args.quick else None,
        title=f"Sunspot forecast ({Path(args.model).name}, a Keras model)",
    )
    for method, a in ex.attributions.items():
        by_time = a.by_time()[0]  # (time,) numpy
        top = np.argsort(-np.abs(by_time))[:3]
        years = ", ".join(f"{window.index[t]} {by_time[t]:+.3f}" for t in top)
        print(f"{method:<22}{years}   completeness error {a.completeness_error[0]:.2%}")
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
