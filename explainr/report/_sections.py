"""The report's sections, in reading order: input, attributions, comparison, metrics, inside."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from explainr.report import _html, _stats
from explainr.report._html import esc

if TYPE_CHECKING:
    from explainr.report._report import Report, _AttributionItem, _InputItem, _TraceItem

Section = tuple[tuple[str, str], str]  # ((anchor, nav title), html)

METRIC_HELP = {
    "completeness": "|sum of attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)|: "
    "how much of the prediction change the attributions account for (0 is exact).",
    "deletion_auc": "area under f as the most-attributed cells are replaced by the baseline "
    "first: lower means the method found what the prediction needs.",
    "insertion_auc": "area under f as the most-attributed cells are put back into the baseline "
    "first: higher means the method found what the prediction needs.",
}
METRIC_TITLES = {
    "completeness": "completeness error",
    "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
}
QUANTISED_NOTE = (
    "Heatmap colours and hover values are rounded to 1/255 of each heatmap's range to keep "
    "the file small; <code>explainr.plots</code> draws them at full precision."
)


def build(report: Report, packer: _html.Packer) -> list[Section]:
    """Every section of ``report`` as HTML, figures added to ``packer``."""
    from explainr import plots

    out: list[Section] = []
    figure = _Figures(packer)
    items = report._attributions
    if items and report._input is not None:
        out.append(_input_section(report, report._input, figure, plots))
    for k, item in enumerate(items):
        out.append(_attribution_section(report, item, k, figure, plots))
    group = _comparable(items)
    if len(group) >= 2:
        out.append(_comparison_section(report, group, figure, plots))
    if items:
        out.append(_metrics_section(report, figure, plots))
    out.extend(_trace_sections(report, figure, plots))
    return out


class _Figures:
    """Adds a figure to the packer and returns the ``<div>`` it will be drawn into."""

    def __init__(self, packer: _html.Packer) -> None:
        self.packer = packer

    def __call__(self, fig: Any) -> str:
        div_id = f"fig-{len(self.packer.figures)}"
        self.packer.add(div_id, fig)
        return f'<div class="figure" id="{div_id}"></div>'


def _section(anchor: str, nav: str, heading: str, inner: str) -> Section:
    return (anchor, nav), f'<section id="{esc(anchor)}"><h2>{heading}</h2>{inner}</section>'


def _explain(text: str) -> str:
    return f'<p class="explain">{text}</p>'


def _labels_for(report: Report, steps: int, own: list[str] | None) -> list[str] | None:
    """Time labels for an axis of ``steps`` steps: its own, the report's, an attribution's."""
    candidates = [own, report.time_labels]
    candidates += [i.attribution.time_labels for i in report._attributions]
    if report._input is not None:
        candidates.append(report._input.time_labels)
    for labels in candidates:
        if labels and len(labels) == steps:
            return list(labels)
    return None


def _names(report: Report, item: _AttributionItem) -> list[str] | None:
    if item.feature_names is not None:
        return item.feature_names
    if item.attribution.feature_names:
        return None
    inp = report._input
    if (
        inp is not None
        and inp.feature_names
        and len(inp.feature_names) == item.attribution.values.shape[2]
    ):
        return inp.feature_names
    return None


def _input_section(report: Report, inp: _InputItem, figure: _Figures, plots: Any) -> Section:
    first = report._attributions[0]
    same = [
        i
        for i in report._attributions
        if i.sample == first.sample and i.attribution.values.shape[1:] == inp.values.shape
    ]
    if not same:
        note = (
            f"The input window has shape {inp.values.shape}, but the attributions explain "
            f"windows of shape {first.attribution.values.shape[1:]}; nothing to overlay."
        )
        return _section("input", "Input", "Input", f'<p class="note">{esc(note)}</p>')
    by_method = {i.attribution.method: i.attribution for i in same}
    steps = inp.values.shape[0]
    fig = plots.input_attribution(
        inp.values,
        by_method,
        first.sample,
        feature_names=inp.feature_names
        or _names(report, first)
        or first.attribution.feature_names
        or None,
        time_labels=_labels_for(report, steps, inp.time_labels),
        units=inp.units,
    )
    text = (
        "The explained window in its original units. Each point is coloured by its "
        "attribution: red points pushed the prediction up, blue points pushed it down, white "
        "ones did not matter. The bottom row sums each time step over features. Pick a "
        "method from the menu."
    )
    return _section("input", "Input", "Input and attribution", _explain(text) + figure(fig))


def _attribution_section(
    report: Report, item: _AttributionItem, k: int, figure: _Figures, plots: Any
) -> Section:
    a, s = item.attribution, item.sample
    if not a.time_labels:
        labels = _labels_for(report, a.values.shape[1], None)
        if labels is not None:
            a = _with_labels(a, labels)
    fig = plots.attribution_summary(a, s, feature_names=_names(report, item))
    delta = float(a.prediction[s] - a.baseline_prediction[s])
    text = (
        f"Each cell is its share of f(x) − f(baseline) = {delta:.4g} according to "
        f"<b>{esc(a.method)}</b>: red cells pushed the prediction up, blue cells down. "
        "The bars on the right sum each feature over time; the bars below sum each time step "
        "over features."
    )
    if a.values.shape[1] * a.values.shape[2] >= _html.QUANTISE_MIN:
        text += " Heatmap colours and hover values are rounded to 1/255 of its range."
    if _stats.spread_over_groups(a, s):
        text += f" Cells were perturbed in groups ({esc(a.group_by)}); a group's value is spread evenly over its cells."
    heading = f"What the prediction used: {esc(a.method)}"
    return _section(f"attribution-{k}", a.method, heading, _explain(text) + figure(fig))


def _with_labels(a: Any, labels: list[str]) -> Any:
    from dataclasses import replace

    return replace(a, time_labels=labels)


def _comparable(items: list[_AttributionItem]) -> list[_AttributionItem]:
    """The attributions that explain the same sample with the same shape as the first."""
    if not items:
        return []
    first = items[0]
    seen, out = set(), []
    for i in items:
        same = (
            i.sample == first.sample
            and i.attribution.values.shape == first.attribution.values.shape
        )
        if same and i.attribution.method not in seen:
            seen.add(i.attribution.method)
            out.append(i)
    return out


def agreement_matrix(group: list[_AttributionItem]) -> np.ndarray:
    """``(methods, methods)`` Spearman rank agreement (:func:`explainr.metrics.rank_agreement`)."""
    from explainr.metrics import rank_agreement

    n = len(group)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            agreement = rank_agreement(group[i].attribution, group[j].attribution)
            out[i, j] = out[j, i] = agreement.spearman[group[i].sample]
    return out


def _comparison_section(
    report: Report, group: list[_AttributionItem], figure: _Figures, plots: Any
) -> Section:
    first = group[0]
    by_method = {}
    for i in group:
        a = i.attribution
        if not a.time_labels:
            labels = _labels_for(report, a.values.shape[1], None)
            a = _with_labels(a, labels) if labels else a
        by_method[a.method] = a
    agreement = agreement_matrix(group)
    fig = plots.method_comparison(
        by_method, first.sample, agreement=agreement, feature_names=_names(report, first)
    )
    text = (
        "Each method's attributions divided by their total absolute value, so that methods "
        "on different scales line up. Rank agreement is the Spearman correlation of the "
        "absolute attributions (of the groups when both methods share them, else of the "
        "cells): 1 means two methods rank everything alike, 0 means their rankings are "
        "unrelated."
    )
    return _section(
        "comparison", "Comparison", "Methods side by side", _explain(text) + figure(fig)
    )


def _metrics_section(report: Report, figure: _Figures, plots: Any) -> Section:
    rows: dict[str, dict[str, float]] = {}
    for item in report._attributions:
        a = item.attribution
        rows.setdefault(a.method, {})["completeness"] = float(a.completeness_error[item.sample])
    for method, values in report.metrics.items():
        rows.setdefault(method, {}).update(values)
    names: list[str] = []
    for values in rows.values():
        names += [n for n in values if n not in names]
    header = ["method"] + [_metric_title(n) for n in names]
    table = _html.table(
        header, [[m] + [_fmt(values.get(n)) for n in names] for m, values in rows.items()]
    )
    help_items = "".join(
        f"<dt>{esc(_metric_title(n))}</dt><dd>{esc(_metric_help(n))}</dd>" for n in names
    )
    text = "How faithful each method's attributions are to the model."
    inner = _explain(text) + table + f"<dl>{help_items}</dl>"
    if report.curves:
        inner += "<h3>Deletion and insertion curves</h3>" + _explain(
            "The model's output as the cells a method ranks highest are removed first (left) "
            "or put back into the baseline first (right). The areas under these curves are "
            "the AUCs above."
        )
        inner += figure(plots.faithfulness_curves(report.curves, report.curves_sample))
    return _section("metrics", "Metrics", "Faithfulness metrics", inner)


def _metric_title(name: str) -> str:
    return METRIC_TITLES.get(name, name.replace("_", " "))


def _metric_help(name: str) -> str:
    return METRIC_HELP.get(name, "as computed by the caller.")


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def _trace_sections(report: Report, figure: _Figures, plots: Any) -> list[Section]:
    items = report._traces
    if not items:
        return []
    cells = sum(_gate_cells(i) for i in items)
    factor = _stats.time_factor(cells, report.max_heatmap_cells)
    out = []
    for k, item in enumerate(items):
        out.append(_trace_section(report, item, k, factor, figure, plots))
    return out


def _gate_cells(item: _TraceItem) -> int:
    rec = item.record
    return sum(v.shape[1] * v.shape[2] for key, v in rec.data.items() if key[0].startswith("gate:"))


def _trace_section(
    report: Report, item: _TraceItem, k: int, factor: int, figure: _Figures, plots: Any
) -> Section:
    rec, s = item.record, item.sample
    labels = _labels_for(report, rec.time_steps, item.time_labels)
    name = rec.name or "model"
    parts = []
    if factor > 1:
        columns = math.ceil(rec.time_steps / factor)
        parts.append(
            f'<p class="note">Time is averaged over bins of {factor} steps ({rec.time_steps} '
            f"steps → {columns} columns) to keep this report small. For full resolution pass "
            "a larger <code>max_heatmap_cells</code> to <code>Report</code>, or draw "
            "<code>explainr.plots.gate_heatmap(trace[name])</code>.</p>"
        )
    if rec.kind == "conv_lstm":
        parts.append(
            '<p class="note">ConvLSTM: each row is one channel, averaged over height and width.</p>'
        )
    if any(key[0].startswith("gate:") for key in rec.data):
        parts.append("<h3>Gates over time</h3>")
        parts.append(
            _explain(
                "How open each gate of each unit was at every step (sigmoid gates run from 0, "
                "closed, to 1, open; the candidate gate from −1 to 1). Pick the gate, layer and "
                "direction from the menu; hover for unit, time and value. " + QUANTISED_NOTE
            )
        )
        parts.append(figure(plots.gate_heatmap(rec, s, time_labels=labels, time_factor=factor)))
    if any(key[0] == "hidden" for key in rec.data):
        parts.append("<h3>Cell and hidden states</h3>" if rec.has_cell else "<h3>Hidden state</h3>")
        parts.append(_explain(_units_text(report, item)))
        fig = plots.state_trajectories(
            rec, s, units=item.units, top=report.top_units, time_labels=labels, time_factor=factor
        )
        parts.append(figure(fig))
    if any(key[0].startswith("gate:") and key[0][5:] not in plots.TANH_GATES for key in rec.data):
        parts.append("<h3>Gate saturation</h3>")
        parts.append(
            _explain(
                "For every unit and sigmoid gate, the fraction of time the gate is nearly closed "
                "(&lt; 0.1, x axis) and nearly open (&gt; 0.9, y axis), pooled over the whole "
                "batch (Karpathy, Johnson &amp; Fei-Fei 2015). Markers near the dotted line are "
                "saturated all the time, e.g. forget gates that keep memory for long; markers "
                "near the origin are seldom saturated and respond to the input."
            )
        )
        parts.append(figure(plots.gate_saturation(rec)))
    heading = f"Inside the model: {esc(name)} ({esc(rec.kind.upper())})"
    return _section(f"inside-{k}", f"Inside: {name}", heading, "".join(parts))


def _units_text(report: Report, item: _TraceItem) -> str:
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
