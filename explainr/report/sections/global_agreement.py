"""Whether the methods agree over the run: rank agreement per window and overall."""

from __future__ import annotations

from explainr.report import _page
from explainr.report._global_contents import GlobalContents
from explainr.report.figures.global_agreement import global_agreement
from explainr.report.sections._common import Figures, Section, paragraph, section


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    if report.agreement is None or report.global_agreement is None:
        return []
    m = report.methods
    rows = [
        [m[i], m[j], f"{report.agreement[i, j]:.3f}", f"{report.global_agreement[i, j]:.3f}"]
        for i in range(len(m))
        for j in range(i + 1, len(m))
    ]
    header = ["method", "method", "per window, averaged", "of the global importance"]
    text = (
        "Rank agreement is the Spearman correlation of two methods' absolute attributions "
        "over a window's cells (explainr.metrics.rank_agreement): 1 means they rank every "
        "cell alike, 0 unrelated. Per window, averaged over the windows; and of the global "
        "importance maps above."
    )
    html = paragraph(text) + _page.table(header, rows)
    cal = report.calendar
    if cal is not None and cal.agreement is not None:
        html += figure(global_agreement(cal.agreement, cal.labels, size=cal.size))
    return [section("agreement", "Agreement", "Do the methods agree?", html)]
