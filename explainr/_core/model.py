"""The one model interface: every call of the user's model goes through here.

- `call_model` runs the model on ``(batch, time, feature)`` and turns any failure into one
  `ExplainrError` that says what was passed.
- `ScalarModel` reduces a model's prediction to the explained ``target`` (one number per
  window) and evaluates many windows in batched, gradient-free forwards.
- `rows_for` picks how many windows go through the model at once (cache-sized on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from explainr._core.errors import (
    ExplainrError,
    ExplainrTypeError,
    ExplainrValueError,
    ModelError,
    first_line,
)
from explainr._core.frames import adapt
from explainr._core.inputs import Inputs, check_finite, to_baselines, to_inputs
from explainr._core.prefixes import (
    cell_prefixes,
    group_prefixes,
    mask_changes,
    sharing_prefixes,
)

ROWS_PER_FORWARD = 2048  # windows per gradient-free forward on CUDA (CPU: see `rows_for`)
ROWS_PER_BACKWARD = 1024  # windows (inputs x steps or samples) per forward+backward on CUDA


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first parameter or buffer (CPU, float32 if none)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def call_model(model: nn.Module, x: Tensor) -> Any:
    """``model(x)`` for ``x`` ``(batch, time, feature)``; any failure becomes an `ExplainrError`.

    Errors explainr raised on purpose pass through unchanged; anything the model raises
    (a shape mismatch, a bug in its forward) is reported with the input's shape.
    """
    try:
        return model(x)
    except ExplainrError:
        raise
    except Exception as error:
        raise model_failed(x, error) from error


def model_failed(x: Tensor, error: Exception) -> ModelError:
    """The error to raise when the user's model fails on ``x`` ``(batch, time, feature)``."""
    return ModelError(
        f"the model failed on input of shape {tuple(x.shape)} (batch, time, feature): "
        f"{first_line(error)}. Check that x has the feature count (and, for "
        "fixed-length models, the time steps) the model was trained on, features in the last "
        "axis, and that the model takes (batch, time, feature) (batch_first)."
    )


@dataclass(frozen=True)
class Rows:
    """How many windows go through the model at once."""

    forward: int  # per gradient-free forward
    backward: int  # per forward+backward (inputs x integration steps or samples)


