"""How the recurrent units remember over the run: gate timescales and saturation."""

from __future__ import annotations

import numpy as np

from explainr.report import _page
from explainr.report._global_contents import GlobalContents
from explainr.report.figures.global_gates import global_gates
from explainr.report.sections._common import Figures, Section, paragraph, section


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    if not report.gates:
        return []
    steps = len(report.lags)
    rows = []
    for g in report.gates:
        finite = g.timescale[np.isfinite(g.timescale)]
        rows.append(
            [
                g.module,
                g.layer,
                g.gate,
                len(g.mean),
                f"{g.mean.mean():.3f}",
                f"{np.median(g.timescale):.3g}",
                f"{finite.max():.3g}" if finite.size else "—",
                int((g.timescale > steps).sum()),
                f"{np.nanmean(g.saturation):.1%}" if np.isfinite(g.saturation).any() else "—",
            ]
        )
    header = ["module", "layer", "gate", "units", "mean gate", "median timescale",
              "longest finite", f"units > {steps} steps", "mean saturated"]  # fmt: skip
    text = (
        "Per unit, the forget gate (GRU: the update gate, which keeps the old state) "
        "averaged over every window and step. A state kept with factor f per step decays as "
        "f^k, so its memory timescale is −1/ln f steps (infinite when f = 1). Saturated is "
        "the share of gate values below 0.1 or above 0.9. Units whose timescale exceeds the "
        "window length carry information across the whole window."
    )
    html = paragraph(text) + _page.table(header, rows) + figure(global_gates(report.gates))
    return [section("gates", "Gates", "How the units remember", html)]
