"""Figures of frame inputs: attribution maps over the input frames, and gate / state maps.

Every figure takes arrays in and gives a plotly figure out. Maps over time have a slider:
one heatmap per step, the slider shows one at a time, and every step shares one colour
scale (``zmin``/``zmax`` fixed), so colours compare across steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr.report.figures._common import DIVERGING, SEQUENTIAL, TEMPLATE, esc

GAP = np.nan  # between channel tiles of a mosaic


def _slider(labels: Sequence[str], traces_per_step: int, fixed: int = 0) -> dict:
    """A time slider: step t shows traces ``fixed + t*k .. fixed + t*k + k - 1`` (and the
    first ``fixed`` traces always)."""
    steps = []
    total = fixed + len(labels) * traces_per_step
    for t, label in enumerate(labels):
        visible = [True] * fixed + [False] * (total - fixed)
        for j in range(traces_per_step):
            visible[fixed + t * traces_per_step + j] = True
        steps.append({"label": esc(label), "method": "restyle", "args": [{"visible": visible}]})
    return {
        "active": 0,
        "currentvalue": {"prefix": "step: "},
        "pad": {"t": 30},
        "steps": steps,
    }


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def _size(fig: go.Figure, height: int) -> go.Figure:
    if any(isinstance(t, go.Heatmap) for t in fig.data):  # maps: square cells, no grid
        fig.update_xaxes(constrain="domain", showgrid=False, zeroline=False)
        fig.update_yaxes(showgrid=False, zeroline=False)
    fig.update_layout(template=TEMPLATE, height=height, margin={"l": 40, "r": 10, "t": 50, "b": 10})
    return fig


def attribution_frames(
    values: np.ndarray,
    inputs: np.ndarray | None,
    labels: Sequence[str],
    title: str,
    unit: str | None = None,
) -> go.Figure:
    """Attribution maps per input frame beside the frame itself, with a time slider.

    Args:
        values: ``(time, height, width)`` attribution summed over channels.
        inputs: ``(time, height, width)`` the input frames (channel mean), or None.
        labels: ``(time,)`` step labels.
        title: the figure's title.
        unit: the prediction's unit for the colour bar.

    Returns:
        A figure with ``time`` (or ``2 * time``) heatmaps, one step visible.
    """
    steps = len(values)
    limit = _limit(values)
    cols = 2 if inputs is not None else 1
    fig = make_subplots(
        rows=1,
        cols=cols,
        subplot_titles=(["input frame", "attribution"] if cols == 2 else None),
        horizontal_spacing=0.08,
    )
    lo, hi = (float(np.nanmin(inputs)), float(np.nanmax(inputs))) if inputs is not None else (0, 1)
    bar = f"attribution ({esc(unit)})" if unit else "attribution"
    for t in range(steps):
        if inputs is not None:
            fig.add_trace(
                go.Heatmap(
                    z=inputs[t].astype(np.float32),
                    zmin=lo,
                    zmax=hi if hi > lo else lo + 1,
                    colorscale="Greys",
                    showscale=False,
                    visible=t == 0,
                    hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra>input</extra>",
                    name=f"input {t}",
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Heatmap(
                z=values[t].astype(np.float32),
                zmin=-limit,
                zmax=limit,
                colorscale=DIVERGING,
                colorbar={"title": {"text": bar, "side": "right"}, "thickness": 10},
                visible=t == 0,
                hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra>attribution</extra>",
                name=f"attribution {t}",
            ),
            row=1,
            col=cols,
        )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    if cols == 2:
        fig.update_yaxes(autorange="reversed", scaleanchor="x2", row=1, col=2)
    fig.update_layout(title={"text": esc(title)}, sliders=[_slider(labels, cols)])
    return _size(fig, 430)


def time_summed_map(values: np.ndarray, title: str, unit: str | None = None) -> go.Figure:
    """``(height, width)``: the attribution summed over time (and channels)."""
    limit = _limit(values)
    fig = go.Figure(
        go.Heatmap(
            z=values.astype(np.float32),
            zmin=-limit,
            zmax=limit,
            colorscale=DIVERGING,
            colorbar={"title": {"text": esc(unit) if unit else ""}, "thickness": 10},
            hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra>summed over time</extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(title={"text": esc(title)})
    return _size(fig, 360)


def frame_shares(share: np.ndarray, signed: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """Bars: each step's share of the total |attribution|, and its signed sum on hover."""
    fig = go.Figure(
        go.Bar(
            x=[esc(label) for label in labels],
            y=share,
            customdata=signed,
            marker_color=["#b2182b" if s >= 0 else "#2166ac" for s in signed],
            hovertemplate="%{x}: %{y:.1%} of |attribution|, sum %{customdata:.3g}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": "Share of |attribution| per input frame"},
        yaxis={"tickformat": ".0%", "title": {"text": "share"}},
        xaxis={"title": {"text": "step"}, "type": "category"},
    )
    return _size(fig, 280)


