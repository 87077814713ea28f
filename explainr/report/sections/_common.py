"""What every section shares: the section frame, figures, labels and names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from explainr.report._contents import AttributionItem, Contents
from explainr.report._page import Packer, esc

Section = tuple[tuple[str, str], str]  # ((anchor, nav title), html)

QUANTISED_NOTE = (
    "Heatmap colours and hover values are rounded to 1/255 of each heatmap's range to keep "
    "the file small; <code>explainr.plots</code> draws them at full precision."
)


class Figures:
    """Adds a figure to the packer and returns the ``<div>`` it will be drawn into."""

    def __init__(self, packer: Packer) -> None:
        self.packer = packer

    def __call__(self, fig: Any) -> str:
        div_id = f"fig-{len(self.packer.figures)}"
        self.packer.add(div_id, fig)
        return f'<div class="figure" id="{div_id}"></div>'


def section(anchor: str, nav: str, heading: str, inner: str) -> Section:
    return (anchor, nav), f'<section id="{esc(anchor)}"><h2>{heading}</h2>{inner}</section>'


def paragraph(text: str) -> str:
    return f'<p class="explain">{text}</p>'


def labels_for(report: Contents, steps: int, own: list[str] | None) -> list[str] | None:
    """Time labels for an axis of ``steps`` steps: its own, the report's, an attribution's."""
    candidates = [own, report.time_labels]
    candidates += [i.attribution.time_labels for i in report.attributions]
    if report.input is not None:
        candidates.append(report.input.time_labels)
    for labels in candidates:
        if labels and len(labels) == steps:
            return list(labels)
    return None


def names_for(report: Contents, item: AttributionItem) -> list[str] | None:
    if item.feature_names is not None:
        return item.feature_names
    if item.attribution.feature_names:
        return None
    inp = report.input
    if (
        inp is not None
        and inp.feature_names
        and len(inp.feature_names) == item.attribution.values.shape[2]
    ):
        return inp.feature_names
    return None


def with_labels(a: Any, labels: list[str]) -> Any:
    """A copy of attribution ``a`` with time labels ``labels``."""
    return replace(a, time_labels=labels)
