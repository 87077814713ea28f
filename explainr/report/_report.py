"""`Report`: collect traces, attributions and metrics; write one self-contained HTML page."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError
from explainr._core.inputs import check_count, check_labels, check_sample, time_labels_of
from explainr.attribution import Attribution, Memory, UnitAttribution
from explainr.record import ModuleRecord, Trace
from explainr.report import _page
from explainr.report._contents import AttributionItem, Contents, InputItem, TraceItem
from explainr.report._model_summary import model_summary
from explainr.report._style import STYLE
from explainr.report.sections import build
from explainr.report.sections.overview import overview, top


class Report:
    """An interactive, self-contained HTML report of what a recurrent model did and used.

    Add what you have (traces from :func:`explainr.record`, attributions, metrics), then
    :meth:`save` or :meth:`to_html`. The page works offline: plotly.js is inlined once
    (or shared beside it) and nothing is fetched. In Jupyter the report displays inline.

    Args:
        title: shown at the top and in the browser tab.
        model: the explained model, for the header's module sizes and parameter count.
        data_summary: a sentence, or a mapping of name -> value, describing the data.
        time_labels: ``(time,)`` labels for every time axis (e.g. dates); default the
            attributions' own labels, else step numbers.
        settings: extra settings to list in the header.
        seconds: how long computing everything took, shown in the header.
        max_heatmap_cells: above this many gate-heatmap cells in all, time is averaged
            over bins (with a note on the page) to keep the file small.
        top_units: how many units' cell and hidden states to draw per layer.
        prediction_unit: the unit of the model's output (e.g. ``"% per year"``), shown
            with f(x) and on the attribution colour bars; attributions share it.

    >>> import torch, explainr
    >>> lstm = torch.nn.LSTM(2, 8, batch_first=True)
    >>> with explainr.record(lstm) as rec:
    ...     _ = lstm(torch.randn(1, 30, 2))
    >>> rep = explainr.Report(title="Tiny LSTM")
    >>> _ = rep.add_trace(rec.trace, sample=0)
    >>> "Tiny LSTM" in rep.to_html()
    True
    """

    def __init__(
        self,
        title: str = "explainr report",
        *,
        model: torch.nn.Module | None = None,
        data_summary: str | Mapping[str, object] | None = None,
        time_labels: Sequence[object] | None = None,
        settings: Mapping[str, object] | None = None,
        seconds: float | None = None,
        max_heatmap_cells: int = 600_000,
        top_units: int = 6,
        prediction_unit: str | None = None,
    ) -> None:
        if model is not None and not isinstance(model, torch.nn.Module):
            raise ExplainrTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if settings is not None and not isinstance(settings, Mapping):
            raise ExplainrTypeError(f"settings must be a mapping, got {type(settings).__name__}")
        check_count(max_heatmap_cells, "max_heatmap_cells")
        check_count(top_units, "top_units")
        self.title = str(title)
        self.model_summary = model_summary(model) if model is not None else None
        self.data_summary = data_summary
        self.time_labels = None if time_labels is None else _labels(time_labels, "time_labels")
        self.settings = dict(settings or {})
        self.seconds = seconds
        self.max_heatmap_cells = int(max_heatmap_cells)
        self.top_units = int(top_units)
        self.prediction_unit = None if prediction_unit is None else str(prediction_unit)
        self.metrics: dict[str, dict[str, float]] = {}
        self.curves: dict[str, dict[str, Any]] = {}
        self.curves_sample = 0
        self.agreement: np.ndarray | None = None
        self._traces: list[TraceItem] = []
        self._attributions: list[AttributionItem] = []
        self._input: InputItem | None = None
        self._memory: Memory | None = None

    def add_trace(
        self,
        trace: Trace | ModuleRecord,
        sample: int = 0,
        *,
        modules: Sequence[str] | None = None,
        units: Sequence[int] | UnitAttribution | None = None,
        time_labels: Sequence[object] | None = None,
    ) -> Report:
        """Show what happened inside: gate heatmaps, state trajectories, gate saturation.

        Args:
            trace: ``rec.trace`` from :func:`explainr.record` (every module that ran), or
                one module's record ``rec.trace[name]``.
            sample: batch index to show (saturation pools the whole batch).
            modules: names of the modules to show; default all.
            units: unit indices whose states to draw, or a
                :class:`~explainr.UnitAttribution` of one module (from
                :func:`explainr.attribute_units`) to draw its most attributed top-layer
                units; default the most active units of each layer.
            time_labels: ``(time,)`` labels; default the report's.

        Returns:
            The report, for chaining.
        """
        if not isinstance(trace, (Trace, ModuleRecord)):
            raise ExplainrTypeError(
                f"add_trace() needs rec.trace from explainr.record() (a Trace) or one "
                f"ModuleRecord, got {type(trace).__name__}"
            )
        records = [trace] if isinstance(trace, ModuleRecord) else [trace[n] for n in trace]
        if modules is not None:
            wanted = set(_labels(modules, "modules"))
            records = [r for r in records if r.name in wanted]
        if units is not None and not isinstance(units, UnitAttribution):
            _unit_indices(units)
        if not records:
            raise ExplainrError(
                "the trace has no module records to show; run the model inside record()"
            )
        for rec in records:
            check_sample(sample, rec.batch_size)
            labels = None
            if time_labels is not None:
                labels = check_labels(time_labels, "time_labels", rec.time_steps, "time step")
            self._traces.append(
                TraceItem(rec, sample, self._chosen_units(rec, units, sample), labels)
            )
        return self

    def _chosen_units(
        self, rec: ModuleRecord, units: Sequence[int] | UnitAttribution | None, sample: int
    ) -> list[int] | dict[tuple[int, int], list[int]] | None:
        if units is None:
            return None
        if not isinstance(units, UnitAttribution):
            return _unit_indices(units)
        if units.module != rec.name:
            return None
        strength = np.abs(units.by_unit()[sample])
        size = rec.hidden(units.layer).shape[2]
        chosen: dict[tuple[int, int], list[int]] = {}
        for u in np.argsort(-strength, kind="stable")[: self.top_units]:
            chosen.setdefault((units.layer, int(u) // size), []).append(int(u) % size)
        return chosen

    def add_attribution(
        self, a: Attribution, sample: int = 0, feature_names: Sequence[str] | None = None
    ) -> Report:
        """Show what the prediction used: heatmap, per-feature and per-time bars.

        With two or more attributions of the same sample, a method comparison and a
        metrics table follow.

        Args:
            a: an attribution (``values`` ``(batch, time, feature)``).
            sample: batch index to show.
            feature_names: ``(feature,)`` names; default ``a.feature_names``.

        Returns:
            The report, for chaining.
        """
        if not isinstance(a, Attribution):
            raise ExplainrTypeError(
                f"add_attribution() needs an Attribution, got {type(a).__name__}"
            )
        check_sample(sample, a.values.shape[0])
        names = None
        if feature_names is not None:
            names = check_labels(feature_names, "feature_names", a.values.shape[2], "feature")
        self._attributions.append(AttributionItem(a, sample, names))
        return self

    def add_input(
        self,
        x: Any,
        *,
        feature_names: Sequence[str] | None = None,
        time_labels: Sequence[object] | None = None,
        units: str | Mapping[str, str] | None = None,
    ) -> Report:
        """Show the input series under the attributions, in its original units.

        Args:
            x: the explained window as ``(time, feature)``: a DataFrame (its columns and
                index give names and time labels), a numpy array or a tensor.
            feature_names: ``(feature,)`` names; default the DataFrame's columns.
            time_labels: ``(time,)`` labels; default the DataFrame's index.
            units: the unit of every feature (e.g. ``"sunspots per month"``) or a unit per
                feature name, for the axis titles.

        Returns:
            The report, for chaining.
        """
        values, names, labels = window_values(x)
        if values.ndim != 2:
            raise ExplainrValueError(
                f"add_input() needs one (time, feature) window, got shape {values.shape}"
            )
        if units is not None and not isinstance(units, (str, Mapping)):
            raise ExplainrTypeError(
                f"units must be a str (one unit for all features) or a mapping feature name "
                f"-> unit, got {units!r}"
            )
        if feature_names is not None:
            feature_names = check_labels(feature_names, "feature_names", values.shape[1], "feature")
        if time_labels is not None:
            time_labels = check_labels(time_labels, "time_labels", values.shape[0], "time step")
        self._input = InputItem(
            values,
            [str(n) for n in feature_names] if feature_names is not None else names,
            [str(t) for t in time_labels] if time_labels is not None else labels,
            units,
        )
        return self

    def add_metrics(
        self,
        metrics: Mapping[str, Mapping[str, float]],
        *,
        curves: Mapping[str, Mapping[str, Any]] | None = None,
        sample: int = 0,
        agreement: np.ndarray | None = None,
    ) -> Report:
        """Add faithfulness metrics per method, and optionally their curves.

        Known metric names get a one-line explanation on the page: ``completeness``,
        ``deletion_auc``, ``insertion_auc``; others are listed as they are.

        Args:
            metrics: per method, metric name -> number, e.g.
                ``{"lime": {"deletion_auc": 0.2, "insertion_auc": 0.7}}``.
            curves: per method, ``{"deletion": Curve, "insertion": Curve}`` from
                :mod:`explainr.metrics`, drawn as a figure.
            sample: batch index of the curves to draw.
            agreement: ``(methods, methods)`` rank agreement of the added attributions (from
                :func:`explainr.metrics.agreement_matrix`), for the comparison section;
                computed when the report is built if not given.

        Returns:
            The report, for chaining.
        """
        _check_metrics(metrics, curves)
        for method, values in metrics.items():
            self.metrics.setdefault(str(method), {}).update(
                {str(k): float(v) for k, v in values.items()}
            )
        for method, pair in (curves or {}).items():
            for curve in pair.values():
                check_sample(sample, len(curve.outputs))
            self.curves[str(method)] = dict(pair)
        self.curves_sample = sample
        if agreement is not None:
            self.agreement = np.asarray(agreement, dtype=np.float64)
        return self

    def add_memory(self, memory: Memory) -> Report:
        """Show how far back the model looks (from :func:`explainr.memory`).

        Args:
            memory: forget-gate timescales per unit and the prediction's share per lag.

        Returns:
            The report, for chaining.
        """
        if not isinstance(memory, Memory):
            raise ExplainrTypeError(f"add_memory() needs a Memory, got {type(memory).__name__}")
        self._memory = memory
        return self

    def contents(self) -> Contents:
        """What the page will show, as the sections read it."""
        return Contents(
            title=self.title,
            model_summary=self.model_summary,
            data_summary=self.data_summary,
            time_labels=self.time_labels,
            settings=self.settings,
            seconds=self.seconds,
            max_heatmap_cells=self.max_heatmap_cells,
            top_units=self.top_units,
            prediction_unit=self.prediction_unit,
            metrics=self.metrics,
            curves=self.curves,
            curves_sample=self.curves_sample,
            agreement=self.agreement,
            traces=list(self._traces),
            attributions=list(self._attributions),
            input=self._input,
            memory=self._memory,
        )

    def to_html(self, plotlyjs: str = "inline") -> str:
        """The report as one HTML page.

        Args:
            plotlyjs: ``"inline"`` puts plotly.js in the page (fully self-contained);
                ``"shared"`` loads ``plotly.min.js`` from the page's folder.

        Returns:
            The page.
        """
        _page.check_plotlyjs(plotlyjs)
        start = time.perf_counter()
        packer = _page.Packer()
        contents = self.contents()
        body = build(contents, packer)
        built = time.perf_counter() - start
        anchors = [("overview", "Overview"), *(anchor for anchor, _ in body)]
        sections = "".join(h for _, h in body)
        page = f"{top(contents, built, anchors)}<main>{overview(contents)}{sections}</main>"
        return _page.page(self.title, page, packer.packed(), plotlyjs, STYLE)

    def save(self, path: str | os.PathLike[str], plotlyjs: str = "inline") -> Path:
        """Write the report to ``path`` atomically, creating missing folders.

        Args:
            path: the ``.html`` file to write.
            plotlyjs: ``"inline"`` (one self-contained file) or ``"shared"`` (also write,
                or reuse, ``plotly.min.js`` beside it; for folders of many reports).

        Returns:
            The path written.
        """
        return _page.save(path, lambda: self.to_html(plotlyjs), plotlyjs, "the report")

    def _repr_html_(self) -> str:
        return _page.iframe(self.to_html())


def _labels(value: Any, name: str) -> list[str]:
    """A list of labels, of any length, as strings; a typed error for anything else."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, set)):
        raise ExplainrTypeError(f"{name} must be a list of names, got {value!r}"[:300])
    return [str(v) for v in value]


