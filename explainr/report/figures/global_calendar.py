"""Attribution through calendar time: window end x lag, so a change of regime shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from explainr.report.figures._common import DIVERGING, _menu, _style, colorbar_below, esc, f32


def global_calendar(
    maps: Mapping[tuple[str, str], np.ndarray],
    labels: Sequence[str],
    lags: Sequence[int],
    *,
    unit: str | None = None,
    menu: bool = False,
) -> go.Figure:
    """Lag x window-end heatmaps of attribution, one (method, feature) at a time.

    Args:
        maps: per ``(method, what)`` (``what`` a feature name or ``"all features"``),
            ``(bins, lag)`` attribution averaged over the windows of each bin.
        labels: ``(bins,)`` window end of each bin (its last window).
        lags: ``(lag,)`` lag of each column of the maps (0 = the last input step).
        unit: the prediction's unit, for the colour bar.
        menu: draw a dropdown of the entries in the figure; otherwise the entries are
            kept as a hidden menu that controls outside the figure apply (the report's
            method and feature selectors).

    Returns:
        A heatmap per entry with colours centred on 0 (red raised the prediction, blue
        lowered it), lag 0 at the top.
    """
    fig = go.Figure()
    keys = list(maps)
    x = [esc(t) for t in labels]
    bar = f"attribution{f' ({esc(unit)})' if unit else ''}"
    for k, (method, what) in enumerate(keys):
        values = f32(maps[(method, what)])
        finite = values[np.isfinite(values)]
        bound = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        fig.add_trace(
            go.Heatmap(
                z=values.T,
                x=x,
                y=list(lags),
                zmin=-bound,
                zmax=bound,
                zmid=0.0,
                colorscale=DIVERGING,
                colorbar=colorbar_below(bar),
                hovertemplate=(
                    "windows ending by %{x}<br>lag %{y}<br>mean attribution = %{z:.4g}"
                    "<extra></extra>"
                ),
                visible=k == 0,
                name=f"{method} · {what}",
            )
        )
    fig.update_yaxes(title_text="lag", autorange="reversed")
    fig.update_xaxes(title_text="window end", nticks=8)
    if len(keys) < 2:
        return _style(fig, _title(*keys[0]), 400)
    masks = [[t == k for t in range(len(keys))] for k in range(len(keys))]
    labels = [f"{esc(m)} · {esc(w)}" for m, w in keys]
    menus = _menu(labels, masks, [_title(*key) for key in keys])
    if menu:
        fig.update_layout(updatemenus=menus)
        return _style(fig, _title(*keys[0]), 400)
    # Too many entries for a dropdown inside the figure: the page's own <select>s apply
    # these entries (visibility and title); the menu stays hidden and takes no room.
    _style(fig, _title(*keys[0]), 400)
    menus[0]["visible"] = False
    fig.update_layout(updatemenus=menus)
    return fig


def _title(method: str, what: str) -> str:
    return f"{esc(method)} · {esc(what)}: through time"
