"""`explain`: record, attribute and measure in one call; `Explanation` holds the results."""

from __future__ import annotations

import html
import logging
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explainr import metrics as metrics_module
from explainr._core.defaults import DEFAULTS
from explainr._core.errors import ExplainrError, ExplainrTypeError, ModelError
from explainr._core.frames import Frame, as_frames, is_grid_target, target_label
from explainr._core.inputs import check_choice, check_flag, check_labels, check_sample, to_inputs
from explainr._core.model import call_model, check_module, prepare
from explainr._core.state import preserved
from explainr.adapters import Adapter, ModuleAdapter, Windows, window_defaults
from explainr.attribution import (
    Attribution,
    Memory,
    attribute_prepared,
)
from explainr.attribution import (
    concat_attributions as concat,
)
from explainr.attribution import memory as memory_of
from explainr.metrics import agreement_matrix
from explainr.record import Trace, find_recurrent, record
from explainr.report import Report, ReportOptions

log = logging.getLogger(__name__)

DEFAULT_METHODS = DEFAULTS.methods


@dataclass
class Explanation:
    """Everything :func:`explain` computed, for code, and the report that shows it.

    Attributes:
        trace: gates and states of every recurrent module (None if the model has none).
        attributions: one :class:`~explainr.Attribution` per method, by method name.
        metrics: per method, ``{"completeness": ..., "deletion_auc": ..., "insertion_auc": ...}``
            for the shown sample.
        curves: per method, ``{"deletion": Curve, "insertion": Curve}`` (every window).
        rank_agreement: ``(methods, methods)`` rank agreement of the methods, in
            ``attributions`` order.
        x: the explained input as the model saw it, ``(batch, time, feature)``.
        settings: the arguments that shaped the results.
        seconds: wall time of ``explain``.
        memory: forget-gate timescales and the prediction's share per lag
            (:func:`explainr.memory`), or None where the model is not supported.
        presentation: how the report shows these results (title, sample, units, ...).
    """

    trace: Trace | None
    attributions: dict[str, Attribution]
    metrics: dict[str, dict[str, float]]
    curves: dict[str, dict[str, Any]]
    rank_agreement: np.ndarray
    x: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    memory: Memory | None = None
    presentation: ReportOptions = field(default_factory=ReportOptions)

    def report(self) -> Report:
        """A :class:`Report` of everything here (build it to restyle or add to it)."""
        shown = self.presentation
        rep = Report(
            shown.title,
            prediction_unit=shown.prediction_unit,
            data_summary=shown.data_summary,
            time_labels=shown.time_labels,
            settings=self.settings,
            seconds=self.seconds,
        )
        rep.model_summary = shown.model_summary
        if self.trace is not None and len(self.trace):
            rep.add_trace(self.trace, sample=shown.sample)
        for a in self.attributions.values():
            rep.add_attribution(a, sample=shown.sample, feature_names=shown.feature_names)
        if self.x.dim() != 5:  # frames are drawn under their attribution maps
            window = shown.raw if shown.raw is not None else self.x[shown.sample]
            rep.add_input(window, feature_names=shown.feature_names, units=shown.input_units)
        rep.add_metrics(
            self.metrics, curves=self.curves, sample=shown.sample, agreement=self.rank_agreement
        )
        if self.memory is not None:
            rep.add_memory(self.memory)
        return rep

    def to_html(self, plotlyjs: str = "inline") -> str:
        """The report as one HTML page (see :meth:`Report.to_html`)."""
        return self.report().to_html(plotlyjs)

    def save_html(self, path: str | os.PathLike[str], plotlyjs: str = "inline") -> Path:
        """Write the report atomically to ``path`` and return it (see :meth:`Report.save`)."""
        return self.report().save(path, plotlyjs)

    def _repr_html_(self) -> str:
        """A compact notebook display: one line per method and the first method's summary.

        A few kB and no JavaScript; ``save_html(path)`` (or ``report()``) gives the full
        interactive report, with plotly.js once in its own file.
        """
        rows = "".join(
            f"<tr><td>{html.escape(method)}</td><td>{_fit_text(a)}</td><td>{a.seconds:.2f} s</td></tr>"
            for method, a in self.attributions.items()
        )
        first = next(iter(self.attributions.values()), None)
        modules = (
            ", ".join(html.escape(n or "(model)") for n in self.trace) if self.trace else "none"
        )
        return (
            f"<div><b>Explanation</b> of {len(self.x)} window(s): methods "
            f"{html.escape(', '.join(self.attributions))}; recorded modules: {modules}. "
            "Full report: <code>.save_html(path)</code>."
            "<table style='font-size:12px'><tr><th>method</th><th>check</th><th>time</th></tr>"
            f"{rows}</table>{first._repr_html_() if first is not None else ''}</div>"
        )


