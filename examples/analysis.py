"""explainr in analysis code: load a model, record it, attribute, look at numbers, save a report.

python examples/analysis.py [--quick]
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()

    # 1. Load a trained model and the last 8 windows of its data.
    zoo = explainr.zoo.load("macro_lstm")
    x, raw = zoo.windows(last=8)

    # 2. Record every gate and state while the model runs its own forward.
    with torch.no_grad(), explainr.record(zoo.model) as rec:
        forecast = zoo.model(x)
    r = rec.trace["rnn"]
    print(rec.trace)
    forget = r.gate("forget", layer=1)  # (8, 16, hidden)
    print(f"layer-1 forget gate: mean {forget.mean():.3f}, shape {tuple(forget.shape)}")

    # 3. Attribute the forecasts; grouped SHAP over 4-quarter blocks x series.
    ig = explainr.attribute(
        zoo.model, x, method="integrated_gradients", feature_names=zoo.feature_names, progress=False
    )
    shap = explainr.attribute(
        zoo.model,
        x,
        method="kernel_shap",
        window=4,
        group_by="time_feature",
        n_samples=256 if args.quick else None,
        feature_names=zoo.feature_names,
        progress=False,
    )

    # 4. Numbers as pandas tables.
    when = [f"{w.index[-1]:%Y-%m}" for w in raw]
    table = pd.DataFrame(ig.by_feature(), index=when, columns=zoo.feature_names)
    print("IG attribution by series (rows: window end):")
    print(table.round(3).to_string())
    print("completeness error (IG):", ig.completeness_error.round(4).tolist())
    agreement = explainr.metrics.rank_agreement(ig, shap)
    print("IG vs kernel SHAP, Spearman per window:", agreement.spearman.round(2).tolist())
    print("forecasts:", [round(v, 2) for v in forecast.tolist()])

    # 5. One report for the latest window.
    report = explainr.Report(title="macro_lstm, latest window")
    report.add_trace(rec.trace, sample=7)
    report.add_attribution(ig, sample=7)
    report.add_attribution(shap, sample=7)
    print(f"report: {report.save('reports/analysis.html')}")


if __name__ == "__main__":
    main()
