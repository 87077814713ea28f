"""Agreement between methods through a run: per-window rank agreement over calendar time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from explainr.report.figures._common import _style, esc, f32


def global_agreement(agreement: np.ndarray, labels: Sequence[str], *, size: int = 1) -> go.Figure:
    """The methods' rank agreement per window, averaged over bins of consecutive windows.

    Args:
        agreement: ``(bins,)`` mean Spearman correlation of the methods' absolute
            attributions (averaged over pairs of methods and the windows of each bin).
        labels: ``(bins,)`` window end of each bin (its last window).
        size: windows per bin, for the hover.

    Returns:
        A line figure on a -1 ... 1 axis.
    """
    per = f" (mean of {size} windows)" if size > 1 else ""
    fig = go.Figure(
        go.Scatter(
            x=[esc(t) for t in labels],
            y=f32(agreement),
            mode="lines",
            line={"color": "#2f6fb3", "width": 1.5},
            name="rank agreement",
            hovertemplate=f"windows ending by %{{x}}<br>rank agreement %{{y:.3f}}{per}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="rank agreement", range=[-1.05, 1.05], zeroline=True)
    fig.update_xaxes(title_text="window end", nticks=8)
    return _style(fig, "Rank agreement of the methods through time", 320)
