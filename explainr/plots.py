"""Every figure of the report as a ``plotly.graph_objects.Figure``, for restyling or reuse.

Results in, figures out: each function takes a recorded module (``rec.trace[name]``) or
an :class:`~explainr.Attribution` and only reshapes it. User strings (feature names,
time labels, module and method names) are HTML-escaped, because plotly renders a subset
of HTML in titles, tick labels and hover text.

>>> import torch, explainr
>>> lstm = torch.nn.LSTM(2, 8, batch_first=True)
>>> with explainr.record(lstm) as rec:
...     _ = lstm(torch.randn(1, 20, 2))
>>> fig = explainr.plots.gate_heatmap(rec.trace[""])
>>> len(fig.data)  # one heatmap per gate, layer and direction, picked from a menu
4
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr._errors import ExplainrError
from explainr.attribution._result import Attribution
from explainr.record import ModuleRecord, Trace
from explainr.report import _stats

__all__ = [
    "attribution_heatmap",
    "attribution_summary",
    "faithfulness_curves",
    "gate_heatmap",
    "gate_saturation",
    "input_attribution",
    "method_comparison",
    "state_trajectories",
]

DIVERGING = [
    [0.0, "#2166ac"],
    [0.25, "#92c5de"],
    [0.5, "#f7f7f7"],
    [0.75, "#f4a582"],
    [1.0, "#b2182b"],
]
SEQUENTIAL = "Viridis"
TEMPLATE = "plotly_white"
TANH_GATES = {"cell", "new"}  # candidate gates squashed by tanh, in [-1, 1]
DIRECTIONS = ("forward", "reverse")


def esc(text: object) -> str:
    """``text`` as a string plotly shows literally (``<``, ``>``, ``&`` escaped)."""
    return html.escape(str(text), quote=False)


def _labels(labels: Sequence[object] | None, steps: int, factor: int = 1) -> list[str] | list[int]:
    """Escaped time labels (one per bin of ``factor`` steps), or step numbers.

    Repeated labels get their step number appended: plotly would merge equal categories.
    """
    if labels is None or len(labels) == 0:
        return list(range(0, steps, factor))
    if len(labels) != steps:
        raise ExplainrError(f"got {len(labels)} time labels for {steps} time steps")
    text = [str(x) for x in labels]
    if len(set(text)) < len(text):
        text = [f"{t} ({i})" for i, t in enumerate(text)]
    return [esc(x) for x in _stats.bin_labels(text, factor)]


def _record(record: ModuleRecord | Trace, module: str | None) -> ModuleRecord:
    if isinstance(record, ModuleRecord):
        return record
    names = list(record)
    if module is None and len(names) != 1:
        raise ExplainrError(f"the trace holds modules {names}; pass module=<one of them>")
    return record[module if module is not None else names[0]]


def _slots(record: ModuleRecord) -> list[tuple[int, int]]:
    """Every (layer, direction) pair of a module."""
    return [(la, d) for la in range(record.num_layers) for d in range(record.num_directions)]


def _slot_name(record: ModuleRecord, layer: int, direction: int) -> str:
    name = f"layer {layer}"
    return name + f" · {DIRECTIONS[direction]}" if record.num_directions > 1 else name


def _menu(labels: list[str], masks: list[list[bool]], titles: list[str]) -> list[dict]:
    """A dropdown that shows one group of traces at a time."""
    buttons = [
        {"label": lab, "method": "update", "args": [{"visible": m}, {"title.text": t}]}
        for lab, m, t in zip(labels, masks, titles, strict=True)
    ]
    return [
        {
            "buttons": buttons,
            "direction": "down",
            "showactive": True,
            "x": 0.0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
            "pad": {"r": 4, "t": 4},
        }
    ]


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.5, "xanchor": "center", "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 30, "t": 80, "b": 50},
        hoverlabel={"namelength": -1},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def gate_heatmap(
    record: ModuleRecord | Trace,
    sample: int = 0,
    *,
    module: str | None = None,
    time_labels: Sequence[object] | None = None,
    time_factor: int = 1,
) -> go.Figure:
    """Unit x time heatmaps of every gate, layer and direction, picked from a dropdown.

    Args:
        record: one recorded module (``rec.trace[name]``), or a trace with ``module``.
        sample: batch index to show.
        module: module name when ``record`` is a whole trace of several modules.
        time_labels: ``(time,)`` labels for the x axis (e.g. dates); default step numbers.
        time_factor: average this many consecutive steps per column (for long inputs).

    Returns:
        A figure with one heatmap per (layer, direction, gate); the first is visible.

    >>> import torch, explainr
    >>> gru = torch.nn.GRU(1, 4, num_layers=2, batch_first=True)
    >>> with explainr.record(gru) as rec:
    ...     _ = gru(torch.randn(1, 9, 1))
    >>> len(gate_heatmap(rec.trace[""]).data)
    6
    """
    rec = _record(record, module)
    traces, labels = [], []
    for layer, direction in _slots(rec):
        for gate, values in rec.gates(layer, direction).items():
            z = _stats.bin_time(_stats.unit_matrix(values, sample), time_factor)
            tanh = gate in TANH_GATES
            traces.append(
                go.Heatmap(
                    z=z,
                    x=_labels(time_labels, rec.time_steps, time_factor),
                    y=list(range(z.shape[0])),
                    zmin=-1.0 if tanh else 0.0,
                    zmax=1.0,
                    colorscale=DIVERGING if tanh else SEQUENTIAL,
                    colorbar={"title": {"text": "value"}, "thickness": 12},
                    hovertemplate=f"unit %{{y}}<br>%{{x}}<br>{gate} gate = %{{z:.2f}}<extra></extra>",
                    visible=not traces,
                )
            )
            labels.append(f"{gate} gate · {_slot_name(rec, layer, direction)}")
    if not traces:
        raise ExplainrError(f"no gates were kept for {rec.name!r}; record with gates=None")
    titles = [f"{esc(rec.name or 'model')} · {lab}" for lab in labels]
    masks = [[i == j for j in range(len(traces))] for i in range(len(traces))]
    fig = go.Figure(traces)
    fig.update_layout(updatemenus=_menu(labels, masks, titles))
    fig.update_xaxes(title_text="time")
    fig.update_yaxes(title_text="unit", autorange="reversed")
    return _style(fig, titles[0], 460)


def state_trajectories(
    record: ModuleRecord | Trace,
    sample: int = 0,
    *,
    module: str | None = None,
    units: Sequence[int] | Mapping[tuple[int, int], Sequence[int]] | None = None,
    top: int = 6,
    time_labels: Sequence[object] | None = None,
    time_factor: int = 1,
) -> go.Figure:
    """Cell and hidden state over time of the most active units, one layer at a time.

    Args:
        record: one recorded module, or a trace with ``module``.
        sample: batch index to show.
        module: module name when ``record`` is a whole trace of several modules.
        units: unit indices to draw in every layer, or per ``(layer, direction)`` (e.g.
            the most attributed units of the top layer); where not given, the ``top``
            units whose hidden state varies most over time.
        top: how many units to draw when ``units`` is None.
        time_labels: ``(time,)`` x-axis labels; default step numbers.
        time_factor: average this many consecutive steps per point.

    Returns:
        A figure with a cell-state row (LSTM-like modules) and a hidden-state row.
    """
    rec = _record(record, module)
    states = ["cell", "hidden"] if rec.has_cell and _kept(rec, "cell") else ["hidden"]
    fig = make_subplots(
        rows=len(states),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[f"{s} state" for s in states],
    )
    x = _labels(time_labels, rec.time_steps, time_factor)
    groups: list[int] = []
    labels = []
    for slot, (layer, direction) in enumerate(_slots(rec)):
        matrices = {"hidden": _stats.unit_matrix(rec.hidden(layer, direction), sample)}
        if "cell" in states:
            matrices["cell"] = _stats.unit_matrix(rec.cell(layer, direction), sample)
        chosen = units.get((layer, direction)) if isinstance(units, Mapping) else units
        if chosen is None:
            chosen = _stats.most_active(matrices["hidden"], top)
        for rank, unit in enumerate(chosen):
            for row, state in enumerate(states, start=1):
                values = matrices[state]
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=_stats.bin_time(values[unit], time_factor),
                        mode="lines",
                        name=f"unit {unit}",
                        legendgroup=f"unit {unit}",
                        showlegend=row == 1,
                        line={"color": _COLORS[rank % len(_COLORS)], "width": 1.5},
                        hovertemplate=f"unit {unit}<br>%{{x}}<br>{state} = %{{y:.3f}}<extra></extra>",
                        visible=slot == 0,
                    ),
                    row=row,
                    col=1,
                )
                groups.append(slot)
        labels.append(_slot_name(rec, layer, direction))
    masks = [[g == s for g in groups] for s in range(len(labels))]
    titles = [f"{esc(rec.name or 'model')} · {lab}" for lab in labels]
    fig.update_layout(updatemenus=_menu(labels, masks, titles))
    fig.update_xaxes(title_text="time", row=len(states), col=1)
    return _style(fig, titles[0], 260 * len(states) + 120)


def _kept(rec: ModuleRecord, what: str) -> bool:
    return any(k[0] == what for k in rec.data)


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def gate_saturation(
    record: ModuleRecord | Trace, sample: int | None = None, *, module: str | None = None
) -> go.Figure:
    """Fraction of time each unit's gates are saturated (Karpathy, Johnson & Fei-Fei 2015).

    One marker per unit per sigmoid gate: x is the fraction of steps the gate is below 0.1
    (left-saturated, closed), y the fraction above 0.9 (right-saturated, open). Markers
    near the line x + y = 1 are saturated all the time.

    Args:
        record: one recorded module, or a trace with ``module``.
        sample: batch index, or None to pool every sample of the batch.
        module: module name when ``record`` is a whole trace of several modules.

    Returns:
        A scatter figure with one trace per (layer, direction, gate) and a layer dropdown.
    """
    rec = _record(record, module)
    fig = go.Figure()
    groups, labels = [], []
    for slot, (layer, direction) in enumerate(_slots(rec)):
        for k, (gate, values) in enumerate(rec.gates(layer, direction).items()):
            if gate in TANH_GATES:
                continue
            left, right = _stats.saturation(_stats.unit_matrix(values, sample))
            fig.add_trace(
                go.Scatter(
                    x=left,
                    y=right,
                    mode="markers",
                    name=f"{gate} gate",
                    marker={"color": _COLORS[k % len(_COLORS)], "size": 7, "opacity": 0.75},
                    customdata=np.arange(len(left)),
                    hovertemplate=(
                        f"unit %{{customdata}} · {gate} gate<br>"
                        "left-saturated %{x:.0%}<br>right-saturated %{y:.0%}<extra></extra>"
                    ),
                    visible=slot == 0,
                )
            )
            groups.append(slot)
        labels.append(_slot_name(rec, layer, direction))
    masks = [[g == s for g in groups] for s in range(len(labels))]
    titles = [f"{esc(rec.name or 'model')} · {lab}" for lab in labels]
    fig.add_shape(type="line", x0=0, y0=1, x1=1, y1=0, line={"dash": "dot", "color": "#999"})
    fig.update_layout(updatemenus=_menu(labels, masks, titles))
    fig.update_xaxes(title_text="fraction of time < 0.1 (closed)", range=[-0.03, 1.03])
    fig.update_yaxes(title_text="fraction of time > 0.9 (open)", range=[-0.03, 1.03])
    return _style(fig, titles[0], 460)


def _one(a: Attribution, sample: int, feature_names: Sequence[str] | None) -> tuple:
    """One sample's ``(time, feature)`` values with escaped feature names and time labels."""
    _stats.check_sample(sample, a.values.shape[0])
    values = _f32(a.values[sample])
    names = list(feature_names or a.feature_names or [f"x{j}" for j in range(values.shape[1])])
    if len(names) != values.shape[1]:
        raise ExplainrError(f"got {len(names)} feature names for {values.shape[1]} features")
    return values, [esc(n) for n in names], _labels(a.time_labels, values.shape[0])


