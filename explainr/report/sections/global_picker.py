"""The window picker: the most interesting windows, each opening its local view."""

from __future__ import annotations

from explainr.report._global_contents import GlobalContents, Pick
from explainr.report._page import esc
from explainr.report.figures.global_picker import window_views
from explainr.report.sections._common import Figures, Section, paragraph, section
from explainr.report.sections._global_controls import figure_id


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    if not report.picks or report.x_mean is None or report.x_std is None:
        return []
    fig = window_views(
        report.picks,
        report.lags.tolist(),
        report.features,
        report.methods,
        x_mean=report.x_mean,
        x_std=report.x_std,
        unit=report.prediction_unit,
    )
    div = figure(fig)
    fig_id = figure_id(div)
    text = (
        f"The {len(report.picks)} windows worth a closer look: the largest predictions"
        + (", the largest errors against the actual values" if report.error else "")
        + (
            ", where the methods disagree most (lowest rank agreement)"
            if len(report.methods) > 1
            else ""
        )
        + ". Choose one to see its input (standardised per feature over the run: purple "
        "below the mean, green above) and every method's attribution (red raised the "
        "prediction, blue lowered it; one colour scale for all methods). Only these "
        "windows are stored in the page; any other window is in the run's store."
    )
    return [
        section(
            "picker",
            "Windows",
            "Windows worth a look",
            paragraph(text) + _list(report, fig_id) + div,
        )
    ]


def _list(report: GlobalContents, fig_id: str) -> str:
    has_actual = any(p.actual is not None for p in report.picks)
    has_dis = any(p.disagreement is not None for p in report.picks)
    head = ["", "window end", "why", "prediction"]
    head += ["actual", "error"] if has_actual else []
    head += ["disagreement"] if has_dis else []
    rows = "".join(_row(k, p, has_actual, has_dis) for k, p in enumerate(report.picks))
    cells = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f'<div class="scroll picker" data-explainr-figure="{esc(fig_id)}"><table>'
        f"<thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _row(k: int, p: Pick, has_actual: bool, has_dis: bool) -> str:
    pressed = "true" if k == 0 else "false"
    cells = [
        f'<button type="button" data-explainr-pick="{k}" aria-pressed="{pressed}">show</button>',
        esc(p.label),
        esc(", ".join(p.reasons)),
        f"{p.prediction:.4g}",
    ]
    if has_actual:
        cells += (
            ["—", "—"]
            if p.actual is None
            else [f"{p.actual:.4g}", f"{p.prediction - p.actual:+.4g}"]
        )
    if has_dis:
        cells.append("—" if p.disagreement is None else f"{p.disagreement:.3f}")
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
