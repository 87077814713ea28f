"""`attribute`: one pipeline for every method.

normalise inputs -> validate -> the method's private ``compute`` -> format an `Attribution`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from explainr._errors import ExplainrError
from explainr.attribution import (
    _exact_shapley,
    _gradient_shap,
    _integrated_gradients,
    _kernel_shap,
    _lime,
    _occlusion,
)
from explainr.attribution._defaults import DEFAULTS
from explainr.attribution._groups import Grouping, make_grouping
from explainr.attribution._inputs import (
    Inputs,
    check_count,
    check_seed,
    to_baselines,
    to_inputs,
)
from explainr.attribution._model import ScalarModel, model_device_dtype, preserved
from explainr.attribution._problem import Computed, Problem
from explainr.attribution._result import Attribution, with_time_labels


@dataclass(frozen=True)
class _Method:
    compute: Callable[[Problem], Computed]
    max_groups: int | None = None  # refuse groupings larger than this


METHODS: dict[str, _Method] = {
    "integrated_gradients": _Method(_integrated_gradients.compute),
    "gradient_shap": _Method(_gradient_shap.compute),
    "kernel_shap": _Method(_kernel_shap.compute),
    "exact_shapley": _Method(_exact_shapley.compute, max_groups=_exact_shapley.MAX_GROUPS),
    "lime": _Method(_lime.compute),
    "occlusion": _Method(_occlusion.compute),
}
EXACT_DEFAULT_GROUPS = 12  # default window for exact_shapley keeps groups at or under this


def attribute(
    model: nn.Module,
    x: Any,
    method: str = DEFAULTS.method,
    *,
    target: int | None = None,
    baselines: Any = None,
    window: int | None = None,
    group_by: str = DEFAULTS.group_by,
    n_steps: int = DEFAULTS.n_steps,
    n_samples: int | None = None,
    seed: int = DEFAULTS.seed,
    progress: bool = DEFAULTS.progress,
    feature_names: list[str] | None = None,
    time_labels: list[str] | None = None,
    raw: Any = None,
) -> Attribution:
    """Attribute a recurrent model's prediction to its input cells (time step x feature).

    Methods: ``"integrated_gradients"`` (captum), ``"gradient_shap"`` (expected gradients,
    captum), ``"kernel_shap"`` (shap, over groups), ``"exact_shapley"`` (every coalition of
    at most 16 groups: the reference), ``"lime"`` (lime, over groups) and ``"occlusion"``
    (a window of ``window`` steps sliding over time). Grouped methods replace a removed
    group by the baseline and spread a group's value evenly over its cells. The model runs
    in eval mode; its training flags, ``requires_grad`` and hooks are restored afterwards.

    Args:
        model: a torch module taking ``(batch, time, feature)`` and returning ``(batch,)``,
            ``(batch, 1)``, ``(batch, outputs)`` or a tuple whose first element is one.
        x: windows ``(batch, time, feature)`` or one window ``(time, feature)``: a tensor,
            numpy array or DataFrame (one window; columns name features, index labels time).
        method: one of the names above.
        target: output column to explain; required when the model has several outputs.
        baselines: None (zeros), a number, one window ``(time, feature)`` or a background
            set ``(n, time, feature)`` whose results are averaged.
        window: time steps per group (block); None picks a default, stored on the result.
        group_by: ``"time_feature"`` (block x feature, the default), ``"time"`` (block x
            all features) or ``"feature"`` (feature x whole window).
        n_steps: integration steps of integrated gradients.
        n_samples: samples of the sampling methods (gradient_shap: 200, kernel_shap:
            2 G + 2048, lime: 5000 by default).
        seed: seed of the sampling methods; the same seed gives bit-identical values.
        progress: show a tqdm progress bar over the windows (default off).
        feature_names: one name per feature (default: DataFrame columns or f0, f1, ...).
        time_labels: one label per time step (default: the DataFrame's index or 0, 1, ...).
        raw: the same windows in original units (e.g. before scaling), the shape of ``x``;
            kept as ``.data`` (default: ``x`` as given).

    Defaults are shared with `explain` and the command line (`explainr.attribution._defaults`).

    Returns:
        An `Attribution`: ``values`` ``(batch, time, feature)`` (a single window keeps a
        batch of 1), ``base_values`` (f(baseline)), ``data`` (the windows),
        ``group_values`` ``(batch, groups)``, predictions and settings.

    >>> import torch, explainr
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.LSTM(3, 8, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[0][:, -1])
    >>> a = explainr.attribute(Net(), torch.randn(2, 20, 3), progress=False)
    >>> a.values.shape, a.by_time().shape, bool(a.completeness_error.max() < 0.05)
    ((2, 20, 3), (2, 20), True)
    """
    started = time.perf_counter()
    spec = _method(method)
    if not isinstance(model, nn.Module):
        raise ExplainrError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = with_time_labels(to_inputs(x, feature_names), time_labels)
    data = _raw(raw, inputs)
    _, steps, features = inputs.x.shape
    check_count(n_steps, "n_steps")
    check_count(n_samples, "n_samples", optional=True)
    check_seed(seed)
    grouping = _grouping(spec, method, inputs, window, group_by)
    background = to_baselines(baselines, (steps, features))
    device, dtype = model_device_dtype(model)
    xs, background = inputs.x.to(device, dtype), background.to(device, dtype)
    with preserved(model):
        scalar, prediction = ScalarModel.probe(model, xs, target)
        baseline_prediction = scalar.evaluate(background).double().mean().item()
        problem = Problem(
            method=method,
            model=scalar,
            x=xs,
            baselines=background,
            grouping=grouping,
            prediction=prediction.double().cpu().numpy(),
            n_steps=int(n_steps),
            n_samples=None if n_samples is None else int(n_samples),
            seed=int(seed),
            progress=progress,
        )
        computed = spec.compute(problem)
    attribution = _format(
        problem, computed, inputs, target, baseline_prediction, len(background), started
    )
    return attribution if data is None else replace(attribution, data=data)


def _raw(raw: Any, inputs: Inputs) -> np.ndarray | None:
    if raw is None:
        return None
    if isinstance(raw, pd.DataFrame):
        raw = raw.to_numpy(dtype=np.float64)
    array = np.asarray(raw.detach().cpu() if isinstance(raw, torch.Tensor) else raw)
    array = array[None] if array.ndim == 2 else array
    if array.shape != tuple(inputs.x.shape) or not np.issubdtype(array.dtype, np.number):
        raise ExplainrError(
            f"raw has shape {np.shape(raw)} ({array.dtype}); it must be the explained windows "
            f"in original units, numbers of the same shape as x {tuple(inputs.x.shape)}"
        )
    return array


def _method(method: Any) -> _Method:
    if method not in METHODS:
        raise ExplainrError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    return METHODS[method]


def _grouping(
    spec: _Method, method: str, inputs: Inputs, window: int | None, group_by: str
) -> Grouping:
    _, steps, features = inputs.x.shape
    limit = EXACT_DEFAULT_GROUPS if spec.max_groups is not None else None
    grouping = make_grouping(
        steps, features, window, group_by, inputs.feature_names, inputs.time_labels, limit
    )
    if spec.max_groups is not None and grouping.size > spec.max_groups:
        raise ExplainrError(
            f"{method} evaluates all 2**G coalitions and window={grouping.window}, "
            f"group_by={group_by!r} gives G={grouping.size} groups for (time, feature) = "
            f"({steps}, {features}); use at most {spec.max_groups} groups (a larger window, "
            "or group_by='time') or method='kernel_shap'"
        )
    return grouping


def _format(
    problem: Problem,
    computed: Computed,
    inputs: Inputs,
    target: int | None,
    baseline_prediction: float,
    n_baselines: int,
    started: float,
) -> Attribution:
    grouping = problem.grouping
    if computed.values is not None:
        values = computed.values
        group_values = grouping.sum_cells(values)
    else:
        group_values = np.asarray(computed.group_values, dtype=np.float64)
        values = grouping.spread(group_values)
    settings = {"baselines": n_baselines, "groups": grouping.size, **computed.settings}
    return Attribution(
        method=problem.method,
        values=values,
        prediction=problem.prediction,
        baseline_prediction=np.full(len(values), baseline_prediction),
        target=None if target is None else problem.model.column,
        feature_names=inputs.feature_names,
        time_labels=inputs.time_labels,
        group_values=group_values,
        groups=grouping.groups,
        window=grouping.window,
        group_by=grouping.group_by,
        settings=settings,
        seconds=time.perf_counter() - started,
        data=inputs.x.numpy(),
        grouped=computed.values is None,
    )
