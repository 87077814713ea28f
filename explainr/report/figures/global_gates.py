"""Gate statistics over a run, per unit: memory timescale and saturation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr.report._global_contents import Gates
from explainr.report.figures._common import _menu, _style, esc, f32


def global_gates(gates: Sequence[Gates]) -> go.Figure:
    """Per unit of each recurrent layer: its timescale ``-1 / ln f`` and its saturation.

    Args:
        gates: per module and layer, the mean forget (GRU: update) gate, its timescale in
            steps and the share of saturated gate values, each ``(unit,)``.

    Returns:
        Two rows of bars sharing the unit axis (timescale on a log axis; units whose mean
        gate is 1 have an infinite timescale and no bar), a layer dropdown when several.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12)
    for k, g in enumerate(gates):
        units = np.arange(len(g.mean))
        finite = np.where(np.isfinite(g.timescale), g.timescale, np.nan)
        hover = np.stack([g.mean, g.saturation], axis=1)
        common = {"customdata": f32(hover), "visible": k == 0, "x": units}
        fig.add_trace(
            go.Bar(
                y=f32(finite),
                marker={"color": "#2f6fb3"},
                name="timescale",
                hovertemplate=(
                    f"unit %{{x}}<br>timescale %{{y:.3g}} steps<br>mean {g.gate} gate "
                    "%{customdata[0]:.3f}<extra></extra>"
                ),
                **common,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                y=f32(g.saturation),
                marker={"color": "#e08214"},
                name="saturated",
                hovertemplate="unit %{x}<br>saturated %{y:.1%}<extra></extra>",
                **common,
            ),
            row=2,
            col=1,
        )
    if len(gates) > 1:
        masks = [[t // 2 == k for t in range(2 * len(gates))] for k in range(len(gates))]
        fig.update_layout(
            updatemenus=_menu([_name(g) for g in gates], masks, [_title(g) for g in gates])
        )
    fig.update_yaxes(title_text="timescale (steps)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="share saturated", range=[0, 1], tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="unit", row=2, col=1)
    fig.update_yaxes(automargin=True)
    fig.update_layout(showlegend=False, bargap=0.15)
    return _style(fig, _title(gates[0]), 460)


def _name(g: Gates) -> str:
    return f"{esc(g.module)} · layer {g.layer}"


def _title(g: Gates) -> str:
    return f"{_name(g)}: {esc(g.gate)} gate timescale and saturation per unit"
