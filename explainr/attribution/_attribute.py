"""`attribute`: one pipeline for every method.

normalise inputs -> validate -> the method's private ``compute`` -> format an `Attribution`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from explainr._core.budget import check_memory
from explainr._core.defaults import DEFAULTS
from explainr._core.errors import ExplainrError, ExplainrValueError
from explainr._core.frames import Frame, frame_of, target_label_of
from explainr._core.inputs import (
    Inputs,
    check_choice,
    check_count,
    check_flag,
    check_seed,
)
from explainr._core.model import Prepared, prepare
from explainr._core.state import preserved
from explainr.adapters import Adapter, Windows, window_defaults
from explainr.attribution import (
    _contextual_decomposition,
    _exact_shapley,
    _gradient_shap,
    _integrated_gradients,
    _kernel_shap,
    _lime,
    _lrp,
    _occlusion,
)
from explainr.attribution._groups import Grouping, make_grouping
from explainr.attribution._patches import default_patch, make_patch_grouping
from explainr.attribution._problem import Computed, Problem
from explainr.attribution._result import Attribution, concat, with_time_labels


@dataclass(frozen=True)
class _Method:
    compute: Callable[[Problem], Computed]
    max_groups: int | None = None  # refuse groupings larger than this
    # bytes the method's largest arrays need, what is computed, what to lower
    needs: Callable[[Problem], tuple[float, str, str]] | None = None


METHODS: dict[str, _Method] = {
    "integrated_gradients": _Method(
        _integrated_gradients.compute, needs=_integrated_gradients.needs
    ),
    "gradient_shap": _Method(_gradient_shap.compute, needs=_gradient_shap.needs),
    "kernel_shap": _Method(_kernel_shap.compute, needs=_kernel_shap.needs),
    "exact_shapley": _Method(_exact_shapley.compute, max_groups=_exact_shapley.MAX_GROUPS),
    "lime": _Method(_lime.compute, needs=_lime.needs),
    "occlusion": _Method(_occlusion.compute),
    "lrp": _Method(_lrp.compute),
    "contextual_decomposition": _Method(_contextual_decomposition.compute),
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
    lrp_eps: float = _lrp.DEFAULT_EPS,
    lrp_bias: str = "absorbed",
    time_labels: list[str] | None = None,
    raw: Any = None,
    patch: int | None = None,
) -> Attribution:
    """Attribute a recurrent model's prediction to its input cells (time step x feature).

    Methods: ``"integrated_gradients"`` (captum), ``"gradient_shap"`` (expected gradients,
    own seeded draws), ``"kernel_shap"`` (Lundberg & Lee's estimator over groups, own seeded
    coalitions), ``"exact_shapley"`` (every coalition of
    at most 16 groups: the reference), ``"lime"`` (lime, over groups) and ``"occlusion"``
    (a window of ``window`` steps sliding over time), ``"lrp"`` (layer-wise relevance
    propagation through the gates, Arras et al. 2017: one pass, values sum to f(x) less
    what biases absorbed) and ``"contextual_decomposition"`` (Murdoch et al. 2018: each
    group's relevant part of the output); the last two follow the model's own structure
    (``nn.LSTM``, ``nn.GRU`` or ``explainr.nn.PeepholeLSTM`` then linear layers,
    activations, indexing) and raise `ExplainrError` naming anything else. Grouped methods replace a removed
    group by the baseline and spread a group's value evenly over its cells. The model runs
    in eval mode; its training flags, ``requires_grad`` and hooks are restored afterwards.
    Bad arguments raise `ExplainrTypeError` / `ExplainrValueError` (both `ExplainrError`);
    a request whose arrays would exceed the memory limit (`explainr._core.budget`) is
    refused before it starts, with the estimate.

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
        seed: seed of the sampling methods' own generators: the same seed gives
            bit-identical values, also with other threads running; the global numpy,
            torch and Python generators are never read or moved.
        progress: show a tqdm progress bar over the windows (default off).
        feature_names: one name per feature (default: DataFrame columns or f0, f1, ...).
        lrp_eps: lrp's ε-rule stabiliser (default 1e-3).
        lrp_bias: lrp's treatment of bias and stabiliser relevance: ``"absorbed"`` (default;
            the amount is in ``settings["absorbed_relevance"]``) or ``"redistributed"``
            equally over the inputs of each neuron (exactly conservative).
        time_labels: one label per time step (default: the DataFrame's index or 0, 1, ...).
        raw: the same windows in original units (e.g. before scaling), the shape of ``x``;
            kept as ``.data`` (default: ``x`` as given).
        patch: for frame inputs, the side of the square patches the perturbation methods
            group (default: about 4 x 4 patches per frame); see below.

    Frames: ``x`` may be ``(batch, time, channels, height, width)``; the model gets it in
    that layout (baselines: one window ``(time, channels, height, width)`` or a set). ``values`` are
    then ``(batch, time, channels*height*width)`` with ``frame_shape`` set and
    ``.frames`` giving ``(batch, time, channels, height, width)``. ``group_by`` for frames:
    ``"time_patch"`` (the default ``"time_feature"`` means it), ``"patch"`` (``"feature"``),
    ``"channel_patch"``, ``"time_channel_patch"`` or ``"time"``
    (`explainr.attribution._patches`). A model that forecasts a frame (output ``(batch,
    channels, height, width)`` or ``(batch, height, width)``) is explained for
    ``target=(row, col)``, ``(channel, row, col)``, a boolean mask (the region's mean) or
    ``"mean"``.

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
    if isinstance(x, Windows):
        return _attribute_windows(model, x, method, locals())
    started = time.perf_counter()
    _method(method)
    check_count(n_steps, "n_steps")
    check_count(n_samples, "n_samples", optional=True)
    check_seed(seed)
    check_flag(progress, "progress")
    with preserved(model) if isinstance(model, nn.Module) else contextlib.nullcontext():
        ready = prepare(model, x, target=target, baselines=baselines, feature_names=feature_names)
        data = _raw(raw, with_time_labels(ready.inputs, time_labels))
        attribution = attribute_prepared(
            ready,
            method,
            window=window,
            group_by=group_by,
            n_steps=n_steps,
            n_samples=n_samples,
            seed=seed,
            progress=progress,
            time_labels=time_labels,
            options={"eps": lrp_eps, "bias": lrp_bias},
            started=started,
            patch=patch,
        )
    return attribution if data is None else replace(attribution, data=data)


def _attribute_windows(
    model: nn.Module, w: Windows, method: str, arguments: dict[str, Any]
) -> Attribution:
    """`attribute` of `Windows`: their names and labels, an adapter's default baseline, and
    each window's side inputs bound while that window is explained."""
    arguments = {k: v for k, v in arguments.items() if k not in ("model", "x", "method")}
    filled = window_defaults(
        model,
        w,
        target=arguments["target"],
        baselines=arguments["baselines"],
        feature_names=arguments["feature_names"],
        time_labels=arguments["time_labels"],
    )
    arguments.update(
        target=filled.target,
        baselines=filled.baselines,
        feature_names=filled.feature_names,
        time_labels=filled.time_labels,
    )
    raw = arguments.pop("raw")
    parts = []
    for i in range(len(w)) if w.context else [slice(None)]:
        one = w[i] if w.context else w
        rows = raw if raw is None or not w.context else np.asarray(raw)[i : i + 1]
        bound = model.using(one.context) if isinstance(model, Adapter) else contextlib.nullcontext()
        with bound:
            parts.append(attribute(model, one.x, method, raw=rows, **arguments))
    result = concat(parts)
    if filled.note:
        result = replace(result, settings={**result.settings, "baselines": filled.note})
    return result


def attribute_prepared(
    ready: Prepared,
    method: str,
    *,
    window: int | None = None,
    group_by: str = DEFAULTS.group_by,
    n_steps: int = DEFAULTS.n_steps,
    n_samples: int | None = None,
    seed: int = DEFAULTS.seed,
    progress: bool = DEFAULTS.progress,
    time_labels: list[str] | None = None,
    options: dict[str, Any] | None = None,
    started: float | None = None,
    patch: int | None = None,
) -> Attribution:
    """`attribute` on windows made ready by `explainr._core.model.prepare` (inside
    ``preserved(model)``): several methods share one normalisation and one probe.
    """
    started = time.perf_counter() if started is None else started
    spec = _method(method)
    inputs = with_time_labels(ready.inputs, time_labels)
    check_count(n_steps, "n_steps")
    check_count(n_samples, "n_samples", optional=True)
    check_seed(seed)
    check_flag(progress, "progress")
    frame = frame_of(ready.model)
    grouping = _grouping(spec, method, inputs, window, group_by, frame, patch)
    problem = Problem(
        method=method,
        model=ready.scalar,
        x=ready.x,
        baselines=ready.background,
        grouping=grouping,
        prediction=ready.prediction.double().cpu().numpy(),
        n_steps=int(n_steps),
        n_samples=None if n_samples is None else int(n_samples),
        seed=int(seed),
        progress=progress,
        options=dict(options or {"eps": _lrp.DEFAULT_EPS, "bias": "absorbed"}),
    )
    if spec.needs is not None:
        check_memory(*spec.needs(problem))
    computed = _finite(problem, spec.compute(problem))
    result = _format(
        problem,
        computed,
        inputs,
        ready.target,
        ready.baseline_prediction,
        len(ready.background),
        started,
    )
    return _on_grid(result, frame, target_label_of(ready.model), patch, grouping)


def _on_grid(
    result: Attribution,
    frame: Frame | None,
    target: str | None,
    patch: int | None,
    grouping: Grouping,
) -> Attribution:
    """``result`` with its frame shape, grid target and patch side noted."""
    settings = dict(result.settings)
    if target is not None:
        settings["target"] = target
    if frame is None:
        return replace(result, settings=settings) if target is not None else result
    if "patch" in grouping.group_by:
        settings["patch"] = int(patch) if patch is not None else default_patch(frame)
    return replace(result, settings=settings, frame_shape=list(frame.shape))


def _raw(raw: Any, inputs: Inputs) -> np.ndarray | None:
    if raw is None:
        return None
    if isinstance(raw, pd.DataFrame):
        raw = raw.to_numpy(dtype=np.float64)
    array = np.asarray(raw.detach().cpu() if isinstance(raw, torch.Tensor) else raw)
    array = array[None] if array.ndim == 2 else array
    if array.ndim in (4, 5) and array.size == inputs.x.numel():  # frames, as x was flattened
        array = array.reshape(tuple(inputs.x.shape))
    if array.shape != tuple(inputs.x.shape) or not np.issubdtype(array.dtype, np.number):
        raise ExplainrError(
            f"raw has shape {np.shape(raw)} ({array.dtype}); it must be the explained windows "
            f"in original units, numbers of the same shape as x {tuple(inputs.x.shape)}"
        )
    return array


def _method(method: Any) -> _Method:
    return METHODS[check_choice(method, "method", sorted(METHODS))]


def _finite(problem: Problem, computed: Computed) -> Computed:
    """``computed``, after checking that the method gave finite values for finite inputs."""
    found = computed.values if computed.values is not None else computed.group_values
    array = np.asarray(found, dtype=np.float64)
    if np.isfinite(array).all():
        return computed
    windows = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
    raise ExplainrValueError(
        f"{problem.method} produced NaN/Inf values for windows {windows[:10].tolist()} of x "
        f"{tuple(problem.x.shape)}, although x, the baselines and f(x) are finite: the model "
        "gives non-finite outputs (or gradients) between x and the baseline. Check the model "
        "on mixed inputs, or use a baseline closer to the data (e.g. the training mean)"
    )


def _grouping(
    spec: _Method,
    method: str,
    inputs: Inputs,
    window: int | None,
    group_by: str,
    frame: Frame | None = None,
    patch: int | None = None,
) -> Grouping:
    _, steps, features = inputs.x.shape
    limit = EXACT_DEFAULT_GROUPS if spec.max_groups is not None else None
    if frame is not None:
        grouping = make_patch_grouping(
            frame, steps, window, group_by, patch, inputs.time_labels, limit
        )
    elif patch is not None:
        raise ExplainrError(
            f"patch={patch!r} groups cells of frames, but x is (batch, time, feature); pass "
            "frames (batch, time, channels, height, width) or leave patch=None"
        )
    else:
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
