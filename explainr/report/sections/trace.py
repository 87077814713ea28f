"""Inside the model: gate heatmaps, state trajectories and gate saturation per module."""

from __future__ import annotations

import math

from explainr.report import figures
from explainr.report._contents import Contents, TraceItem
from explainr.report._page import esc
from explainr.report.figures import arrays as _arrays
from explainr.report.sections._common import (
    QUANTISED_NOTE,
    Figures,
    Section,
    labels_for,
    paragraph,
    section,
)


def render(report: Contents, figure: Figures) -> list[Section]:
    return _trace_sections(report, figure)


def _trace_sections(report: Contents, figure: Figures) -> list[Section]:
    items = report.traces
    if not items:
        return []
    cells = sum(_gate_cells(i) for i in items)
    factor = _arrays.time_factor(cells, report.max_heatmap_cells)
    out = []
    for k, item in enumerate(items):
        out.append(_trace_section(report, item, k, factor, figure))
    return out


def _gate_cells(item: TraceItem) -> int:
    rec = item.record
    return sum(v.shape[1] * v.shape[2] for key, v in rec.data.items() if key[0].startswith("gate:"))


def _trace_section(
    report: Contents,
    item: TraceItem,
    k: int,
    factor: int,
    figure: Figures,
) -> Section:
    rec, s = item.record, item.sample
    labels = labels_for(report, rec.time_steps, item.time_labels)
    name = rec.name or "model"
    parts = []
    if factor > 1:
        columns = math.ceil(rec.time_steps / factor)
        parts.append(
            f'<p class="note">Time is averaged over bins of {factor} steps ({rec.time_steps} '
            f"steps → {columns} columns) to keep this report small. For full resolution pass "
            "a larger <code>max_heatmap_cells</code> to <code>Report</code>, or draw "
            "<code>explainr.figures.gate_heatmap(trace[name])</code>.</p>"
        )
    if any(v.dim() > 3 for v in rec.data.values()):  # maps: (batch, time, C, H, W)
        parts.append(
            '<p class="note">ConvLSTM: each row is one channel, averaged over height and width.</p>'
        )
    if any(key[0].startswith("gate:") for key in rec.data):
        parts.append("<h3>Gates over time</h3>")
        parts.append(
            paragraph(
                "How open each gate of each unit was at every step (sigmoid gates run from 0, "
                "closed, to 1, open; the candidate gate from −1 to 1). Each heatmap's colours "
                "span the values it holds, stated on its colour bar, so small variation shows. "
                "Pick the gate, layer and direction from the menu; hover for unit, time and "
                "value. " + QUANTISED_NOTE
            )
        )
        parts.append(figure(figures.gate_heatmap(rec, s, time_labels=labels, time_factor=factor)))
    if any(key[0] == "hidden" for key in rec.data):
        parts.append("<h3>Cell and hidden states</h3>" if rec.has_cell else "<h3>Hidden state</h3>")
        parts.append(paragraph(_units_text(report, item)))
        fig = figures.state_trajectories(
            rec, s, units=item.units, top=report.top_units, time_labels=labels, time_factor=factor
        )
        parts.append(figure(fig))
    if any(
        key[0].startswith("gate:") and not rec.cell_kind.is_tanh(key[0][5:]) for key in rec.data
    ):
        parts.append("<h3>Gate values</h3>")
        parts.append(
            paragraph(
                "How the values of each gate spread over every unit, step and window of the "
                "batch, per layer: the box spans the middle half, the whiskers the extremes, "
                "the dashed line is the mean."
            )
        )
        parts.append(figure(figures.gate_distributions(rec)))
        parts.append("<h3>Gate saturation</h3>")
        parts.append(
            paragraph(
                "For every unit and sigmoid gate, the fraction of time the gate is nearly closed "
                "(&lt; 0.1, x axis) and nearly open (&gt; 0.9, y axis), pooled over the whole "
                "batch (Karpathy, Johnson &amp; Fei-Fei 2015). Markers near the dotted line are "
                "saturated all the time, e.g. forget gates that keep memory for long; markers "
                "near the origin are seldom saturated and respond to the input."
            )
        )
        if not _saturates(rec):
            parts.append(
                '<p class="note">No sigmoid gate of this module is ever below 0.1 or above '
                "0.9, so every marker sits at the origin: its gates respond to the input "
                "rather than switch fully. Their spread is in the gate values above.</p>"
            )
        parts.append(figure(figures.gate_saturation(rec)))
    heading = f"Inside the model: {esc(name)} ({esc(rec.cell_kind.title)})"
    return section(f"inside-{k}", f"Inside: {name}", heading, "".join(parts))


def _saturates(rec) -> bool:
    """Whether any sigmoid gate value of the batch is below 0.1 or above 0.9."""
    for key, values in rec.data.items():
        sigmoid = key[0].startswith("gate:") and not rec.cell_kind.is_tanh(key[0][5:])
        if sigmoid and bool(((values < 0.1) | (values > 0.9)).any()):
            return True
    return False


def _units_text(report: Contents, item: TraceItem) -> str:
    if isinstance(item.units, dict):
        chosen = (
            "The units whose hidden state the prediction used most (layer integrated "
            "gradients) in the layer attributed, and elsewhere the "
            f"{report.top_units} units per layer whose hidden state varies most."
        )
    elif item.units is not None:
        chosen = f"Units {', '.join(str(u) for u in item.units)} of every layer."
    else:
        chosen = (
            f"The {report.top_units} units per layer whose hidden state varies most over "
            "this window."
        )
    memory = "The cell state is the LSTM's memory; the" if item.record.has_cell else "The"
    return (
        f"{chosen} {memory} hidden state is what the next layer and the output see. "
        "Click a unit in the legend to hide it."
    )
