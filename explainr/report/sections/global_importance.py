"""What the model relies on over the whole run: mean |attribution| per feature and lag."""

from __future__ import annotations

from explainr.report._global_contents import GlobalContents
from explainr.report.figures.global_importance import global_importance
from explainr.report.sections._common import QUANTISED_NOTE, Figures, Section, paragraph, section


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    if not report.importance:
        return []
    fig = global_importance(
        report.importance, report.lags.tolist(), report.features, unit=report.prediction_unit
    )
    text = (
        f"Each cell is the attribution's absolute value at that feature and lag, averaged "
        f"over all {report.done:,} windows: where the model looks, whatever the sign. Lag 0 "
        "is the last input step before the prediction. The bars sum each feature over lags."
    )
    if len(report.lags) * len(report.features) >= 1024:
        text += " " + QUANTISED_NOTE
    return [
        section(
            "importance", "Importance", "What the model relies on", paragraph(text) + figure(fig)
        )
    ]
