"""darts ``RNNModel`` / ``BlockRNNModel`` as an explainr `Adapter`.

``explainr.adapt(model, series, past_covariates=..., future_covariates=..., n=..., scaler=...)``
gives a module from windows in the series' original units to darts' own point forecast of
the next ``n`` steps, in original units. Inside, the adapter runs darts' own prediction loop
(``PLForecastingModule._get_batch_prediction``: one call for a ``BlockRNNModel`` with
``n <= output_chunk_length``, darts' autoregressive loop otherwise; ``RNNModel`` feeds each
forecast back with its hidden state, one step at a time).

- A window ``x`` is ``(input_chunk_length, feature)``: the target's components, then the
  past covariates, then the future covariates at the same times (darts' "historic future
  covariates"). Covariate values after the window that darts also reads (future
  covariates over the horizon, past covariates during autoregression) and static
  covariates are the window's side inputs in `Windows.context`, held fixed while the window
  is attributed.
- darts models do not scale internally. When the series (or covariates) were scaled by a
  fitted ``darts.dataprocessing.transformers.Scaler`` before ``fit``, pass the data in its
  original units with ``scaler=`` (the target's Scaler, or ``{"series": ...,
  "past_covariates": ..., "future_covariates": ...}``): the Scaler's transform and its
  inverse (affine per component, e.g. MinMaxScaler or StandardScaler) are folded into the
  module, so windows, baselines and attributions are in original units.
- The encoder: the first call of darts' ``rnn`` runs over the window; later calls are
  autoregressive steps (``RNNModel``: one step each with the carried hidden state;
  ``BlockRNNModel`` with ``n > output_chunk_length``: the window rolled forward over its
  own forecasts). The first call is marked (``encoder = {"net.rnn": 0}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count, time_labels_of
from explainr._core.windows import Windows
from explainr.adapters._adapter import Adapter, pick_windows

# the darts model classes this adapter knows, by class name
MODELS = ("RNNModel", "BlockRNNModel")
# covariate kinds, as darts names them, in the order of the window's columns
KINDS = ("past_covariates", "future_covariates")


class DartsAdapter(Adapter):
    """A fitted darts RNN model with its series: windows in original units -> forecast.

    Args:
        fitted: a fitted ``RNNModel`` or ``BlockRNNModel``.
        series: the target ``TimeSeries`` in original units.
        past_covariates: ``TimeSeries`` the model was fitted with (original units), or None.
        future_covariates: ``TimeSeries`` the model was fitted with (original units), or None.
        n: steps forecast (darts' ``predict(n)``); default ``output_chunk_length``.
        scaler: fitted darts ``Scaler`` of the target, or a dict of Scalers by
            ``"series"`` / ``"past_covariates"`` / ``"future_covariates"``; None when the
            model was fitted on unscaled data.
    """

    library = "darts"

    def __init__(
        self,
        fitted: Any,
        series: Any,
        *,
        past_covariates: Any = None,
        future_covariates: Any = None,
        n: int | None = None,
        scaler: Any = None,
    ) -> None:
        super().__init__()
        net = _check_model(fitted)
        self.fitted = fitted
        self.net = net  # darts' PLForecastingModule: module names are "net.rnn", ...
        self.series = _check_series(series, "series")
        self.covariates = {
            "past_covariates": _check_covariates(fitted, past_covariates, "past_covariates"),
            "future_covariates": _check_covariates(fitted, future_covariates, "future_covariates"),
        }
        check_count(n, "n", optional=True)
        self.n = int(n) if n is not None else int(fitted.output_chunk_length)
        self.icl = int(fitted.input_chunk_length)
        self.ocl = int(fitted.output_chunk_length)
        self.sizes = [self.series.n_components] + [
            cov.n_components if cov is not None else 0 for cov in self.covariates.values()
        ]
        scale, shift = _affine(scaler, self.series, self.covariates)
        self.register_buffer("scale", torch.as_tensor(scale))  # (feature,): x * scale + shift
        self.register_buffer("shift", torch.as_tensor(shift))  # is what the model was fed
        self.statics = _statics(fitted, self.series)
        self.feature_names = [str(c) for c in self.series.components] + [
            str(c) for cov in self.covariates.values() if cov is not None for c in cov.components
        ]
        targets = [str(c) for c in self.series.components]
        self.target_names = [f"{c} t+{k}" for k in range(1, self.n + 1) for c in targets]
        self.point = "point"
        self.context_names = tuple(_context_names(self))
        self.baseline = np.tile(_training_mean(self.series, self.covariates), (self.icl, 1))
        self.baseline_note = "the training mean (each series' mean over its whole span)"
        if isinstance(getattr(net, "rnn", None), nn.RNNBase):
            # call 0 runs over the window; later calls are autoregressive steps
            self.encoder = {"net.rnn": 0}
        if type(fitted).__name__ == "RNNModel" and future_covariates is not None:
            self.time_note = (
                "darts' RNNModel reads the target at t with the future covariates at t+1: "
                "the window's covariate row t feeds the RNN's step t-1 (its first row is "
                "not read; the last step reads the first horizon step's covariates)"
            )
        self.ends = _window_ends(self)

    # -- windows ----------------------------------------------------------------------------

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        """The windows darts forecasts from, oldest first (the last ends at the series' end
        when the covariates reach far enough).

        Args:
            last: keep the most recent ``last`` windows (None: every window).
            stride: steps between the ends of consecutive windows.

        Returns:
            `Windows`: ``x`` ``(n, input_chunk_length, feature)`` in original units, labelled
            by the series' time index; ``context`` the covariates after each window.
        """
        ends = [self.ends[i] for i in pick_windows(len(self.ends), last, stride)]
        samples = _samples(self, ends)
        x = torch.cat([s for s in samples[:3] if s is not None], dim=2)
        labels = time_labels_of(self.series.time_index)
        context = dict(zip(CONTEXT, samples[3:], strict=True))
        return Windows(
            x=x.float(),
            feature_names=list(self.feature_names),
            time_labels=[labels[e - self.icl : e] for e in ends],
            starts=np.asarray(ends) - self.icl,
            context={name: v.float() for name, v in context.items() if v is not None},
        )

    # -- the model --------------------------------------------------------------------------

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        """darts' point forecast ``(batch, n * target)`` of windows ``x`` in original units."""
        from darts.utils.data.torch_datasets.utils import TorchInferenceBatch

        c, p, f = self.sizes
        scale, shift = self.scale.to(x.dtype), self.shift.to(x.dtype)
        z = x * scale + shift
        cols = {"past_target": z[..., :c], "past_covariates": z[..., c : c + p]}
        cols["historic_future_covariates"] = z[..., c + p : c + p + f]
        columns = {"future_past_covariates": (c, c + p), "future_covariates": (c + p, c + p + f)}
        for name, (lo, hi) in columns.items():
            if name in context:
                cols[name] = context[name].to(x.dtype) * scale[lo:hi] + shift[lo:hi]
        if "static_covariates" in context:
            cols["static_covariates"] = context["static_covariates"].to(x.dtype)
        batch = TorchInferenceBatch(
            **{name: (value if value.shape[-1] else None) for name, value in cols.items()}
        )
        with _evaluating(self.net):
            out = self.net._get_batch_prediction(self.n, batch, self.ocl)  # (batch, n, target)
        out = (out - shift[:c]) / scale[:c]
        return out.reshape(len(x), -1)


CONTEXT = ("future_past_covariates", "future_covariates", "static_covariates")


def adapt(fitted: Any, data: Any = None, **options: Any) -> DartsAdapter:
    """A fitted darts ``RNNModel`` / ``BlockRNNModel`` with its ``TimeSeries``, explainable.

    Args:
        fitted: the fitted darts model.
        data: the target ``TimeSeries`` in original units.
        **options: ``past_covariates``, ``future_covariates`` (``TimeSeries``), ``n``
            (steps forecast), ``scaler`` (see `DartsAdapter`).

    Returns:
        A `DartsAdapter`: ``ad.windows(last=k)`` cuts windows, ``ad.predict(w)`` equals
        ``fitted.predict(n, series=...)`` for them.

    >>> import numpy as np, explainr
    >>> from darts import TimeSeries
    >>> from darts.models import BlockRNNModel
    >>> series = TimeSeries.from_values(np.sin(np.arange(60) / 4).astype("float32"))
    >>> model = BlockRNNModel(6, 2, model="GRU", hidden_dim=4, n_epochs=1, random_state=0,
    ...     pl_trainer_kwargs={"enable_progress_bar": False, "logger": False})
    >>> model = model.fit(series, verbose=False)
    >>> ad = explainr.adapt(model, series)
    >>> w = ad.windows(last=2)
    >>> tuple(w.x.shape), ad.target_names, ad.predict(w).shape
    ((2, 6, 1), ['0 t+1', '0 t+2'], (2, 2))
    """
    if data is None:
        raise ExplainrError(
            "explainr.adapt(darts_model, series): pass the target TimeSeries the model "
            "forecasts from (in original units)"
        )
    allowed = {"past_covariates", "future_covariates", "n", "scaler"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ExplainrError(
            f"explainr.adapt got unknown options {unknown} for a darts model; it takes "
            f"{sorted(allowed)}"
        )
    return DartsAdapter(fitted, data, **options)


# -- checks -----------------------------------------------------------------------------------


def _check_model(fitted: Any) -> nn.Module:
    name = type(fitted).__name__
    if name not in MODELS:
        raise ExplainrError(
            f"explainr's darts adapter takes {' or '.join(MODELS)}, got {name}; other darts "
            "models are not recurrent"
        )
    try:
        from darts.utils.data.torch_datasets.utils import TorchInferenceBatch  # noqa: F401
    except ImportError as error:
        raise ExplainrError(
            "explainr's darts adapter needs darts >= 0.48 (its PLModuleInput API): "
            "pip install -U 'explainr[darts]'"
        ) from error
    net = getattr(fitted, "model", None)
    if not isinstance(net, nn.Module) or not getattr(fitted, "_fit_called", False):
        raise ExplainrError(f"the darts {name} is not fitted yet: call model.fit(series) first")
    if fitted.likelihood is not None:
        raise ExplainrError(
            f"this darts {name} has a likelihood ({type(fitted.likelihood).__name__}): its "
            "forecasts are sampled draws, which give random attributions; explainr's darts "
            "adapter takes deterministic models (likelihood=None)"
        )
    return net


def _check_series(series: Any, name: str) -> Any:
    from darts import TimeSeries

    if not isinstance(series, TimeSeries):
        raise ExplainrError(f"{name} must be a darts TimeSeries, got {type(series).__name__}")
    if series.n_samples != 1:
        raise ExplainrError(
            f"{name} holds {series.n_samples} samples per step; pass a deterministic series"
        )
    return series


def _check_covariates(fitted: Any, cov: Any, kind: str) -> Any:
    uses = bool(getattr(fitted, f"uses_{kind}"))
    if cov is None and uses:
        raise ExplainrError(
            f"the darts model was fitted with {kind}: pass {kind}=<TimeSeries> to explainr.adapt"
        )
    if cov is not None and not uses:
        raise ExplainrError(f"the darts model was fitted without {kind}: do not pass {kind}=")
    return _check_series(cov, kind) if cov is not None else None


def _statics(fitted: Any, series: Any) -> Tensor | None:
    if not fitted.uses_static_covariates:
        return None
    values = series.static_covariates_values(copy=True)
    if values is None:
        raise ExplainrError("the darts model uses static covariates but the series has none")
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


# -- scaling ----------------------------------------------------------------------------------


def _affine(scaler: Any, series: Any, covariates: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per column of the window, ``(scale, shift)`` with ``scaled = x * scale + shift``."""
    scalers = _scalers(scaler)
    scales, shifts = [], []
    for kind, ts in (("series", series), *covariates.items()):
        if ts is None:
            continue
        if kind in scalers:
            scale, shift = _probe(scalers[kind], ts, kind)
        else:
            scale, shift = np.ones(ts.n_components), np.zeros(ts.n_components)
        scales.append(scale)
        shifts.append(shift)
    return np.concatenate(scales), np.concatenate(shifts)


def _scalers(scaler: Any) -> dict[str, Any]:
    if scaler is None:
        return {}
    if isinstance(scaler, Mapping):
        unknown = sorted(set(scaler) - {"series", *KINDS})
        if unknown:
            raise ExplainrError(
                f"scaler= keys {unknown} are unknown; use 'series', 'past_covariates', "
                "'future_covariates'"
            )
        return dict(scaler)
    return {"series": scaler}


def _probe(scaler: Any, ts: Any, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The Scaler's transform of ``ts`` as ``x * scale + shift`` per component (checked)."""
    if type(scaler).__name__ != "Scaler" or not getattr(scaler, "_fit_called", False):
        raise ExplainrError(
            f"scaler for {kind} must be a fitted darts.dataprocessing.transformers.Scaler, "
            f"got {type(scaler).__name__}"
        )
    wide = ts.astype(np.float64)  # probe in float64: a float32 difference of two
    ones = np.ones((len(ts), ts.n_components, 1))  # transforms would lose digits
    try:
        zero = scaler.transform(wide.with_values(0 * ones)).values(copy=True)
        one = scaler.transform(wide.with_values(ones)).values(copy=True)
        real = scaler.transform(wide).values(copy=True)
    except Exception as error:  # darts' own error, e.g. a Scaler fitted on other components
        raise ExplainrError(f"the scaler for {kind} could not transform it: {error}") from error
    shift, scale = zero[0], one[0] - zero[0]
    expected = wide.values(copy=True) * scale + shift
    if np.abs(real - expected).max() > 1e-6 * (1.0 + np.abs(real).max()):
        raise ExplainrError(
            f"the scaler for {kind} is not affine per component (e.g. a log or power "
            "transform); explainr folds only affine Scalers (MinMaxScaler, StandardScaler, "
            "...) into the model: pass data the model was fitted on and scaler=None"
        )
    if np.any(scale == 0):
        raise ExplainrError(f"the scaler for {kind} maps a component to a constant")
    return scale.astype(np.float64), shift.astype(np.float64)


# -- windows ----------------------------------------------------------------------------------


def _context_names(ad: DartsAdapter) -> list[str]:
    names = []
    if ad.covariates["past_covariates"] is not None and ad.n > ad.ocl:
        names.append("future_past_covariates")
    if ad.covariates["future_covariates"] is not None:
        names.append("future_covariates")
    if ad.statics is not None:
        names.append("static_covariates")
    return names


def _training_mean(series: Any, covariates: dict[str, Any]) -> np.ndarray:
    parts = [series] + [cov for cov in covariates.values() if cov is not None]
    return np.concatenate([ts.values(copy=False).mean(0) for ts in parts]).astype(np.float64)


def _window_ends(ad: DartsAdapter) -> list[int]:
    """Each window's end (exclusive position in the series) whose covariates darts has."""
    index = ad.series.time_index
    freq = ad.series.freq
    past, future = ad.covariates["past_covariates"], ad.covariates["future_covariates"]
    ends = []
    for end in range(ad.icl, len(index) + 1):
        first, last = index[end - ad.icl], index[end - 1]
        if past is not None and not _covers(past, first, last + max(0, ad.n - ad.ocl) * freq):
            continue
        if future is not None and not _covers(future, first, last + max(ad.n, ad.ocl) * freq):
            continue
        ends.append(end)
    if not ends:
        raise ExplainrError(
            f"no window of {ad.icl} steps has the covariates darts needs to forecast n={ad.n} "
            "steps: the covariates must cover each window and the steps after it"
        )
    return ends


def _covers(ts: Any, first: Any, last: Any) -> bool:
    return bool(ts.start_time() <= first and ts.end_time() >= last)


def _samples(ad: DartsAdapter, ends: list[int]) -> list[Tensor | None]:
    """darts' own inference samples of the windows ending at ``ends``, stacked."""
    k = len(ends)
    dataset = ad.fitted._build_inference_dataset(
        n=ad.n,
        series=[ad.series[:end] for end in ends],
        past_covariates=_repeat(ad.covariates["past_covariates"], k),
        future_covariates=_repeat(ad.covariates["future_covariates"], k),
    )
    items = [dataset[i] for i in range(k)]
    fields = (
        "past_target",
        "past_covariates",
        "historic_future_covariates",
        "future_past_covariates",
        "future_covariates",
        "static_covariates",
    )
    out: list[Tensor | None] = []
    for field in fields:
        values = [getattr(item, field) for item in items]
        if values[0] is None or (field in CONTEXT and field not in ad.context_names):
            out.append(None)
        else:
            out.append(torch.as_tensor(np.stack(values).astype(np.float64)))
    return out


def _repeat(ts: Any, k: int) -> list[Any] | None:
    return None if ts is None else [ts] * k


class _evaluating:
    """Eval mode for one call of darts' module; each submodule's flag restored after."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.modes: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> None:
        self.modes = [(m, m.training) for m in self.net.modules()]
        self.net.eval()

    def __exit__(self, *exc: object) -> None:
        for module, training in self.modes:
            module.training = training