def _unit_indices(units: Any) -> list[int]:
    """Unit indices as ints: a list of non-negative ints (or a UnitAttribution, elsewhere)."""
    if isinstance(units, (str, bytes)) or not isinstance(units, (Sequence, np.ndarray)):
        raise ExplainrTypeError(
            f"units must be a list of unit indices or a UnitAttribution, got {units!r}"[:300]
        )
    out = []
    for u in units:
        if isinstance(u, (bool, np.bool_)) or not isinstance(u, (int, np.integer)) or u < 0:
            raise ExplainrTypeError(f"units must hold non-negative int unit indices, got {u!r}")
        out.append(int(u))
    return out


def _check_metrics(metrics: Any, curves: Any) -> None:
    """``metrics``: method -> {name: number}; ``curves``: method -> {kind: Curve}."""
    from explainr.metrics import Curve

    if not isinstance(metrics, Mapping) or not all(
        isinstance(v, Mapping) for v in metrics.values()
    ):
        raise ExplainrTypeError(
            "metrics must map each method to {metric name: number}, e.g. "
            f"{{'lime': {{'deletion_auc': 0.2}}}}; got {metrics!r}"[:300]
        )
    for method, values in metrics.items():
        for key, v in values.items():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
                raise ExplainrTypeError(
                    f"metrics[{method!r}][{key!r}] must be a number, got {v!r}"[:300]
                )
    if curves is None:
        return
    if not isinstance(curves, Mapping) or not all(
        isinstance(pair, Mapping) and all(isinstance(c, Curve) for c in pair.values())
        for pair in curves.values()
    ):
        raise ExplainrTypeError(
            "curves must map each method to {'deletion': Curve, 'insertion': Curve} from "
            f"explainr.metrics; got {curves!r}"[:300]
        )


def window_values(x: Any) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """A window as a float array, with the DataFrame's column names and index labels.

    Args:
        x: a ``pandas.DataFrame`` ``(time, feature)``, a numpy array or a torch tensor of
            shape ``(time, feature)`` or ``(batch, time, feature)``.

    Returns:
        ``(values, feature_names or None, time_labels or None)``.
    """
    import pandas as pd

    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        return x.to_numpy(dtype=np.float64), [str(c) for c in x.columns], time_labels_of(x.index)
    if isinstance(x, torch.Tensor) and not x.is_complex():
        return x.detach().cpu().double().numpy(), None, None
    try:
        values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ExplainrTypeError(
            f"the window must hold real numbers (a DataFrame, array or tensor), got "
            f"{type(x).__name__}: {error}"
        ) from None
    return values, None, None
