"""Figures of what happened inside: gate heatmaps, state trajectories, gate saturation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr._core.errors import ExplainrError
from explainr.record import ModuleRecord, Trace
from explainr.report.figures import arrays as _arrays
from explainr.report.figures._common import (
    COLORS as _COLORS,
)
from explainr.report.figures._common import (
    DIVERGING,
    SEQUENTIAL,
    _labels,
    _menu,
    _slot_name,
    _slots,
    _style,
    colorbar_below,
    esc,
    module_record,
)


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
        A figure with one heatmap per (layer, direction, gate); the first is visible. Each
        heatmap's colours span its own data range (symmetric about 0 for tanh gates), so
        that a gate that stays within 0.2 to 0.7 still shows its variation; the colour bar
        states that range and the gate's full scale.

    >>> import torch, explainr
    >>> gru = torch.nn.GRU(1, 4, num_layers=2, batch_first=True)
    >>> with explainr.record(gru) as rec:
    ...     _ = gru(torch.randn(1, 9, 1))
    >>> len(gate_heatmap(rec.trace[""]).data)
    6
    """
    rec = module_record(record, module)
    traces, labels = [], []
    for layer, direction in _slots(rec):
        for gate, values in rec.gates(layer, direction).items():
            z = _arrays.bin_time(_arrays.unit_matrix(values, sample), time_factor)
            tanh = rec.cell_kind.is_tanh(gate)
            lo, hi = _data_range(z, tanh)
            traces.append(
                go.Heatmap(
                    z=z,
                    x=_labels(time_labels, rec.time_steps, time_factor),
                    y=list(range(z.shape[0])),
                    zmin=lo,
                    zmax=hi,
                    colorscale=DIVERGING if tanh else SEQUENTIAL,
                    colorbar=colorbar_below(
                        f"{gate} gate: {lo:.2f} to {hi:.2f} (full scale {_SCALE[tanh]})"
                    ),
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


_SCALE = {False: "0 to 1", True: "−1 to 1"}


def _data_range(z: np.ndarray, tanh: bool) -> tuple[float, float]:
    """The colour range of one gate heatmap: its data's, symmetric about 0 for tanh."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return (-1.0, 1.0) if tanh else (0.0, 1.0)
    if tanh:
        top = max(float(np.abs(finite).max()), 1e-6)
        return -top, top
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.01, hi + 0.01)


def gate_distributions(
    record: ModuleRecord | Trace, sample: int | None = None, *, module: str | None = None
) -> go.Figure:
    """How each gate's values spread, per layer: one box per gate and layer.

    The boxes are drawn from five numbers (min, quartiles, max) per gate, so the figure
    stays small however long the input; a gate that never saturates shows as a box well
    inside 0 to 1.

    Args:
        record: one recorded module, or a trace with ``module``.
        sample: batch index, or None to pool every sample of the batch.
        module: module name when ``record`` is a whole trace of several modules.

    Returns:
        A figure with one box trace per (layer, direction): gates along x, values along y.

    >>> import torch, explainr
    >>> lstm = torch.nn.LSTM(1, 4, num_layers=2, batch_first=True)
    >>> with explainr.record(lstm) as rec:
    ...     _ = lstm(torch.randn(2, 9, 1))
    >>> len(gate_distributions(rec.trace[""]).data)
    2
    """
    rec = module_record(record, module)
    fig = go.Figure()
    for slot, (layer, direction) in enumerate(_slots(rec)):
        gates = rec.gates(layer, direction)
        if not gates:
            continue
        stats = [_arrays.spread(_arrays.unit_matrix(v, sample)) for v in gates.values()]
        name = _slot_name(rec, layer, direction)
        fig.add_trace(
            go.Box(
                x=[f"{g} gate" for g in gates],
                name=name,
                marker={"color": _COLORS[slot % len(_COLORS)]},
                boxmean=True,
                **{k: [st[k] for st in stats] for k in _BOX_KEYS},
                hoverinfo="x+y+name",
            )
        )
    if not fig.data:
        raise ExplainrError(f"no gates were kept for {rec.name!r}; record with gates=None")
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title_text="gate value", nticks=6)
    title = f"{esc(rec.name or 'model')} · gate values (min, quartiles, max; dashed: mean)"
    return _style(fig, title, 380)


_BOX_KEYS = ("lowerfence", "q1", "median", "q3", "upperfence", "mean")


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
    rec = module_record(record, module)
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
        matrices = {"hidden": _arrays.unit_matrix(rec.hidden(layer, direction), sample)}
        if "cell" in states:
            matrices["cell"] = _arrays.unit_matrix(rec.cell(layer, direction), sample)
        chosen = units.get((layer, direction)) if isinstance(units, Mapping) else units
        if chosen is None:
            chosen = _arrays.most_active(matrices["hidden"], top)
        for rank, unit in enumerate(chosen):
            for row, state in enumerate(states, start=1):
                values = matrices[state]
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=_arrays.bin_time(values[unit], time_factor),
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
    rec = module_record(record, module)
    fig = go.Figure()
    groups, labels = [], []
    for slot, (layer, direction) in enumerate(_slots(rec)):
        for k, (gate, values) in enumerate(rec.gates(layer, direction).items()):
            if rec.cell_kind.is_tanh(gate):
                continue
            left, right = _arrays.saturation(_arrays.unit_matrix(values, sample))
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
