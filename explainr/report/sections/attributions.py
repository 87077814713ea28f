"""One section per attribution: heatmap and bars of what the prediction used."""

from __future__ import annotations

from explainr.report import _page, figures
from explainr.report._contents import AttributionItem, Contents
from explainr.report._page import esc
from explainr.report.sections import frames
from explainr.report.sections._common import (
    Figures,
    Section,
    labels_for,
    names_for,
    paragraph,
    section,
    with_labels,
)


def render(report: Contents, figure: Figures) -> list[Section]:
    return [
        _attribution_section(report, item, k, figure)
        for k, item in enumerate(report.attributions)
        if not frames.is_frames(item)  # whole frames are drawn as maps (sections/frames.py)
    ]


def _attribution_section(
    report: Contents,
    item: AttributionItem,
    k: int,
    figure: Figures,
) -> Section:
    a, s = item.attribution, item.sample
    if not a.time_labels:
        labels = labels_for(report, a.values.shape[1], None)
        if labels is not None:
            a = with_labels(a, labels)
    fig = figures.attribution_summary(
        a, s, feature_names=names_for(report, item), unit=report.prediction_unit
    )
    delta = float(a.prediction[s] - a.baseline_prediction[s])
    text = (
        f"Each cell is its share of f(x) − f(baseline) = {delta:.4g} according to "
        f"<b>{esc(a.method)}</b>: red cells pushed the prediction up, blue cells down. "
        "The bars on the right sum each feature over time; the bars below sum each time step "
        "over features."
    )
    if a.values.shape[1] * a.values.shape[2] >= _page.QUANTISE_MIN:
        text += " Heatmap colours and hover values are rounded to 1/255 of its range."
    if a.grouped:
        text += f" Cells were perturbed in groups ({esc(a.group_by)}); a group's value is spread evenly over its cells."
    heading = f"What the prediction used: {esc(a.method)}"
    return section(f"attribution-{k}", a.method, heading, paragraph(text) + figure(fig))
