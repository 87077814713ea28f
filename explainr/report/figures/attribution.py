"""Figures of what the prediction used: heatmaps, bars, the input under its attribution,
the comparison of methods."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr._core.errors import ExplainrError
from explainr.attribution import Attribution
from explainr.report.figures import arrays as _arrays
from explainr.report.figures._common import (
    COLORS as _COLORS,
)
from explainr.report.figures._common import (
    DIVERGING,
    _labels,
    _menu,
    _style,
    colorbar_below,
    esc,
)
from explainr.report.figures._common import (
    f32 as _f32,
)


def _one(a: Attribution, sample: int, feature_names: Sequence[str] | None) -> tuple:
    """One sample's ``(time, feature)`` values with escaped feature names and time labels."""
    _arrays.check_sample(sample, a.values.shape[0])
    values = _f32(a.values[sample])
    names = list(feature_names or a.feature_names or [f"x{j}" for j in range(values.shape[1])])
    if len(names) != values.shape[1]:
        raise ExplainrError(f"got {len(names)} feature names for {values.shape[1]} features")
    return values, [esc(n) for n in names], _labels(a.time_labels, values.shape[0])


def _symmetric(values: np.ndarray) -> float:
    top = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return top if top > 0 else 1.0


def attribution_heatmap(
    a: Attribution,
    sample: int = 0,
    *,
    feature_names: Sequence[str] | None = None,
    unit: str | None = None,
) -> go.Figure:
    """Time x feature heatmap of one sample's attribution, diverging colours centred on 0.

    Args:
        a: an attribution with ``values`` of shape ``(batch, time, feature)``.
        sample: batch index to show.
        feature_names: ``(feature,)`` names; default ``a.feature_names``.
        unit: the unit of the prediction (and so of attributions), for the colour bar.

    Returns:
        A one-heatmap figure; red cells pushed the prediction up, blue cells down.
    """
    fig = go.Figure(_heatmap(a, sample, feature_names, unit))
    fig.update_xaxes(title_text="time")
    return _style(fig, f"{esc(a.method)}: attribution per time step and feature", 380)


def _heatmap(
    a: Attribution, sample: int, feature_names: Sequence[str] | None, unit: str | None = None
) -> go.Heatmap:
    values, names, x = _one(a, sample, feature_names)
    bound = _symmetric(values)
    return go.Heatmap(
        z=values.T,
        x=x,
        y=names,
        zmin=-bound,
        zmax=bound,
        zmid=0.0,
        colorscale=DIVERGING,
        colorbar=colorbar_below(f"attribution{_in(unit)}"),
        hovertemplate="%{y}<br>%{x}<br>attribution = %{z:.4g}<extra></extra>",
    )


