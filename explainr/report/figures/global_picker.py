"""The local view of picked windows: the input and each method's attribution, one window
at a time (a dropdown, which the page's window list also drives)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr.report._global_contents import Pick
from explainr.report.figures._common import DIVERGING, _menu, _style, colorbar_below, esc, f32
from explainr.report.figures.global_importance import lag_axis

INPUT_COLORS = [[0.0, "#762a83"], [0.5, "#f7f7f7"], [1.0, "#1b7837"]]


def window_views(
    picks: Sequence[Pick],
    lags: Sequence[int],
    features: Sequence[str],
    methods: Sequence[str],
    *,
    x_mean: np.ndarray,
    x_std: np.ndarray,
    unit: str | None = None,
) -> go.Figure:
    """Per picked window, its input and every method's attribution as lag x feature heatmaps.

    Args:
        picks: the windows, each with ``x`` and ``values[method]`` of shape ``(lag, feature)``.
        lags: ``(lag,)`` lag of each row (0 = the last input step).
        features: ``(feature,)`` names.
        methods: the methods, one row of the figure each (under the input's row).
        x_mean: ``(feature,)`` the run's mean input, to standardise the input row.
        x_std: ``(feature,)`` the run's input standard deviation.
        unit: the prediction's unit, for the colour bar.

    Returns:
        ``1 + len(methods)`` rows sharing the lag axis; traces ``(1 + len(methods)) * k ...``
        belong to pick ``k``; a dropdown chooses the window.
    """
    rows = 1 + len(methods)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.22 / rows,
        subplot_titles=[
            "input (standardised per feature)",
            *[f"{esc(m)}: attribution" for m in methods],
        ],
    )
    names = [esc(f) for f in features]
    scale = np.where(np.asarray(x_std) > 0, x_std, 1.0)
    bar = f"attribution{f' ({esc(unit)})' if unit else ''}"
    for k, pick in enumerate(picks):
        z = (pick.x - x_mean) / scale
        fig.add_trace(
            go.Heatmap(
                z=f32(z).T,
                x=list(lags),
                y=names,
                zmid=0.0,
                colorscale=INPUT_COLORS,
                showscale=False,
                customdata=f32(pick.x).T,
                hovertemplate="%{y}<br>lag %{x}<br>input %{customdata:.4g}"
                "<br>%{z:.2f} sd from the mean<extra></extra>",
                visible=k == 0,
                name="input",
            ),
            row=1,
            col=1,
        )
        stacked = np.stack([pick.values[m] for m in methods])
        bound = float(np.abs(stacked).max()) or 1.0
        for r, method in enumerate(methods):
            fig.add_trace(
                go.Heatmap(
                    z=f32(pick.values[method]).T,
                    x=list(lags),
                    y=names,
                    zmin=-bound,
                    zmax=bound,
                    zmid=0.0,
                    colorscale=DIVERGING,
                    showscale=r == 0,
                    **({"colorbar": colorbar_below(bar)} if r == 0 else {}),
                    hovertemplate="%{y}<br>lag %{x}<br>attribution = %{z:.4g}<extra></extra>",
                    visible=k == 0,
                    name=method,
                ),
                row=2 + r,
                col=1,
            )
    if len(picks) > 1:
        masks = [[t // rows == k for t in range(rows * len(picks))] for k in range(len(picks))]
        labels = [esc(p.label) for p in picks]
        fig.update_layout(updatemenus=_menu(labels, masks, [title(p) for p in picks]))
    fig.update_xaxes(**lag_axis(), row=rows, col=1)
    fig.update_xaxes(autorange="reversed")
    fig.update_yaxes(automargin=True, autorange="reversed")
    height = 140 + rows * (90 + 15 * len(names))
    return _style(fig, title(picks[0]), height)


def title(pick: Pick) -> str:
    """The local view's title for one picked window."""
    return f"window ending {esc(pick.label)}: prediction {pick.prediction:.4g}"
