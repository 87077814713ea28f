"""Explain an LSTM sequence classifier: what made it predict a warm El Nino month.

The zoo's ``elnino_classifier`` reads 24 months of Nino 1+2 sea-surface temperature and
its anomaly and gives two logits (next month's anomaly below / above the median). We
explain the logit of the predicted class for the latest window.

    python examples/classification.py [--out reports/classification.html] [--quick]
"""

from __future__ import annotations

import argparse

import torch

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/classification.html")
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()

    zoo = explainr.zoo.load("elnino_classifier")
    x, raw = zoo.windows(last=1)
    with torch.no_grad():
        probs = zoo.model(x).softmax(dim=-1)[0]
    target = int(probs.argmax())
    classes = zoo.card["data"].get("classes", ["below", "above"])
    print(f"predicted class: {classes[target]} (p={probs[target]:.2f})")

    ex = explainr.explain(
        zoo.model,
        x,
        methods=("integrated_gradients", "occlusion", "kernel_shap"),
        target=target,
        feature_names=zoo.feature_names,
        time_labels=raw[-1].index.strftime("%Y-%m").tolist(),
        raw=raw[-1],
        window=3,
        n_samples=200 if args.quick else None,
        title=f"El Nino classifier: why '{classes[target]}'",
    )
    a = ex.attributions["integrated_gradients"]
    months = a.by_time()[0]
    top = months.argsort()[::-1][:3]
    print("months that pushed most towards it:", ", ".join(a.time_labels[i] for i in top))
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
