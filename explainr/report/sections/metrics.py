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
    "deletion_auc": "area under f as the most-attributed cells are replaced by the baseline "
    "first: lower means the method found what the prediction needs.",
    "insertion_auc": "area under f as the most-attributed cells are put back into the baseline "
    "first: higher means the method found what the prediction needs.",
}
METRIC_TITLES = {
    "completeness": "completeness error",
    "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
}


def render(report: Contents, figure: Figures) -> list[Section]:
    return [_metrics_section(report, figure)] if report.attributions else []


def _metrics_section(report: Contents, figure: Figures) -> Section:
    rows: dict[str, dict[str, float]] = {}
    for item in report.attributions:
        a = item.attribution
        rows.setdefault(a.method, {})["completeness"] = float(a.completeness_error[item.sample])
    for method, values in report.metrics.items():
        rows.setdefault(method, {}).update(values)
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
            "The model's output as the cells a method ranks highest are removed first (left) "
            "or put back into the baseline first (right). The areas under these curves are "
            "the AUCs above."
        )
        inner += figure(figures.faithfulness_curves(report.curves, report.curves_sample))
    return section("metrics", "Metrics", "Faithfulness metrics", inner)


def _metric_title(name: str) -> str:
    return METRIC_TITLES.get(name, name.replace("_", " "))


def _metric_help(name: str) -> str:
    return METRIC_HELP.get(name, "as computed by the caller.")


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"