def mosaic(maps: np.ndarray) -> np.ndarray:
    """``(channels, height, width)`` -> one 2-D array of channel tiles, NaN between them.

    Tiles fill a grid of ``ceil(sqrt(channels))`` columns, row by row.

    >>> mosaic(np.ones((3, 2, 2))).shape
    (5, 5)
    """
    channels, height, width = maps.shape
    cols = int(np.ceil(np.sqrt(channels)))
    rows = int(np.ceil(channels / cols))
    out = np.full((rows * (height + 1) - 1, cols * (width + 1) - 1), GAP, dtype=np.float32)
    for k in range(channels):
        r, c = divmod(k, cols)
        out[
            r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width
        ] = maps[k]
    return out


def state_maps(maps: np.ndarray, labels: Sequence[str], title: str, *, gate: bool) -> go.Figure:
    """Gate or state maps per channel (a mosaic of channel tiles) with a time slider.

    Args:
        maps: ``(time, channels, height, width)`` for one sample.
        labels: ``(time,)`` step labels.
        title: the figure's title (e.g. "layer 0 · forget gate").
        gate: a sigmoid gate (colours 0..1, sequential) rather than a signed state.

    Returns:
        One heatmap per step; each tile is labelled with its channel.
    """
    steps, channels, height, width = maps.shape
    cols = int(np.ceil(np.sqrt(channels)))
    limit = _limit(maps)
    scale = (
        {"zmin": 0.0, "zmax": 1.0, "colorscale": SEQUENTIAL}
        if gate
        else {"zmin": -limit, "zmax": limit, "colorscale": DIVERGING}
    )
    fig = go.Figure()
    for t in range(steps):
        fig.add_trace(
            go.Heatmap(
                z=mosaic(maps[t]),
                visible=t == 0,
                colorbar={"thickness": 10},
                hovertemplate="%{z:.3g}<extra></extra>",
                name=f"step {t}",
                **scale,
            )
        )
    if channels > 1:
        for k in range(channels):
            r, c = divmod(k, cols)
            fig.add_annotation(
                x=c * (width + 1) - 0.5,
                y=r * (height + 1) - 0.5,
                text=f"ch{k}",
                showarrow=False,
                xanchor="left",
                yanchor="top",
                font={"size": 9, "color": "#444"},
                bgcolor="rgba(255,255,255,0.6)",
            )
    fig.update_yaxes(
        autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title={"text": esc(title)}, sliders=[_slider(labels, 1)])
    return _size(fig, 440)


def pool(maps: np.ndarray, factor: int) -> np.ndarray:
    """``(..., height, width)`` averaged over ``factor x factor`` cells (edges: what is there).

    >>> pool(np.arange(16.0).reshape(4, 4), 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    if factor <= 1:
        return maps
    *lead, height, width = maps.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((*lead, rows * factor, cols * factor), np.nan, dtype=np.float64)
    padded[..., :height, :width] = maps
    blocks = padded.reshape(*lead, rows, factor, cols, factor)
    return np.nanmean(blocks, axis=(-3, -1)).astype(np.float32)
