"""Methods side by side, with their rank agreement."""

from __future__ import annotations

from explainr.report import figures
from explainr.report._contents import AttributionItem, Contents
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
    group = _comparable(report.attributions)
    return [_comparison_section(report, group, figure)] if len(group) >= 2 else []


def _comparable(items: list[AttributionItem]) -> list[AttributionItem]:
    """The attributions that explain the same sample with the same shape as the first."""
    if not items:
        return []
    first = items[0]
    seen, out = set(), []
    for i in items:
        same = (
            i.sample == first.sample
            and i.attribution.values.shape == first.attribution.values.shape
        )
        if same and i.attribution.method not in seen:
            seen.add(i.attribution.method)
            out.append(i)
    return out


def _comparison_section(
    report: Contents,
    group: list[AttributionItem],
    figure: Figures,
) -> Section:
    first = group[0]
    by_method = {}
    for i in group:
        a = i.attribution
        if not a.time_labels:
            labels = labels_for(report, a.values.shape[1], None)
            a = with_labels(a, labels) if labels else a
        by_method[a.method] = a
    agreement = report.agreement
    if agreement is None or agreement.shape != (len(group), len(group)):
        from explainr.metrics import agreement_matrix

        agreement = agreement_matrix([i.attribution for i in group], first.sample)
    fig = figures.method_comparison(
        by_method, first.sample, agreement=agreement, feature_names=names_for(report, first)
    )
    text = (
        "Each method's attributions divided by their total absolute value, so that methods "
        "on different scales line up. Rank agreement is the Spearman correlation of the "
        "absolute attributions (of the groups when both methods share them, else of the "
        "cells): 1 means two methods rank everything alike, 0 means their rankings are "
        "unrelated."
    )
    return section(
        "comparison", "Comparison", "Methods side by side", paragraph(text) + figure(fig)
    )
