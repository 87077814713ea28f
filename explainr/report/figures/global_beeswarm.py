"""A beeswarm per feature over a run: each window a point, coloured by its input value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from explainr.report.figures._common import _menu, _style, colorbar_below, esc, f32

LOW_HIGH = [[0.0, "#2166ac"], [0.5, "#d9d9d9"], [1.0, "#b2182b"]]
BINS = 60  # bins along x within which points are stacked


def swarm_offsets(values: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Vertical offsets in ``[-0.4, 0.4]`` that stack points of similar value (deterministic).

    Points are binned along x; within a bin the k-th point (in order) gets offset
    0, +1, -1, +2, -2, ... times a step shared by every bin.

    >>> swarm_offsets(np.array([0.0, 0.0, 0.0, 1.0])).tolist()
    [0.0, 0.4, -0.4, 0.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    width = (hi - lo) / bins if hi > lo else 1.0
    which = np.clip(np.nan_to_num((values - lo) / width).astype(np.int64), 0, bins - 1)
    order = np.lexsort((np.arange(len(values)), which))
    ranked = which[order]
    rank = np.arange(len(values)) - np.searchsorted(ranked, ranked, side="left")
    offset = np.empty(len(values))
    offset[order] = np.where(rank % 2 == 1, (rank + 1) // 2, -(rank // 2))
    top = np.abs(offset).max()
    return offset * (0.4 / top) if top > 0 else offset


def quantiles(values: np.ndarray) -> np.ndarray:
    """Each value's rank within its column scaled to ``0 ... 1`` (colour low to high)."""
    values = np.asarray(values, dtype=np.float64)
    ranks = np.argsort(np.argsort(values, axis=0, kind="stable"), axis=0, kind="stable")
    return ranks / max(len(values) - 1, 1)


def global_beeswarm(
    values: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    features: Sequence[str],
    labels: Sequence[str],
    *,
    unit: str | None = None,
) -> go.Figure:
    """Each window's total attribution per feature, stacked into a swarm per feature.

    Args:
        values: per method, ``(points, feature)`` attribution of each drawn window summed
            over lags.
        inputs: ``(points, feature)`` the input value each point is coloured by.
        features: ``(feature,)`` names, most important first (drawn top to bottom).
        labels: ``(points,)`` window end of each point, for the hover.
        unit: the prediction's unit, for the x axis.

    Returns:
        A scatter figure, one trace per feature and method, a method dropdown when there
        are several. Colour is the input's rank within its feature (blue low, red high).
    """
    fig = go.Figure()
    colors = f32(quantiles(inputs))
    names = [esc(f) for f in features]
    text = [esc(t) for t in labels]
    methods = list(values)
    for k, v in enumerate(values.values()):
        for j, name in enumerate(names):
            fig.add_trace(
                go.Scatter(
                    x=f32(v[:, j]),
                    y=f32(j + swarm_offsets(v[:, j])),
                    mode="markers",
                    marker={
                        "color": colors[:, j],
                        "colorscale": LOW_HIGH,
                        "cmin": 0.0,
                        "cmax": 1.0,
                        "size": 4,
                        "opacity": 0.8,
                        "showscale": j == 0,
                        **({"colorbar": _bar()} if j == 0 else {}),
                    },
                    text=text,
                    customdata=f32(inputs[:, j]),
                    name=name,
                    hovertemplate=(
                        f"{name} · %{{text}}<br>attribution %{{x:.4g}}"
                        "<br>input %{customdata:.4g}<extra></extra>"
                    ),
                    visible=k == 0,
                )
            )
    if len(methods) > 1:
        count = len(names)
        masks = [
            [t // count == k for t in range(count * len(methods))] for k in range(len(methods))
        ]
        fig.update_layout(
            updatemenus=_menu([esc(m) for m in methods], masks, [_title(m) for m in methods])
        )
    fig.update_yaxes(
        tickvals=list(range(len(names))),
        ticktext=names,
        autorange="reversed",
        automargin=True,
        zeroline=False,
    )
    unit_text = f" ({esc(unit)})" if unit else ""
    fig.update_xaxes(title_text=f"attribution summed over lags{unit_text}", zeroline=True)
    fig.update_layout(showlegend=False)
    return _style(fig, _title(methods[0]), 300 + 34 * len(names))


def _bar() -> dict:
    bar = colorbar_below("input value within its feature")
    bar["tickvals"], bar["ticktext"] = [0.0, 1.0], ["low", "high"]
    return bar


def _title(method: str) -> str:
    return f"{esc(method)}: each window's attribution per feature"
