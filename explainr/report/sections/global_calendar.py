"""Attribution through calendar time, so that a change of regime shows."""

from __future__ import annotations

from explainr.report._global_contents import GlobalContents
from explainr.report.figures.global_calendar import global_calendar
from explainr.report.sections._common import QUANTISED_NOTE, Figures, Section, paragraph, section
from explainr.report.sections._global_controls import figure_id, selectors

ALL = "all features"


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    cal = report.calendar
    if cal is None:
        return []
    maps = {}
    for m in report.methods:
        maps[(m, ALL)] = cal.total[m]
        for k, j in enumerate(report.top):
            maps[(m, report.features[j])] = cal.by_feature[m][:, :, k]
    fig = global_calendar(maps, cal.labels, report.lags.tolist(), unit=report.prediction_unit)
    div = figure(fig)
    names = [ALL] + [report.features[j] for j in report.top]
    controls = selectors(figure_id(div), [("method", report.methods), ("feature", names)])
    binned = (
        "one column per window"
        if cal.size == 1
        else f"each column averages {cal.size} consecutive windows and is labelled by the "
        "last one's end"
    )
    text = (
        f"Attribution per lag for every window, in calendar order ({binned}). Red raised the "
        "prediction, blue lowered it. A vertical change of pattern is a change of regime: "
        "the model starts using other lags or features. Choose a method, and a feature or "
        f"all features summed (the {len(report.top)} most important features are listed)."
    )
    if len(cal.labels) * len(report.lags) >= 1024:
        text += " " + QUANTISED_NOTE
    return [
        section(
            "calendar", "Through time", "Attribution through time", paragraph(text) + controls + div
        )
    ]
