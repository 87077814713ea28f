"""Faithfulness metrics per method, and their deletion and insertion curves."""

from __future__ import annotations

import math

from explainr.report import _page, figures
from explainr.report._contents import Contents
from explainr.report._page import esc
from explainr.report.sections._common import Figures, Section, paragraph, section

METRIC_HELP = {
    "completeness": "|sum of attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)|: "
    "how much of the prediction change the attributions account for (0 is exact).",
    "surrogate_r2": "LIME is not additive, so its values need not sum to f(x) − f(baseline); "
    "what it promises is a local linear surrogate, and this is that surrogate's weighted R² "
    "on its perturbed samples (1 is a perfect fit), as lime reports it.",
    "deletion_auc": "area under f as the most-attributed cells are replaced by the baseline "
    "first: lower means the method found what the prediction needs.",
    "insertion_auc": "area under f as the most-attributed cells are put back into the baseline "
    "first: higher means the method found what the prediction needs.",
}
METRIC_TITLES = {
    "completeness": "completeness error",
    "surrogate_r2": "surrogate fit R²",
    "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
}


def render(report: Contents, figure: Figures) -> list[Section]:
    return [_metrics_section(report, figure)] if report.attributions else []


def _metrics_section(report: Contents, figure: Figures) -> Section:
    rows: dict[str, dict[str, float]] = {}
    not_additive = set()
    for item in report.attributions:
        own = _own_check(item.attribution, item.sample)
        rows.setdefault(item.attribution.method, {}).update(own)
        if "completeness" not in own:
            not_additive.add(item.attribution.method)
    for method, values in report.metrics.items():
        # A method that is not additive promises no completeness: show what it promises.
        shown = {
            k: v for k, v in values.items() if k != "completeness" or method not in not_additive
        }
        rows.setdefault(method, {}).update(shown)
    names: list[str] = []
    for values in rows.values():
        names += [n for n in values if n not in names]
    header = ["method"] + [_metric_title(n) for n in names]
    table = _page.table(
        header, [[m] + [_fmt(values.get(n)) for n in names] for m, values in rows.items()]
    )
    help_items = "".join(
        f"<dt>{esc(_metric_title(n))}</dt><dd>{esc(_metric_help(n))}</dd>" for n in names
    )
    text = "How faithful each method's attributions are to the model."
    inner = paragraph(text) + table + f"<dl>{help_items}</dl>"
    if report.curves:
        inner += "<h3>Deletion and insertion curves</h3>" + paragraph(
            "The model's output as the cells a method ranks highest are removed first (top) "
            "or put back into the baseline first (bottom). The areas under these curves are "
            "the AUCs above."
        )
        inner += figure(figures.faithfulness_curves(report.curves, report.curves_sample))
    return section("metrics", "Metrics", "Faithfulness metrics", inner)


NOT_ADDITIVE = ("lime", "occlusion")


def _own_check(a, sample: int) -> dict[str, float]:
    """What the method itself promises: completeness when additive, LIME's surrogate fit."""
    r2 = a.settings.get("r2")
    if a.method == "lime" and isinstance(r2, list | tuple) and len(r2) > sample:
        return {"surrogate_r2": float(r2[sample])}
    if a.method in NOT_ADDITIVE or a.partial:
        return {}
    return {"completeness": float(a.completeness_error[sample])}


def _metric_title(name: str) -> str:
    return METRIC_TITLES.get(name, name.replace("_", " "))


def _metric_help(name: str) -> str:
    return METRIC_HELP.get(name, "as computed by the caller.")


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"
