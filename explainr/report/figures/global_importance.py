"""Global importance over a whole run: mean |attribution| per feature and lag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr.report.figures._common import SEQUENTIAL, _menu, _style, colorbar_below, esc, f32


def lag_axis() -> dict:
    """The lag axis: lag 0 (the last input step) on the right, so time runs left to right."""
    return {"title_text": "lag (0 = last input step)", "autorange": "reversed"}


def global_importance(
    importance: Mapping[str, np.ndarray],
    lags: Sequence[int],
    features: Sequence[str],
    *,
    unit: str | None = None,
) -> go.Figure:
    """Feature x lag heatmap of mean |attribution| over a run's windows, one method at a time.

    Args:
        importance: per method, ``(lag, feature)`` mean absolute attribution.
        lags: ``(lag,)`` lag of each row (``T-1 ... 0``; 0 = the last input step).
        features: ``(feature,)`` names.
        unit: the prediction's unit, for the colour bar.

    Returns:
        A heatmap with bars beside it (each feature's mean |attribution| summed over
        lags), and a method dropdown when there are several.
    """
    names = [esc(f) for f in features]
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, column_widths=[0.78, 0.22], horizontal_spacing=0.02
    )
    methods = list(importance)
    for k, (method, values) in enumerate(importance.items()):
        values = f32(values)
        fig.add_trace(
            go.Heatmap(
                z=values.T,
                x=list(lags),
                y=names,
                zmin=0.0,
                colorscale=SEQUENTIAL,
                colorbar=colorbar_below(f"mean |attribution|{_in(unit)}"),
                hovertemplate="%{y}<br>lag %{x}<br>mean |attribution| = %{z:.4g}<extra></extra>",
                visible=k == 0,
                name=method,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=values.sum(axis=0),
                y=names,
                orientation="h",
                marker={"color": "#2f6fb3"},
                hovertemplate="%{y}<br>summed over lags = %{x:.4g}<extra></extra>",
                visible=k == 0,
                name=method,
            ),
            row=1,
            col=2,
        )
    if len(methods) > 1:
        masks = [[t // 2 == k for t in range(2 * len(methods))] for k in range(len(methods))]
        titles = [_title(m) for m in methods]
        fig.update_layout(updatemenus=_menu([esc(m) for m in methods], masks, titles))
    fig.update_xaxes(**lag_axis(), row=1, col=1)
    fig.update_xaxes(title_text="total", nticks=3, row=1, col=2)
    fig.update_yaxes(automargin=True, autorange="reversed", row=1, col=1)
    fig.update_layout(showlegend=False)
    height = 380 + 16 * max(0, len(names) - 10)
    return _style(fig, _title(methods[0]), height)


def _title(method: str) -> str:
    return f"{esc(method)}: mean |attribution| per feature and lag"


def _in(unit: str | None) -> str:
    return f" ({esc(unit)})" if unit else ""