def attribution_summary(
    a: Attribution,
    sample: int = 0,
    *,
    feature_names: Sequence[str] | None = None,
    unit: str | None = None,
) -> go.Figure:
    """Heatmap with per-feature bars beside it and per-time bars below, for one method.

    Args:
        a: an attribution with ``values`` of shape ``(batch, time, feature)``.
        sample: batch index to show.
        feature_names: ``(feature,)`` names; default ``a.feature_names``.
        unit: the unit of the prediction (and so of attributions), for the colour bar.

    Returns:
        A 2 x 2 subplot figure: time x feature heatmap, per-feature totals (summed over
        time), per-time totals (summed over features).
    """
    values, names, x = _one(a, sample, feature_names)
    fig = make_subplots(
        rows=2,
        cols=2,
        shared_xaxes="columns",
        shared_yaxes="rows",
        column_widths=[0.8, 0.2],
        row_heights=[0.68, 0.32],
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
    )
    fig.add_trace(_heatmap(a, sample, feature_names, unit), row=1, col=1)
    by_feature, by_time = values.sum(axis=0), values.sum(axis=1)
    fig.add_trace(
        go.Bar(
            x=by_feature,
            y=names,
            orientation="h",
            marker=_signs(by_feature),
            name="per feature",
            hovertemplate="%{y}<br>total = %{x:.4g}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=by_time,
            marker=_signs(by_time),
            name="per time step",
            hovertemplate="%{x}<br>total = %{y:.4g}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(title_text="time", row=2, col=1)
    # The bars beside share the x axis of an empty cell below: give them their own ticks.
    fig.update_xaxes(title_text="sum over time", showticklabels=True, nticks=3, row=1, col=2)
    fig.update_yaxes(title_text="sum over features", row=2, col=1)
    fig.update_layout(showlegend=False)
    height = 420 + 14 * max(0, len(names) - 10)
    return _style(fig, f"{esc(a.method)}: what the prediction used", height)


def _signs(values: np.ndarray) -> dict:
    """Bar colours by sign: red raised the prediction, blue lowered it.

    Colour strings rather than numbers on a colour scale: plotly.js 4 logs a warning per
    bar for numeric bar colours.
    """
    return {"color": ["#b2182b" if v >= 0 else "#2166ac" for v in np.asarray(values)]}


def input_attribution(
    x: np.ndarray,
    attributions: Attribution | Mapping[str, Attribution],
    sample: int = 0,
    *,
    feature_names: Sequence[str] | None = None,
    time_labels: Sequence[object] | None = None,
    units: str | Mapping[str, str] | None = None,
    max_features: int | None = None,
    unit: str | None = None,
) -> go.Figure:
    """The input series with each point coloured by its attribution, one method at a time.

    Args:
        x: ``(time, feature)`` input window, ideally in original units (before scaling).
        attributions: one attribution, or several by method name (a dropdown picks one);
            ``values`` are ``(batch, time, feature)``.
        sample: batch index of the attributions that ``x`` belongs to.
        feature_names: ``(feature,)`` names; default the first attribution's.
        time_labels: ``(time,)`` x-axis labels; default the first attribution's.
        units: the input's unit for every feature (e.g. ``"°C"``), or a unit per feature
            name; shown in each panel's title.
        max_features: draw only this many features, the most attributed first; default
            all (:func:`hidden_features` names the ones left out).
        unit: the unit of the prediction (and so of attributions), for the colour bar.

    Returns:
        A figure with one row per feature (its own y axis, so features of different
        scales stay readable), markers coloured by attribution (red raised the prediction,
        blue lowered it), and a last row of per-step totals over features.
    """
    if isinstance(attributions, Attribution):
        attributions = {attributions.method: attributions}
    first = next(iter(attributions.values()))
    x = _f32(x)
    labels = time_labels if time_labels is not None else first.time_labels
    _, names, _ = _one(first, sample, feature_names)
    if x.shape != first.values.shape[1:]:
        raise ExplainrError(
            f"x has shape {x.shape}; expected (time, feature) = {first.values.shape[1:]}"
        )
    t = _labels(labels, x.shape[0])
    keep = _arrays.shown_features(first.values[sample], max_features)
    rows = len(keep) + 1
    height = (150 if len(keep) <= 3 else 110) * len(keep) + 230
    units_of = [_unit_of(units, html.unescape(names[j])) for j in keep]
    panel_titles = [f"{names[j]}{_in(short_unit(u))}" for j, u in zip(keep, units_of, strict=True)]
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.12, 30 / max(height - 160, 1)),
        row_heights=[1.0] * len(keep) + [0.8],
        subplot_titles=[*panel_titles, f"attribution summed over features{_in(unit)}"],
    )
    # Panel titles on the left above each panel: a rotated y title would not fit units.
    fig.update_annotations(x=0.0, xanchor="left", font={"size": 12})
    groups = []
    for slot, a in enumerate(attributions.values()):
        values = _f32(a.values[sample])
        bound = _symmetric(values)
        for row, (j, u) in enumerate(zip(keep, units_of, strict=True), start=1):
            line = _input_line(t, x[:, j], values[:, j], names[j], bound, scale=row == 1, unit=u)
            line.visible = slot == 0
            line.marker.colorbar.title.text = f"attribution{_in(unit)}"
            fig.add_trace(line, row, 1)
            groups.append(slot)
        by_time = values.sum(axis=1)
        fig.add_trace(
            go.Bar(
                x=t,
                y=by_time,
                marker=_signs(by_time),
                name="attribution per step",
                visible=slot == 0,
                showlegend=False,
                hovertemplate="%{x}<br>attribution (all features) = %{y:.4g}<extra></extra>",
            ),
            rows,
            1,
        )
        groups.append(slot)
    fig.update_xaxes(title_text="time", row=rows, col=1)
    fig.update_yaxes(nticks=4)
    methods = [esc(m) for m in attributions]
    masks = [[g == s for g in groups] for s in range(len(methods))]
    titles = [f"input coloured by {m} attribution" for m in methods]
    fig.update_layout(updatemenus=_menu(methods, masks, titles), showlegend=False, bargap=0.1)
    return _style(fig, titles[0], height)