def explain(
    model: torch.nn.Module,
    x: Any,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    target: int | None = None,
    baselines: Any = None,
    window: int | None = None,
    group_by: str = DEFAULTS.group_by,
    n_steps: int = DEFAULTS.n_steps,
    n_samples: int | None = None,
    feature_names: Sequence[str] | None = None,
    time_labels: Sequence[object] | None = None,
    progress: bool = DEFAULTS.progress,
    seed: int = DEFAULTS.seed,
    title: str = "explainr report",
    data_summary: str | Mapping[str, object] | None = None,
    raw: Any = None,
    input_units: str | Mapping[str, str] | None = None,
    prediction_unit: str | None = None,
    sample: int = 0,
    metrics: bool = True,
    memory: bool = True,
    patch: int | None = None,
) -> Explanation:
    """Record the model's insides, attribute its prediction with several methods, measure them.

    Args:
        model: a model containing recurrent modules; called as ``model(x)``.
        x: the input ``(batch, time, feature)`` tensor or array, or one ``(time, feature)``
            window as an array or a pandas DataFrame (its columns and DatetimeIndex give
            feature names and time labels).
        methods: attribution methods, any of integrated_gradients, gradient_shap,
            kernel_shap, exact_shapley, lime, occlusion.
        target: output index to explain (classification); None for a scalar output.
        baselines: the reference input(s), passed to :func:`explainr.attribute`.
        window: perturb in windows of this many steps (perturbation methods).
        group_by: how perturbation methods group cells: "time", "feature" or
            "time_feature".
        n_steps: integration steps of integrated gradients.
        n_samples: samples of the sampling methods (default per method).
        feature_names: ``(feature,)`` names; default the DataFrame's columns.
        time_labels: ``(time,)`` labels; default the DataFrame's index.
        progress: show progress bars.
        seed: random seed of the sampling methods.
        title: the report's title.
        data_summary: a sentence or a mapping describing the data, for the report header.
        raw: the same window in original units (e.g. before scaling), ``(time, feature)``
            DataFrame or array, drawn in the report instead of ``x``.
        input_units: the input's unit (one for all features, or one per feature name), for
            the report's axis titles.
        prediction_unit: the unit of the model's output, for f(x) and the colour bars.
        sample: batch index shown in the report.
        metrics: compute deletion/insertion curves for every method (costs model calls).
        memory: compute the model's memory (:func:`explainr.memory`) when its structure
            allows (one nn.LSTM / nn.GRU / PeepholeLSTM followed by a supported head).
        patch: for frames, the side of the square patches perturbation methods group.

    Frames ``(batch, time, channels, height, width)`` and targets on an output frame work as
    in :func:`explainr.attribute`; ``.x`` keeps the frames and the report draws maps.

    Returns:
        An :class:`Explanation`: ``.trace``, ``.attributions[method]``, ``.metrics``;
        ``.save_html(path)`` writes the report.

    >>> import torch, explainr
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.LSTM(2, 8, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[0][:, -1])
    >>> ex = explainr.explain(Net(), torch.randn(1, 24, 2), ("integrated_gradients", "occlusion"))
    >>> sorted(ex.attributions), ex.trace["rnn"].gate("forget").shape
    (['integrated_gradients', 'occlusion'], torch.Size([1, 24, 8]))
    >>> sorted(ex.metrics["occlusion"])
    ['completeness', 'deletion_auc', 'insertion_auc']
    """
    start = time.perf_counter()
    check_module(model)
    windows, notes = None, {}
    if isinstance(x, Windows):
        filled = window_defaults(
            model,
            x,
            target=target,
            baselines=baselines,
            feature_names=feature_names,
            time_labels=time_labels,
        )
        windows, x = x, x.x
        target, baselines = filled.target, filled.baselines
        feature_names, time_labels = filled.feature_names, filled.time_labels
        notes = _adapter_notes(model, filled.note)
    frames = as_frames(x)  # (batch, time, channels, height, width) or None
    frame = None if frames is None else Frame(*frames.shape[2:])
    flat = x if frames is None else frames.flatten(2)
    inputs = to_inputs(flat, None if frame is None else frame.names())  # checked: NaN, ...
    xt, names, labels = inputs.x, inputs.feature_names, inputs.time_labels
    _, steps, features = xt.shape
    if feature_names is not None:
        names = check_labels(feature_names, "feature_names", features, "feature", "names")
    if time_labels is not None:
        labels = check_labels(time_labels, "time_labels", steps, "time step")
    check_sample(sample, xt.shape[0])
    for flag, name in ((progress, "progress"), (metrics, "metrics"), (memory, "memory")):
        check_flag(flag, name)
    methods = _methods(methods)
    _check_units(input_units, prediction_unit)
    options = {
        "window": window,
        "group_by": group_by,
        "n_steps": n_steps,
        "n_samples": n_samples,
        "seed": seed,
        "progress": progress,
        "patch": patch,
    }
    given = xt if frames is None else frames  # frames go to the model as frames
    if windows is not None and windows.context:  # one window at a time, its context bound
        parts = []
        for i in range(len(windows)):
            with model.using(windows[i].context):
                parts.append(
                    _attribute_all(
                        model, xt[i : i + 1], methods, target, baselines, names, options, metrics
                    )
                )
        attributions, curves = _join(parts, labels)
    else:
        attributions, curves = _attribute_all(
            model, given, methods, target, baselines, names, options, metrics, labels
        )
    bound = windows is not None and windows.context
    with model.using(windows.context) if bound else nullcontext():
        trace = _trace_of(model, given)
        remembered = _memory_of(model, xt, target) if memory and frames is None else None
    settings = {
        "methods": ", ".join(methods),
        "target": target_label(target) if is_grid_target(target) else target,
        "baselines": notes.pop("baselines", None) or _describe(baselines),
        "window": window,
        "group_by": group_by,
        "n_steps": n_steps,
        "n_samples": n_samples,
        "seed": seed,
        **notes,
    }
    return Explanation(
        trace=trace,
        attributions=attributions,
        metrics=_metrics(attributions, curves, sample),
        curves=curves,
        rank_agreement=agreement_matrix(list(attributions.values()), sample),
        x=xt if frames is None else frames,
        settings={k: v for k, v in settings.items() if v is not None},
        seconds=time.perf_counter() - start,
        memory=remembered,
        presentation=ReportOptions(
            title=title,
            data_summary=data_summary,
            raw=raw,
            input_units=input_units,
            prediction_unit=prediction_unit,
            sample=sample,
            time_labels=labels,
            feature_names=names,
            model_summary=ReportOptions.summarise(model),
        ),
    )


