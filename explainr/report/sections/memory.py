"""How far back the model looks: forget-gate timescales per unit and the share per lag."""

from __future__ import annotations

from explainr.report._contents import Contents
from explainr.report._page import esc
from explainr.report.sections._common import Figures, Section, paragraph, section


def render(report: Contents, figure: Figures) -> list[Section]:
    m = report.memory
    if m is None:
        return []
    from explainr.report.figures.memory import lag_share_figure, timescale_figure

    gate = esc(m.gate)
    text = (
        f"Per unit, the timescale −1/ln f̄ of its mean {gate} gate f̄ over the windows: how many "
        "steps it takes for the unit to keep 1/e of what it holds (long bars are long "
        "memory). Below, the share of the prediction (the absolute contextual decomposition, "
        "summed per input step) that comes from inputs that many steps before the end of "
        "the window; the shares sum to 1."
    )
    inner = paragraph(text) + figure(timescale_figure(m)) + figure(lag_share_figure(m))
    heading = f"Memory: {esc(m.module or 'model')}"
    return [section("memory", "Memory", heading, inner)]