def short_unit(unit: str | None, limit: int = 20) -> str | None:
    """A unit short enough for a panel title on a phone: up to its first comma if long.

    >>> short_unit("% per quarter, 100 x log-difference of real GDP")
    '% per quarter'
    """
    if unit is None or len(unit) <= limit:
        return unit
    head = unit.split(",")[0].split(" (")[0].strip()
    return head if len(head) <= limit * 2 else head[: limit - 1] + "…"


def _unit_of(units: str | Mapping[str, str] | None, name: str) -> str | None:
    return units.get(name) if isinstance(units, Mapping) else units


def _in(unit: str | None) -> str:
    """`` (unit)`` for a title, escaped, or nothing when the unit is unknown."""
    return f" ({esc(unit)})" if unit else ""


def _input_line(
    t: list,
    y: np.ndarray,
    attribution: np.ndarray,
    name: str,
    bound: float,
    *,
    scale: bool,
    unit: str | None = None,
) -> go.Scatter:
    """One feature's series, each marker coloured by that cell's attribution."""
    return go.Scatter(
        x=t,
        y=y,
        mode="lines+markers",
        name=name,
        line={"color": "#9aa3b0", "width": 1.2},
        marker={
            "color": attribution,
            "colorscale": DIVERGING,
            "cmin": -bound,
            "cmax": bound,
            "size": 7 if len(t) <= 150 else 4,
            "line": {"width": 0.5, "color": "#555"},
            "showscale": scale,
            "colorbar": colorbar_below("attribution"),
        },
        customdata=attribution,
        hovertemplate=(
            f"{name}<br>%{{x}}<br>value = %{{y:.4g}}{' ' + esc(unit) if unit else ''}<br>"
            "attribution = %{customdata:.4g}<extra></extra>"
        ),
    )


def method_comparison(
    attributions: Mapping[str, Attribution],
    sample: int = 0,
    *,
    agreement: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
) -> go.Figure:
    """Methods side by side: per-time and per-feature shares, and their rank agreement.

    Each method's values are divided by their total absolute value, so methods with
    different scales can be compared.

    Args:
        attributions: attributions by method name, all ``(batch, time, feature)`` alike.
        sample: batch index to show.
        agreement: ``(methods, methods)`` rank agreement (e.g. Spearman correlation of
            the cells' absolute values); default none drawn.
        feature_names: ``(feature,)`` names; default the first attribution's.

    Returns:
        A figure with per-time lines (top), per-feature bars (middle) and the
        agreement matrix (bottom), stacked so each is readable on a phone.
    """
    methods = list(attributions)
    first = attributions[methods[0]]
    _, names, x = _one(first, sample, feature_names)
    rows = 3 if agreement is not None else 2
    fig = make_subplots(
        rows=rows,
        cols=1,
        row_heights=[0.8, 1.2, 0.8][:rows],
        vertical_spacing=0.12 if rows == 3 else 0.18,
        subplot_titles=["share per time step", "share per feature", "rank agreement"][:rows],
    )
    for k, m in enumerate(methods):
        values = np.asarray(attributions[m].values[sample], dtype=np.float64)
        share = _f32(values / max(float(np.abs(values).sum()), 1e-12))
        color = _COLORS[k % len(_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=share.sum(axis=1),
                mode="lines",
                name=esc(m),
                legendgroup=esc(m),
                line={"color": color},
                hovertemplate=f"{esc(m)}<br>%{{x}}<br>share = %{{y:.3f}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=share.sum(axis=0),
                y=names,
                orientation="h",
                name=esc(m),
                legendgroup=esc(m),
                showlegend=False,
                marker={"color": color},
                hovertemplate=f"{esc(m)}<br>%{{y}}<br>share = %{{x:.3f}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    if agreement is not None:
        fig.add_trace(
            go.Heatmap(
                z=agreement,
                x=[esc(m) for m in methods],
                y=[esc(m) for m in methods],
                zmin=-1,
                zmax=1,
                colorscale=DIVERGING,
                showscale=False,
                text=np.round(agreement, 2),
                texttemplate="%{text}",
                hovertemplate="%{y} vs %{x}<br>agreement = %{z:.2f}<extra></extra>",
            ),
            row=3,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=3, col=1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(nticks=5, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)  # features top to bottom
    fig.update_xaxes(nticks=5, row=2, col=1)
    return _style(fig, "methods side by side", 560 if rows == 2 else 820)