def _methods(methods: Any) -> tuple[str, ...]:
    """``methods`` as a tuple of names (one name alone is one method); checked."""
    from explainr.attribution import METHODS

    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, Sequence | set | frozenset):
        raise ExplainrTypeError(
            f"methods must be a list of method names from {sorted(METHODS)}, got {methods!r}"
        )
    methods = tuple(methods)
    if not methods:
        raise ExplainrError(
            "explain() needs at least one method, e.g. methods=('integrated_gradients',)"
        )
    for method in methods:
        check_choice(method, "method", sorted(METHODS))
    return methods


def _check_units(input_units: Any, prediction_unit: Any) -> None:
    if input_units is not None and not isinstance(input_units, str | Mapping):
        raise ExplainrTypeError(
            "input_units must be a str (one unit for every feature) or a mapping feature name "
            f"-> unit, got {input_units!r}"
        )
    if prediction_unit is not None and not isinstance(prediction_unit, str):
        raise ExplainrTypeError(f"prediction_unit must be a str, got {prediction_unit!r}")


def _attribute_all(
    model: torch.nn.Module,
    xt: torch.Tensor,
    methods: Sequence[str],
    target: int | None,
    baselines: Any,
    names: list[str],
    options: dict[str, Any],
    metrics: bool,
    labels: list[str] | None = None,
) -> tuple[dict[str, Attribution], dict[str, dict[str, Any]]]:
    """Every method's attributions of windows ``xt`` and, with ``metrics``, their curves."""
    attributions: dict[str, Attribution] = {}
    with preserved(model):  # one normalisation and one probe for every method and curve
        ready = prepare(model, xt, target=target, baselines=baselines, feature_names=names)
        for method in methods:
            a = attribute_prepared(ready, method, **options)
            attributions[method] = replace(a, time_labels=labels) if labels else a
        curves = metrics_module.curves(ready, attributions) if metrics else {}
    return attributions, curves


