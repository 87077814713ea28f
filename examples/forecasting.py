"""Explain a multivariate LSTM forecaster: which quarters and which series drove the forecast.

Loads the zoo's ``macro_lstm`` (next quarter's US CPI inflation from 16 quarters of 11
macro series), explains its latest forecast with integrated gradients, kernel SHAP and LIME,
prints the top series and quarters, and writes the HTML report.

    python examples/forecasting.py [--out reports/forecasting.html] [--quick]
"""

from __future__ import annotations

import argparse

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/forecasting.html")
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()

    zoo = explainr.zoo.load("macro_lstm")
    x, raw = zoo.windows(last=1)  # scaled model input (1, 16, 11) and the window in original units
    methods = ("integrated_gradients", "kernel_shap", "lime")
    ex = explainr.explain(
        zoo.model,
        x,
        methods=methods,
        feature_names=zoo.feature_names,
        time_labels=[f"{t:%Y-%m}" for t in raw[-1].index],
        raw=raw[-1],
        n_samples=200 if args.quick else None,
        title="US inflation forecast (macro_lstm)",
        data_summary=f"statsmodels macrodata, quarters {raw[-1].index[0]:%Y-%m} to {raw[-1].index[-1]:%Y-%m}",
    )
    prediction = ex.attributions["integrated_gradients"].prediction[0]
    print(f"forecast of next quarter's {zoo.target_name}: {prediction:.2f}")
    for method, a in ex.attributions.items():
        by_feature = a.by_feature()[0]
        top = sorted(zip(zoo.feature_names, by_feature, strict=True), key=lambda p: -abs(p[1]))[:3]
        print(
            f"{method:<22}"
            + ", ".join(f"{name} {value:+.3f}" for name, value in top)
            + f"   completeness error {a.completeness_error[0]:.2%}"
        )
    print(f"report: {ex.save_html(args.out)}")


if __name__ == "__main__":
    main()
