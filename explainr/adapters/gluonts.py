"""GluonTS torch DeepAR: a predictor with its dataset, as an `Adapter`.

GluonTS's ``DeepARModel`` takes six tensors (static categoricals and reals, past and
future time features, the past target and its observed mask). Its past target holds
``context_length + max lag`` steps: the LSTM runs over the last ``context_length`` of them,
each step reading the target at its lags (e.g. 24 of 30 steps for a yearly series with
lags 1..7). `GluonTSAdapter` takes that past target in original units as the window (and
the past of the series' dynamic reals, ``feat_dynamic_real``, as further features), applies
the model's mean scaling inside (the scale is the window's mean absolute value over
its last ``context_length`` steps, so it moves with the window) and returns the
deterministic mean forecast in original units:

- step 1: the mean of the library's one-step distribution (``output_distribution(...).mean``);
- each later step: the library's decoder loop with the earlier steps' means fed back where
  its ``forward`` feeds a sample ("mean path": deterministic, not the mean over sampled
  paths).

Each window's static features, calendar and age features, the dynamic reals' future
values and the observed mask ride in `Windows.context` and are held fixed while it is
attributed.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError
from explainr._core.state import preserved
from explainr._core.windows import Windows
from explainr.adapters._adapter import Adapter, pick_windows

_CONTEXT = (
    "feat_static_cat",
    "feat_static_real",
    "past_time_feat",
    "past_observed_values",
    "future_time_feat",
)


def adapt(fitted: Any, data: Any = None, **options: Any) -> GluonTSAdapter:
    """A GluonTS torch DeepAR predictor with the dataset it forecasts, as an `Adapter`.

    Args:
        fitted: the ``PyTorchPredictor`` that ``DeepAREstimator.train`` returned.
        data: a GluonTS dataset (``ListDataset``, ``PandasDataset``, or a list of entries
            with ``start`` and ``target``); windows end at every step of every series.
        **options: ``dynamic_names=[...]``: names of the series' ``feat_dynamic_real`` rows
            (default ``feat_dynamic_real 0``, ...).

    Returns:
        A `GluonTSAdapter`: windows ``(batch, context + max lag, 1 + dynamic reals)`` (the
        past target, then the past dynamic reals) in original units to the mean forecast
        ``(batch, prediction length)``.

    ``explainr.adapt(predictor, dataset)`` calls this for a GluonTS predictor (the tests and
    ``examples/adapter_gluonts.py`` train one); anything else is refused:

    >>> import torch
    >>> from explainr.adapters import gluonts
    >>> gluonts.adapt(torch.nn.LSTM(1, 4), [])
    Traceback (most recent call last):
    ...
    explainr._core.errors.ExplainrError: explainr adapts GluonTS torch DeepAR predictors (DeepAREstimator(...).train(...)); got LSTM with network NoneType
    """
    unknown = sorted(set(options) - {"dynamic_names"})
    if unknown:
        raise ExplainrError(f"the GluonTS adapter takes the option dynamic_names=, got {unknown}")
    return GluonTSAdapter(fitted, data, dynamic_names=options.get("dynamic_names"))


class GluonTSAdapter(Adapter):
    """A GluonTS torch DeepAR predictor taking past-target windows (module docstring).

    Args:
        predictor: a GluonTS ``PyTorchPredictor`` whose network is a ``DeepARModel``; it is
            never changed (it runs in eval mode, its flags are restored).
        data: the GluonTS dataset the windows are cut from.
        dynamic_names: names of the series' dynamic reals (``feat_dynamic_real`` rows).

    Attributes:
        model: the ``DeepARModel`` (its LSTM records as ``model.rnn``).
        predictor: the predictor (its ``input_transform`` builds each window's inputs).
    """

    library = "gluonts"

    def __init__(
        self, predictor: Any, data: Any, *, dynamic_names: list[str] | None = None
    ) -> None:
        super().__init__()
        net = getattr(getattr(predictor, "prediction_net", None), "model", None)
        if type(net).__name__ != "DeepARModel":
            raise ExplainrError(
                f"explainr adapts GluonTS torch DeepAR predictors (DeepAREstimator(...).train"
                f"(...)); got {type(predictor).__name__} with network {type(net).__name__}"
            )
        if net.nonnegative_pred_samples:
            raise ExplainrError(
                "DeepAR with nonnegative_pred_samples=True clips its samples at 0, so its mean "
                "is not the distribution's; train with nonnegative_pred_samples=False"
            )
        if data is None:
            raise ExplainrError("data: pass the GluonTS dataset the predictor forecasts")
        self.predictor = predictor
        self.model = net
        self.entries = [dict(entry) for entry in data]
        if not self.entries:
            raise ExplainrError("data holds no series")
        self.steps = int(net._past_length)
        self.horizon = int(net.prediction_length)
        context = int(net.context_length)
        lags = [lag + 1 for lag in net.lags_seq]
        self.dynamic = _dynamic_count(self.entries[0])
        names = list(dynamic_names or [f"feat_dynamic_real {i}" for i in range(self.dynamic)])
        if len(names) != self.dynamic:
            raise ExplainrError(
                f"dynamic_names has {len(names)} names; the series have {self.dynamic} "
                "feat_dynamic_real rows"
            )
        self.feature_names = ["target", *names]
        self.target_names = [f"target t+{h}" for h in range(1, self.horizon + 1)]
        self.context_names = _CONTEXT
        self.point = "mean"
        self.encoder = {"model.rnn": 0}
        offset = self.steps - context
        back = ", ".join(str(lag) for lag in sorted(net.lags_seq))
        self.time_note = (
            f"DeepAR's LSTM runs over the last {context} of the window's {self.steps} steps (its "
            f"step k is window step {offset}+k) and at each step reads the target {back} steps "
            f"back (GluonTS lags {lags} of the step it predicts next); the first {offset} "
            "steps enter only through the lags"
        )
        self._ends = [
            (i, end)
            for i, entry in enumerate(self.entries)
            for end in range(self.steps, len(entry["target"]) + 1)
        ]
        if not self._ends:
            raise ExplainrError(
                f"no series is as long as the model's {self.steps} past steps; pass longer ones"
            )
        w = self.windows(last=1)
        if self.dynamic and not _is_last_rows(w, self.entries[self._ends[-1][0]], self.dynamic):
            raise ExplainrError(
                "the series have feat_dynamic_real rows the model does not read; train the "
                "estimator with num_feat_dynamic_real=<rows>, or drop them from the data"
            )
        self.baseline = np.tile(_mean_of(self.entries, self.dynamic), (self.steps, 1))
        self.baseline_note = "the data's mean per feature (all series, all steps)"
        if not np.array_equal(self.predict(w), self.predict(w)):
            raise ExplainrError(
                "the GluonTS model's forecast changed between two identical calls; explainr "
                "explains deterministic forecasts (please report this model)"
            )

    # -- Adapter ---------------------------------------------------------------------------

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        """``(batch, horizon)`` the mean forecast in original units of past targets ``x``."""
        running = any(m.training for m in self.model.modules())
        with preserved(self.model) if running else contextlib.nullcontext():
            if self.dynamic:  # the window's dynamic reals replace the last time-feature rows
                kept = context["past_time_feat"][..., : -self.dynamic].to(x.dtype)
                past = torch.cat((kept, x[..., 1:]), dim=-1)
                context = {**context, "past_time_feat": past}
            return mean_path(self.model, x[..., 0], context)

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        """Windows ending at every step of every series (series by series, oldest first).

        Args:
            last: keep the last ``last`` windows (None: all).
            stride: steps between the ends of consecutive windows, counted back from the
                last.
        """
        keep = pick_windows(len(self._ends), last, stride)
        cut = [self._cut(*self._ends[i]) for i in keep]
        batch = self._batch(cut)
        labels = [_labels(entry, self.steps) for entry in cut]
        return Windows(
            x=torch.cat(
                (
                    batch["past_target"][..., None],
                    batch["past_time_feat"][
                        ..., batch["past_time_feat"].shape[-1] - self.dynamic :
                    ],
                ),
                dim=-1,
            ).float(),
            feature_names=list(self.feature_names),
            time_labels=labels,
            starts=np.array([self._ends[i][1] - self.steps for i in keep], dtype=int),
            context={name: batch[name] for name in _CONTEXT},
        )

    # -- the library's own input pipeline --------------------------------------------------

    def _cut(self, series: int, end: int) -> dict[str, Any]:
        """Series ``series`` as it was at step ``end`` (its known features run on)."""
        entry = copy.copy(self.entries[series])
        entry["target"] = np.asarray(entry["target"])[..., :end]
        if "feat_dynamic_real" in entry:  # known ahead: the forecast needs the next steps
            entry["feat_dynamic_real"] = np.asarray(entry["feat_dynamic_real"])[
                ..., : end + self.horizon
            ]
        return entry

    def _batch(self, entries: list[dict[str, Any]]) -> dict[str, Tensor]:
        """The predictor's own transformation and batching of ``entries`` (one window each)."""
        from gluonts.dataset.loader import InferenceDataLoader
        from gluonts.torch.batchify import batchify
        from gluonts.transform import SelectFields

        names = ["past_target", *_CONTEXT]
        loader = InferenceDataLoader(
            entries,
            transform=self.predictor.input_transform + SelectFields(names, allow_missing=True),
            batch_size=len(entries),
            stack_fn=lambda data: batchify(data, torch.device("cpu")),
        )
        batch = next(iter(loader))
        return {name: torch.as_tensor(batch[name]) for name in names}


def mean_path(model: Any, past_target: Tensor, context: Mapping[str, Tensor]) -> Tensor:
    """``(batch, horizon)`` DeepARModel's mean forecast, each step fed the earlier means.

    The library's ``forward`` with ``distr.sample()`` replaced by ``distr.mean``: the
    first step's distribution comes from ``unroll_lagged_rnn`` over the context, each
    later one from one LSTM step on the lagged (scaled) targets, the means included.
    """
    from gluonts.torch.util import lagged_sequence_values

    future_time_feat = context["future_time_feat"].to(past_target.dtype)
    params, scale, _, static_feat, state = model.unroll_lagged_rnn(
        context["feat_static_cat"],
        context["feat_static_real"].to(past_target.dtype),
        context["past_time_feat"].to(past_target.dtype),
        past_target,
        context["past_observed_values"].to(past_target.dtype),
        future_time_feat[:, :1],
    )
    mean = model.output_distribution(params, trailing_n=1, scale=scale).mean  # (batch, 1)
    means, past = [mean], past_target / scale
    for k in range(1, model.prediction_length):
        scaled = mean / scale
        features = torch.cat((static_feat.unsqueeze(1), future_time_feat[:, k : k + 1]), dim=-1)
        lags = lagged_sequence_values(model.lags_seq, past, scaled, dim=-1)
        output, state = model.rnn(torch.cat((lags, features), dim=-1), state)
        past = torch.cat((past, scaled), dim=1)
        mean = model.output_distribution(model.param_proj(output), scale=scale).mean
        means.append(mean)
    return torch.cat(means, dim=1)


def _dynamic_count(entry: Mapping[str, Any]) -> int:
    """The number of ``feat_dynamic_real`` rows of a series (0 without)."""
    if entry.get("feat_dynamic_real") is None:
        return 0
    return int(np.atleast_2d(np.asarray(entry["feat_dynamic_real"])).shape[0])


def _is_last_rows(w: Windows, entry: Mapping[str, Any], k: int) -> bool:
    """Whether the window's last ``k`` features are ``entry``'s dynamic reals (GluonTS
    stacks them last in ``past_time_feat``; a model trained without them drops them)."""
    values = np.atleast_2d(np.asarray(entry["feat_dynamic_real"], dtype=np.float32))
    end = len(np.asarray(entry["target"]))
    expected = values[:, end - w.x.shape[1] : end].T
    return bool(np.allclose(w.x[-1, :, 1:].numpy(), expected, rtol=1e-6, atol=1e-6))


def _mean_of(entries: list[dict[str, Any]], k: int) -> np.ndarray:
    """``(1 + k,)`` the mean target and dynamic reals over every step of every series."""
    targets = np.concatenate([np.asarray(e["target"], dtype=np.float64) for e in entries])
    means = [np.nanmean(targets)]
    for row in range(k):
        values = [np.atleast_2d(np.asarray(e["feat_dynamic_real"]))[row] for e in entries]
        means.append(np.nanmean(np.concatenate(values).astype(np.float64)))
    return np.array(means)


def _labels(entry: Mapping[str, Any], steps: int) -> list[str]:
    """The time labels of the last ``steps`` steps of ``entry``'s target."""
    import pandas as pd

    start = entry["start"]
    n = len(np.asarray(entry["target"]))
    if isinstance(start, pd.Period):
        return [str(start + i) for i in range(n - steps, n)]
    return [str(i) for i in range(n - steps, n)]