def _symmetric(values: np.ndarray) -> float:
    top = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return top if top > 0 else 1.0


def attribution_heatmap(
    a: Attribution, sample: int = 0, *, feature_names: Sequence[str] | None = None
) -> go.Figure:
    """Time x feature heatmap of one sample's attribution, diverging colours centred on 0.

    Args:
        a: an attribution with ``values`` of shape ``(batch, time, feature)``.
        sample: batch index to show.
        feature_names: ``(feature,)`` names; default ``a.feature_names``.

    Returns:
        A one-heatmap figure; red cells pushed the prediction up, blue cells down.
    """
    fig = go.Figure(_heatmap(a, sample, feature_names))
    fig.update_xaxes(title_text="time")
    return _style(fig, f"{esc(a.method)}: attribution per time step and feature", 380)


def _heatmap(a: Attribution, sample: int, feature_names: Sequence[str] | None) -> go.Heatmap:
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
        colorbar={"title": {"text": "attribution"}, "thickness": 12, "len": 0.6, "y": 0.7},
        hovertemplate="%{y}<br>%{x}<br>attribution = %{z:.4g}<extra></extra>",
    )


def attribution_summary(
    a: Attribution, sample: int = 0, *, feature_names: Sequence[str] | None = None
) -> go.Figure:
    """Heatmap with per-feature bars beside it and per-time bars below, for one method.

    Args:
        a: an attribution with ``values`` of shape ``(batch, time, feature)``.
        sample: batch index to show.
        feature_names: ``(feature,)`` names; default ``a.feature_names``.

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
    fig.add_trace(_heatmap(a, sample, feature_names), row=1, col=1)
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
    fig.update_xaxes(title_text="sum over time", row=1, col=2)
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


def _f32(values: np.ndarray) -> np.ndarray:
    """float32 for the figure's JSON: half the bytes, more than a screen's precision."""
    return np.asarray(values, dtype=np.float32)


def input_attribution(
    x: np.ndarray,
    attributions: Attribution | Mapping[str, Attribution],
    sample: int = 0,
    *,
    feature_names: Sequence[str] | None = None,
    time_labels: Sequence[object] | None = None,
    units: str | Mapping[str, str] | None = None,
    max_features: int = 8,
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
            name; shown in the axis titles.
        max_features: draw only this many features, the most attributed first.

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
    keep = np.argsort(-np.abs(first.values[sample]).sum(axis=0), kind="stable")[:max_features]
    rows = len(keep) + 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[1.0] * len(keep) + [0.8],
    )
    groups = []
    for slot, a in enumerate(attributions.values()):
        values = _f32(a.values[sample])
        bound = _symmetric(values)
        for row, j in enumerate(keep, start=1):
            line = _input_line(t, x[:, j], values[:, j], names[j], bound, scale=row == 1)
            line.visible = slot == 0
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
    for row, j in enumerate(keep, start=1):
        unit = units.get(html.unescape(names[j])) if isinstance(units, Mapping) else units
        title = f"{names[j]} ({esc(unit)})" if unit else names[j]
        fig.update_yaxes(title_text=_short(title), row=row, col=1)
    fig.update_yaxes(title_text="sum", row=rows, col=1)
    fig.update_xaxes(title_text="time", row=rows, col=1)
    methods = [esc(m) for m in attributions]
    masks = [[g == s for g in groups] for s in range(len(methods))]
    titles = [f"input coloured by {m} attribution" for m in methods]
    fig.update_layout(updatemenus=_menu(methods, masks, titles), showlegend=False, bargap=0.1)
    return _style(fig, titles[0], (150 if len(keep) <= 3 else 110) * len(keep) + 230)


def _input_line(
    t: list, y: np.ndarray, attribution: np.ndarray, name: str, bound: float, *, scale: bool
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
            "colorbar": {"title": {"text": "attribution"}, "thickness": 12, "len": 0.5, "y": 0.75},
        },
        customdata=attribution,
        hovertemplate=(
            f"{name}<br>%{{x}}<br>value = %{{y:.4g}}<br>"
            "attribution = %{customdata:.4g}<extra></extra>"
        ),
    )


def _short(escaped: str, limit: int = 24) -> str:
    """An escaped axis title cut short enough to fit beside a small panel."""
    text = html.unescape(escaped)
    return escaped if len(text) <= limit else esc(text[: limit - 1] + "…")


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
        A figure with per-time lines (top), per-feature bars (bottom left) and the
        agreement matrix (bottom right).
    """
    methods = list(attributions)
    first = attributions[methods[0]]
    _, names, x = _one(first, sample, feature_names)
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"colspan": 2}, None], [{}, {}]],
        column_widths=[0.58, 0.42],
        row_heights=[0.5, 0.5],
        vertical_spacing=0.16,
        subplot_titles=["share per time step", "share per feature", "rank agreement"],
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
                x=names,
                y=share.sum(axis=0),
                name=esc(m),
                legendgroup=esc(m),
                showlegend=False,
                marker={"color": color},
                hovertemplate=f"{esc(m)}<br>%{{x}}<br>share = %{{y:.3f}}<extra></extra>",
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
            row=2,
            col=2,
        )
        fig.update_yaxes(autorange="reversed", row=2, col=2)
    fig.update_layout(barmode="group")
    return _style(fig, "methods side by side", 640)


