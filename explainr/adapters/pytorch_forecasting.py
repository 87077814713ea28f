"""pytorch-forecasting models (`RecurrentNetwork`, `DeepAR`, `TemporalFusionTransformer`).

A pytorch-forecasting model's ``forward`` takes a 12-key dict built by its
``TimeSeriesDataSet`` (scaled encoder/decoder reals, categoricals, lengths, the target's
scale). `PytorchForecastingAdapter` takes the encoder's time-varying reals (target first,
then the other unknown reals, then the known reals) in original units, scales them with the
dataset's own scalers and target normaliser inside, runs the library's ``forward`` and
returns the point forecast in original units (the library folds in the inverse transform).

What each window holds fixed (in `Windows.context`): the categoricals, static reals,
future-known reals of the decoder, lengths and the target's scale (``target_scale``: the
GroupNormalizer's centre and scale of the window's group, or the EncoderNormalizer's of the
window as the dataset computed it).

- ``RecurrentNetwork``, ``TemporalFusionTransformer``: the library's ``forward`` (eval
  mode) and ``to_prediction``: the point forecast, the median quantile for a quantile loss.
- ``DeepAR`` is probabilistic and its ``predict`` averages sampled paths. The adapter
  returns the distribution's mean (``transformation=None``; the median, which equals the
  inverse-transformed location, for a transformed target), step by step: step 1 is the
  exact mean of the library's one-step distribution; each later step feeds the earlier
  steps' means back as the library feeds its samples ("mean path": deterministic, not
  the mean over sampled paths).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError
from explainr._core.state import preserved
from explainr._core.windows import Windows
from explainr.adapters._adapter import Adapter, pick_windows

# the dataset's own keys that ride as context (encoder_cont / encoder_target are rebuilt)
_CONTEXT = (
    "encoder_cat",
    "encoder_cont",
    "encoder_lengths",
    "decoder_cat",
    "decoder_cont",
    "decoder_lengths",
    "decoder_target",
    "decoder_time_idx",
    "groups",
    "target_scale",
)
_KINDS = ("RecurrentNetwork", "DeepAR", "TemporalFusionTransformer")
_DERIVED_REALS = ("relative_time_idx", "encoder_length")


def adapt(fitted: Any, data: Any = None, **options: Any) -> PytorchForecastingAdapter:
    """A pytorch-forecasting model with the dataset it forecasts from, as an `Adapter`.

    Args:
        fitted: a trained ``RecurrentNetwork``, ``DeepAR`` or ``TemporalFusionTransformer``.
        data: a ``TimeSeriesDataSet``, or a DataFrame the model's own dataset parameters
            turn into one (``TimeSeriesDataSet.from_parameters``).
        **options: none yet.

    Returns:
        A `PytorchForecastingAdapter`: windows ``(batch, encoder length, feature)`` in
        original units to the point forecast ``(batch, prediction length)``.

    ``explainr.adapt(model, df)`` calls this for a pytorch-forecasting model (the tests and
    ``examples/adapter_pytorch_forecasting.py`` train one); anything else is refused:

    >>> import torch
    >>> from explainr.adapters import pytorch_forecasting
    >>> pytorch_forecasting.adapt(torch.nn.LSTM(1, 4), None)
    Traceback (most recent call last):
    ...
    explainr._core.errors.ExplainrError: explainr adapts pytorch-forecasting's RecurrentNetwork, DeepAR, TemporalFusionTransformer; got LSTM (pass its network as a torch.nn.Module to explain it directly)
    """
    if options:
        raise ExplainrError(
            f"the pytorch-forecasting adapter takes no options, got {sorted(options)}"
        )
    return PytorchForecastingAdapter(fitted, data)


class PytorchForecastingAdapter(Adapter):
    """A pytorch-forecasting model taking windows in original units (module docstring).

    Args:
        model: the trained model (``RecurrentNetwork``, ``DeepAR``,
            ``TemporalFusionTransformer``); it is never changed (it runs in eval mode, its
            flags are restored).
        data: a ``TimeSeriesDataSet`` or a DataFrame with the dataset's columns.

    Attributes:
        model: the library's model (its recurrent modules record as ``model.rnn``,
            ``model.lstm_encoder`` …).
        dataset: the ``TimeSeriesDataSet`` the windows are cut from.
    """

    library = "pytorch-forecasting"

    def __init__(self, model: Any, data: Any) -> None:
        super().__init__()
        kind = _kind_of(model)
        from pytorch_forecasting import TimeSeriesDataSet

        self.model = model
        self.kind = kind
        if isinstance(data, TimeSeriesDataSet):
            self.dataset = data
        elif _is_frame(data) and hasattr(model, "dataset_parameters"):
            with _quiet_sklearn():
                self.dataset = TimeSeriesDataSet.from_parameters(
                    model.dataset_parameters, data, predict=False, stop_randomization=True
                )
        else:
            raise ExplainrError(
                f"data must be a TimeSeriesDataSet or a DataFrame with the model's columns, "
                f"got {type(data).__name__}"
            )
        ds = self.dataset
        if len(ds.target_names) != 1:
            raise ExplainrError(
                f"the adapter explains one target, the dataset has {ds.target_names}"
            )
        if getattr(ds, "lags", None):
            raise ExplainrError(
                f"target lags ({ds.lags}) are not supported yet: train without lags= to explain"
            )
        target = ds.target_names[0]
        unknown = [n for n in ds.time_varying_unknown_reals if n != target]
        known = [n for n in ds.time_varying_known_reals if n not in _DERIVED_REALS]
        self.feature_names = [target, *unknown, *known]
        reals = list(model.hparams.x_reals)
        self._columns = [reals.index(name) for name in self.feature_names]
        self._scales = [_scaler(ds, name) for name in self.feature_names[1:]]
        self.horizon = int(ds.max_prediction_length)
        self.steps = int(ds.max_encoder_length)
        self.target_names = [f"{target} t+{h}" for h in range(1, self.horizon + 1)]
        self.context_names = _CONTEXT
        self._samples = _full_samples(ds, self.steps, self.horizon)
        self.point = "point"
        if kind == "RecurrentNetwork":
            self.encoder = {"model.rnn": 0}
            self.time_note = (
                f"the encoder {model.hparams.cell_type} runs over window steps 2..{self.steps}: "
                "its input at step t holds the target at t-1 and the covariates at t"
            )
        elif kind == "DeepAR":
            self.encoder = {"model.rnn": 0}
            self.point = _deepar_point(model)
            self.time_note = (
                f"the encoder {model.hparams.cell_type} runs over window steps 2..{self.steps}: "
                "its input at step t holds the target at t-1 and the covariates at t"
            )
        else:
            self.encoder = {"model.lstm_encoder": 0}
            self.point = "median" if _is_quantile(model) else "point"
            self.time_note = None
        self.baseline, self.baseline_note = self._mean_baseline()
        check_deterministic(self)

    # -- Adapter ---------------------------------------------------------------------------

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        """``(batch, horizon)`` point forecast in original units of windows ``x``."""
        batch = self._inputs(x, context)
        running = self.model.training or any(m.training for m in self.model.modules())
        with preserved(self.model) if running else contextlib.nullcontext():
            if self.kind == "DeepAR":
                from explainr.adapters._pytorch_forecasting import mean_path

                return mean_path(self.model, batch)
            out = self.model(batch)
            return self.model.to_prediction(out).reshape(len(x), self.horizon)

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        """The dataset's full-length samples in its order (group by group, oldest first).

        Args:
            last: keep the last ``last`` samples (None: all).
            stride: samples between consecutive kept ones, counted back from the last.
        """
        from pytorch_forecasting import TimeSeriesDataSet

        keep = self._samples[pick_windows(len(self._samples), last, stride)]
        with _quiet_sklearn():
            samples = [self.dataset[int(i)] for i in keep]
        batch, _ = TimeSeriesDataSet._collate_fn(samples)
        x = self._original(batch)
        first = batch["decoder_time_idx"][:, 0] - self.steps  # time_idx of each first step
        labels = [[str(int(t0) + s) for s in range(self.steps)] for t0 in first]
        return Windows(
            x=x,
            feature_names=list(self.feature_names),
            time_labels=labels,
            starts=first.numpy().astype(int),
            context={name: batch[name] for name in _CONTEXT},
        )

    # -- the dataset's scaling -------------------------------------------------------------

    def _inputs(self, x: Tensor, context: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The library's input dict: ``x`` scaled into the context's ``encoder_cont``."""
        batch = dict(context)
        cont = context["encoder_cont"].to(x.dtype)
        normalizer = self.dataset.target_normalizer
        target = normalizer.transform(x[..., 0], target_scale=context["target_scale"])
        scaled = [target] + [
            (x[..., j + 1] - center) / scale for j, (center, scale) in enumerate(self._scales)
        ]
        columns = list(cont.unbind(-1))
        for column, values in zip(self._columns, scaled, strict=True):
            columns[column] = values.to(x.dtype)
        batch["encoder_cont"] = torch.stack(columns, dim=-1)
        batch["encoder_target"] = x[..., 0]
        return batch

    def _original(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``(n, steps, feature)`` the batch's explained reals in original units."""
        cont = batch["encoder_cont"].double()
        features = [batch["encoder_target"].double()]
        for column, (center, scale) in zip(self._columns[1:], self._scales, strict=True):
            features.append(cont[..., column] * scale + center)
        return torch.stack(features, dim=-1).float()

    def _mean_baseline(self) -> tuple[np.ndarray, str]:
        """The mean of each feature over the adapted windows, repeated over the window."""
        w = self.windows()
        mean = w.x.double().mean(dim=(0, 1)).numpy()
        return np.tile(mean, (self.steps, 1)), "the data's mean per feature (all windows)"


def check_deterministic(adapter: Adapter) -> None:
    """Raise unless two forecasts of the latest window are identical (no sampling inside)."""
    w = adapter.windows(last=1)
    if not np.array_equal(adapter.predict(w), adapter.predict(w)):
        raise ExplainrError(
            f"the {adapter.library} model's forecast changed between two identical calls; "
            "explainr explains deterministic forecasts (please report this model)"
        )


@contextlib.contextmanager
def _quiet_sklearn() -> Iterator[None]:
    """Silence sklearn's feature-name warning, raised as the dataset scales its reals."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


def _kind_of(model: Any) -> str:
    for cls in type(model).__mro__:
        if cls.__name__ in _KINDS and cls.__module__.startswith("pytorch_forecasting"):
            return cls.__name__
    raise ExplainrError(
        f"explainr adapts pytorch-forecasting's {', '.join(_KINDS)}; got "
        f"{type(model).__name__} (pass its network as a torch.nn.Module to explain it directly)"
    )


def _is_frame(data: Any) -> bool:
    import pandas as pd

    return isinstance(data, pd.DataFrame)


def _scaler(ds: Any, name: str) -> tuple[float, float]:
    """``(center, scale)`` of the dataset's fixed scaler for real ``name``."""
    scaler = ds.get_transformer(name)
    if scaler is None:
        return 0.0, 1.0
    kind = type(scaler).__name__
    if kind == "StandardScaler":
        center = float(scaler.mean_[0]) if scaler.with_mean else 0.0
        scale = float(scaler.scale_[0]) if scaler.with_std else 1.0
        return center, scale
    if kind == "RobustScaler":
        center = float(scaler.center_[0]) if scaler.with_centering else 0.0
        scale = float(scaler.scale_[0]) if scaler.with_scaling else 1.0
        return center, scale
    raise ExplainrError(
        f"real {name!r} is scaled by a {kind}; the adapter supports sklearn StandardScaler / "
        "RobustScaler (the dataset's default) for covariates"
    )


def _full_samples(ds: Any, steps: int, horizon: int) -> np.ndarray:
    """Positions of the dataset's samples with a full encoder and decoder."""
    full = np.flatnonzero(ds.index["sequence_length"].to_numpy() == steps + horizon)
    if len(full) == 0:
        raise ExplainrError(
            f"the data holds no window of {steps} encoder + {horizon} decoder steps; pass "
            "a longer DataFrame"
        )
    return full


def _deepar_point(model: Any) -> str:
    loss = model.loss
    if type(loss).__name__ != "NormalDistributionLoss":
        raise ExplainrError(
            f"DeepAR with {type(loss).__name__}: the adapter computes the forecast's mean "
            "from NormalDistributionLoss parameters (DeepAR's default); train with it"
        )
    transformation = getattr(model.output_transformer, "transformation", None)
    return "mean" if transformation is None else "median"


def _is_quantile(model: Any) -> bool:
    return type(model.loss).__name__ == "QuantileLoss"