def rows_for(model: nn.Module, device: torch.device) -> Rows:
    """Batch sizes that keep the model fast: large on CUDA, cache-sized on CPU.

    On CPU a fused recurrent layer runs fastest while a step's gate activations (windows x
    4 hidden) stay in cache. On the benchmark machine (2-layer LSTM, hidden 64) a forward
    took half the time per window in chunks of 256 as in chunks of 2048, and a
    forward+backward 40% less in chunks of 50-64 as in 800; so the chunks shrink as the
    largest ``hidden_size`` in the model grows (see benchmarks/attribution.py).
    """
    if device.type != "cpu":
        return Rows(ROWS_PER_FORWARD, ROWS_PER_BACKWARD)
    hidden = max((int(getattr(m, "hidden_size", 0) or 0) for m in model.modules()), default=0)
    if hidden <= 0:
        return Rows(1024, 256)
    return Rows(min(2048, max(256, 16384 // hidden)), min(1024, max(32, 4096 // hidden)))


def chunks(total: int, rows_each: int, max_rows: int) -> list[slice]:
    """Consecutive slices of ``range(total)`` holding at most ``max_rows // rows_each`` items."""
    size = max(1, max_rows // max(1, rows_each))
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]


class ScalarModel:
    """``model`` reduced to one number per window: output column ``target`` (or the only one).

    Call it like a function on ``(rows, time, feature)`` to get ``(rows,)`` with gradients;
    `evaluate` does the same without gradients in chunks. Build it with `ScalarModel.probe`,
    which checks the model's output and the target on the real input.
    """

    def __init__(self, model: nn.Module, column: int, rows: Rows | None = None) -> None:
        self.model = model
        self.column = column
        self.rows = rows or Rows(ROWS_PER_FORWARD, ROWS_PER_BACKWARD)

    @classmethod
    def probe(cls, model: nn.Module, x: Tensor, target: int | None) -> tuple[ScalarModel, Tensor]:
        """Run ``model`` on ``x`` ``(batch, time, feature)``; check output and ``target``.

        Returns the scalar model and the predictions ``(batch,)`` for ``x``.
        """
        rows = rows_for(model, x.device)
        first = x[: rows.forward]
        with torch.no_grad():
            out = call_model(model, first)
        matrix = _as_matrix(out, len(first))
        column = _check_target(target, matrix.shape[1])
        _check_deterministic(model, first[:8], column, matrix[:8, column])
        scalar = cls(model, column, rows)
        rest = scalar.evaluate(x[rows.forward :]) if len(x) > len(first) else None
        prediction = matrix[:, column].detach()
        if rest is not None:
            prediction = torch.cat([prediction, rest])
        bad = torch.nonzero(~torch.isfinite(prediction)).flatten().tolist()
        if bad:
            raise ExplainrError(
                f"the model's prediction is NaN or infinite for windows {bad[:10]} of x "
                f"{tuple(x.shape)}; attributions of a non-finite output mean nothing: check "
                "the input scaling and the model"
            )
        return scalar, prediction

    def __call__(self, x: Tensor) -> Tensor:
        """``(rows, time, feature)`` -> ``(rows,)``, differentiable."""
        return _as_matrix(call_model(self.model, x), len(x))[:, self.column]

    def evaluate(self, x: Tensor) -> Tensor:
        """``(rows, time, feature)`` -> ``(rows,)`` without gradients, in batched forwards."""
        with torch.no_grad():
            parts = [self(x[s]) for s in chunks(len(x), 1, self.rows.forward)]
        return torch.cat(parts) if parts else x.new_zeros(0)

    def masked(
        self, x: Tensor, baselines: Tensor, keep: Tensor, starts: list[int] | None = None
    ) -> np.ndarray:
        """Outputs with the cells outside ``keep`` replaced by the baseline.

        Args:
            x: ``(time, feature)`` one window.
            baselines: ``(n, time, feature)``; with n > 1 the output is averaged over them.
            keep: ``(m, time, feature)`` bool, True where the window's own value stays.
            starts: steps where the masks may change (`sharing_prefixes`); found from
                ``keep`` when None.

        Returns:
            ``(m,)`` float64.
        """
        if starts is None:
            starts = mask_changes(keep)
            starts = starts if cell_prefixes(keep, starts) else []
        total = torch.zeros(len(keep), dtype=torch.float64, device=x.device)
        with torch.no_grad(), sharing_prefixes(self.model, starts):
            for part in chunks(len(keep), 1, 4 * self.rows.forward):
                for baseline in baselines:
                    total[part] += self(torch.where(keep[part], x, baseline)).double()
        return (total / len(baselines)).cpu().numpy()

    def masked_groups(
        self, x: Tensor, baselines: Tensor, keep: np.ndarray, cell_group: np.ndarray
    ) -> np.ndarray:
        """`masked` for group masks ``keep`` ``(m, groups)``; ``cell_group`` ``(time, feature)``.

        The cell masks are built one chunk at a time, so 2**16 coalitions fit in memory. The
        rows go in the time order of their groups, so that a chunk's rows share long
        prefixes (`sharing_prefixes`).
        """
        keep = np.asarray(keep, dtype=bool)
        starts = (np.flatnonzero((cell_group[1:] != cell_group[:-1]).any(axis=1)) + 1).tolist()
        starts = starts if group_prefixes(keep, cell_group, starts) else []
        first_step = [np.argmax((cell_group == g).any(axis=1)) for g in range(keep.shape[1])]
        order = np.lexsort(keep[:, np.argsort(first_step, kind="stable")[::-1]].T)
        out = np.zeros(len(keep))
        with sharing_prefixes(self.model, starts):
            keep_t = torch.as_tensor(keep[order], device=x.device)
            cells = torch.as_tensor(cell_group, device=x.device)
            parts = [
                self.masked(x, baselines, keep_t[part][:, cells], starts)
                for part in chunks(len(keep_t), 1, 4 * self.rows.forward)
            ]
        if parts:
            out[order] = np.concatenate(parts)
        return out


def _as_matrix(out: Any, rows: int) -> Tensor:
    """The model's prediction as ``(rows, outputs)``; a clear error for anything else."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, Tensor):
        raise ExplainrTypeError(
            f"the model returned {type(out).__name__}; attribute needs a tensor (batch,) or "
            "(batch, outputs), or a tuple whose first element is one"
        )
    if out.dtype == torch.bool or out.is_complex():
        raise ExplainrTypeError(
            f"the model returned a {out.dtype} tensor {tuple(out.shape)}; attribution explains "
            "a real-valued output: return the score behind the decision (a logit, a "
            "probability) instead of a bool, and real numbers (e.g. out.abs() or out.real) "
            "instead of complex ones"
        )
    if out.ndim == 0 or out.shape[0] != rows:
        raise ExplainrError(
            f"the model returned shape {tuple(out.shape)} for {rows} windows; attribute "
            "passes (batch, time, feature) and needs the batch first in the output (is the "
            "recurrent module batch_first, or does the model reduce over the batch?)"
        )
    if out.ndim == 1:
        return out.unsqueeze(1)
    if out.ndim == 2:
        return out
    raise ExplainrError(
        f"the model returned shape {tuple(out.shape)} for {rows} windows; attribute explains "
        "one number per window: make the model return (batch,) or (batch, outputs), e.g. "
        "wrap it to keep the last step's prediction out[:, -1]; for a model that forecasts "
        "a frame pass target=(row, col), a boolean mask or 'mean'"
    )


def _check_deterministic(model: nn.Module, x: Tensor, column: int, first: Tensor) -> None:
    """Raise unless a second call on the same windows gives the same outputs.

    A model that samples inside ``forward`` (a probabilistic forecaster's draws, dropout
    switched on by hand) has no single prediction to explain: every method would explain
    noise. ``first`` holds column ``column`` of the first call on ``x``.
    """
    with torch.no_grad():
        again = _as_matrix(call_model(model, x), len(x))[:, column]
    if not torch.allclose(first, again, rtol=1e-5, atol=1e-7, equal_nan=True):
        gap = float((first - again).abs().max())
        raise ExplainrError(
            f"the model gives different outputs for the same input (up to {gap:.3g} apart in "
            "two calls): it samples inside forward, so there is no single prediction to "
            "explain. Explain a deterministic output instead, e.g. wrap the model to return "
            "the mean (or a quantile) of its distribution, and switch off sampling"
        )


def _check_target(target: int | None, outputs: int) -> int:
    """The output column to explain, checking ``target`` against ``outputs`` columns."""
    if target is None:
        if outputs == 1:
            return 0
        raise ExplainrError(
            f"the model has {outputs} outputs; pass target=<0..{outputs - 1}> to say which "
            "one to explain (e.g. the predicted class, or the forecast horizon)"
        )
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise ExplainrTypeError(
            f"target must be an int output index, got {target!r} ({type(target).__name__})"
        )
    if not 0 <= int(target) < outputs:
        raise ExplainrValueError(
            f"target={int(target)} is out of range: the model has {outputs} output(s), so "
            f"target must be in 0..{outputs - 1}"
        )
    return int(target)


def check_outputs(outputs: np.ndarray, what: str, shape: tuple[int, ...]) -> None:
    """Raise if the model gave NaN/Inf on inputs mixed from x and the baseline.

    Args:
        outputs: the model's outputs on the mixed inputs.
        what: the computation, e.g. ``"lime"``, for the message.
        shape: ``(batch, time, feature)`` of x, for the message.
    """
    if np.isfinite(outputs).all():
        return
    raise ExplainrValueError(
        f"{what}: the model gives NaN/Inf on {int((~np.isfinite(outputs)).sum())} of "
        f"{outputs.size} inputs mixed from x {shape} and the baseline, although x, the "
        "baselines and f(x) are finite; check the model on such inputs, or use a baseline "
        "closer to the data (e.g. the training mean)"
    )


def check_module(model: Any) -> None:
    """Raise unless ``model`` is a ``torch.nn.Module`` whose weights hold values (not meta)."""
    if not isinstance(model, nn.Module):
        raise ExplainrTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if meta:
        raise ExplainrValueError(
            f"the model's weights {meta[:5]} are on the 'meta' device (shapes without values: "
            "built under torch.device('meta') or an empty-weights loader); load real weights "
            "first, e.g. model.to_empty(device='cpu') then model.load_state_dict(state)"
        )


@dataclass(frozen=True)
class Prepared:
    """A model and its windows made ready once, shared by every method that explains them.

    Build it with `prepare` inside ``preserved(model)``. ``x`` and ``background`` are on the
    model's device and dtype; ``prediction`` is f(x) ``(batch,)`` for the explained target
    and ``baseline_prediction`` the mean of f over the background.
    """

    model: nn.Module
    inputs: Inputs
    x: Tensor  # (batch, time, feature)
    background: Tensor  # (n, time, feature)
    scalar: ScalarModel
    prediction: Tensor  # (batch,)
    baseline_prediction: float
    target: int | None  # as the caller gave it


def prepare(
    model: nn.Module,
    x: Any,
    *,
    target: int | None = None,
    baselines: Any = None,
    feature_names: list[str] | None = None,
) -> Prepared:
    """Normalise ``x`` and ``baselines``, move them to the model, probe the model once.

    Call it inside ``preserved(model)`` (the model runs in eval mode).
    """
    check_module(model)
    # frames (batch, time, C, H, W) and grid targets: see explainr._core.frames
    flat = adapt(model, x, baselines, target)
    model, x, baselines, target = flat.model, flat.x, flat.baselines, flat.target
    if flat.frame is not None and feature_names is None:
        feature_names = flat.frame.names()
    inputs = to_inputs(x, feature_names)
    background = to_baselines(baselines, tuple(inputs.x.shape[1:]))
    device, dtype = model_device_dtype(model)
    xs, background = inputs.x.to(device, dtype), background.to(device, dtype)
    check_finite(xs, f"x in the model's dtype {dtype}")
    check_finite(background, f"baselines in the model's dtype {dtype}")
    scalar, prediction = ScalarModel.probe(model, xs, target)
    baseline_prediction = scalar.evaluate(background).double().mean().item()
    return Prepared(model, inputs, xs, background, scalar, prediction, baseline_prediction, target)