def faithfulness_curves(curves: Mapping[str, Mapping[str, Any]], sample: int = 0) -> go.Figure:
    """Deletion and insertion curves of each method, side by side.

    Args:
        curves: per method, ``{"deletion": Curve, "insertion": Curve}`` from
            :func:`explainr.metrics.deletion` / :func:`~explainr.metrics.insertion`
            (``fractions`` ``(steps + 1,)``, ``outputs`` ``(batch, steps + 1)``).
        sample: batch index to show.

    Returns:
        A two-panel figure: the model's output as the most-attributed cells are removed
        (left; a faithful method drops fast) or inserted into the baseline (right; a
        faithful method rises fast). Dotted lines mark f(x) and f(baseline).
    """
    kinds = ("deletion", "insertion")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=["deletion (lower is better)", "insertion (higher is better)"],
    )
    reference = None
    for k, (method, pair) in enumerate(curves.items()):
        for col, kind in enumerate(kinds, start=1):
            curve = pair.get(kind)
            if curve is None:
                continue
            _stats.check_sample(sample, len(curve.outputs))
            reference = curve
            fig.add_trace(
                go.Scatter(
                    x=_f32(curve.fractions),
                    y=_f32(curve.outputs[sample]),
                    mode="lines+markers",
                    name=esc(method),
                    legendgroup=esc(method),
                    showlegend=col == 1,
                    line={"color": _COLORS[k % len(_COLORS)]},
                    marker={"size": 4},
                    hovertemplate=(
                        f"{esc(method)} · {kind}<br>%{{x:.0%}} of cells<br>"
                        f"output = %{{y:.4g}}<br>AUC = {float(curve.auc[sample]):.4g}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
    if reference is not None:
        for value, label in (
            (reference.prediction[sample], "f(x)"),
            (reference.baseline_prediction[sample], "f(baseline)"),
        ):
            fig.add_hline(
                y=float(value),
                line={"dash": "dot", "color": "#888"},
                annotation_text=label,
                annotation_position="top left",
            )
    fig.update_xaxes(title_text="share of cells removed", tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="share of cells inserted", tickformat=".0%", row=1, col=2)
    fig.update_yaxes(title_text="model output", row=1, col=1)
    return _style(fig, "faithfulness curves", 400)