def _join(
    parts: list[tuple[dict[str, Attribution], dict[str, dict[str, Any]]]], labels: list[str]
) -> tuple[dict[str, Attribution], dict[str, dict[str, Any]]]:
    """Per-window results of `_attribute_all` joined along the window axis."""
    methods = list(parts[0][0])
    attributions = {
        m: replace(concat([p[0][m] for p in parts]), time_labels=labels) for m in methods
    }
    curves = {
        m: {
            kind: replace(
                first,
                outputs=np.concatenate([p[1][m][kind].outputs for p in parts]),
                prediction=np.concatenate([p[1][m][kind].prediction for p in parts]),
                baseline_prediction=np.concatenate(
                    [p[1][m][kind].baseline_prediction for p in parts]
                ),
            )
            for kind, first in parts[0][1][m].items()
        }
        for m in parts[0][1]
    }
    return attributions, curves


def _adapter_notes(model: torch.nn.Module, baseline_note: str | None) -> dict[str, str]:
    """What the report's settings say about an adapter: its library, point forecast,
    default baseline and how its recurrent time axis aligns with the window."""
    if not isinstance(model, Adapter):
        return {}
    notes = {"library": model.library, "point forecast": model.point}
    if baseline_note:
        notes["baselines"] = baseline_note
    if model.time_note:
        notes["time axis"] = model.time_note
    if model.encoder:
        notes["recorded call"] = ", ".join(
            f"{name}: call {call}" for name, call in model.encoder.items()
        )
    return notes


def _fit_text(a: Attribution) -> str:
    """How far to trust ``a``: completeness for additive methods, the surrogate's fit for LIME."""
    if "r2" in a.settings:
        r2 = np.ravel(np.asarray(a.settings["r2"], dtype=float))
        return f"surrogate fit R² {np.mean(r2):.3f}"
    try:
        return f"completeness error {float(np.max(a.completeness_error)):.2%}"
    except ExplainrError:
        return "—"


def _memory_of(model: torch.nn.Module, x: torch.Tensor, target: int | None) -> Memory | None:
    """`explainr.memory` of the model, or None (logged) where its structure is not supported."""
    if isinstance(model, ModuleAdapter):  # a plain module (or Keras file) with its data
        model = model.model
    elif isinstance(model, Adapter):  # a library's model: its structure is the library's
        log.info("no memory section for a %s model", model.library)
        return None
    try:
        return memory_of(model, x, target=target)
    except ModelError:
        raise
    except ExplainrError as error:
        log.info("no memory section: %s", error)
        return None


def _trace_of(model: torch.nn.Module, x: torch.Tensor) -> Trace | None:
    """Gates and states of one eval-mode forward pass; the model's modes are restored."""
    if not find_recurrent(model):
        log.info(
            "no recurrent module in %s; the report shows attributions only", type(model).__name__
        )
        return None
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is not None:
        x = x.to(param.device, param.dtype)
    with preserved(model), torch.no_grad(), record(model) as rec:
        call_model(model, x)
    return rec.trace


def _metrics(
    attributions: Mapping[str, Attribution], curves: Mapping[str, Mapping[str, Any]], sample: int
) -> dict[str, dict[str, float]]:
    out = {}
    for method, a in attributions.items():
        row = {"completeness": float(a.completeness_error[sample])}
        for kind, curve in curves.get(method, {}).items():
            row[f"{kind}_auc"] = float(curve.auc[sample])
        out[method] = row
    return out


def _describe(baselines: Any) -> str | None:
    if baselines is None:
        return None
    if isinstance(baselines, str | int | float):
        return str(baselines)
    shape = getattr(baselines, "shape", None)
    return f"array of shape {tuple(shape)}" if shape is not None else type(baselines).__name__
