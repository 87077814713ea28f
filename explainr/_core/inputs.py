"""Normalise and validate what users pass: windows, baselines, names and settings.

Every public function of `explainr.attribution` starts here, so every method accepts the
same inputs and rejects bad ones with the same `ExplainrError` messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError


@dataclass(frozen=True)
class Inputs:
    """Input windows in one layout: ``x`` ``(batch, time, feature)`` plus their names."""

    x: Tensor  # (batch, time, feature), float, on the CPU as given
    feature_names: list[str]
    time_labels: list[str]


def to_inputs(x: Any, feature_names: list[str] | None = None) -> Inputs:
    """Normalise ``x`` (tensor, array or DataFrame) to ``(batch, time, feature)`` and check it.

    A ``(time, feature)`` input is one window; a DataFrame is one window whose columns name
    the features and whose index labels the time steps.
    """
    columns: list[str] | None = None
    time_labels: list[str] | None = None
    if isinstance(x, pd.DataFrame):
        columns = [str(c) for c in x.columns]
        time_labels = time_labels_of(x.index)
        x = _frame_values(x, "x")
    tensor = _as_tensor(x, "x")
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise ExplainrError(
            f"x has shape {tuple(tensor.shape)}; attribute takes (batch, time, feature) or one "
            "window (time, feature). For a long series, cut windows with "
            "explainr.sliding_windows(df, window)"
        )
    batch, time, features = tensor.shape
    if batch == 0 or time == 0 or features == 0:
        raise ExplainrError(
            f"x has shape {tuple(tensor.shape)} (batch, time, feature): nothing to explain; "
            "pass at least one window with at least one time step and one feature"
        )
    check_finite(tensor, "x")
    names = _feature_names(feature_names if feature_names is not None else columns, features)
    labels = time_labels if time_labels is not None else [str(t) for t in range(time)]
    return Inputs(tensor, names, labels)


def to_baselines(baselines: Any, shape: tuple[int, int]) -> Tensor:
    """Baselines as ``(n, time, feature)``: zeros, a number, one window or a background set.

    Args:
        baselines: None (zeros), a number, a ``(time, feature)`` window or a ``(n, time,
            feature)`` background set (tensor, array or DataFrame for one window).
        shape: ``(time, feature)`` of the explained windows.
    """
    if baselines is None:
        return torch.zeros(1, *shape)
    if isinstance(baselines, (int, float)) and not isinstance(baselines, bool):
        return torch.full((1, *shape), float(baselines))
    if isinstance(baselines, pd.DataFrame):
        baselines = _frame_values(baselines, "baselines")
    tensor = _as_tensor(baselines, "baselines")
    given = tuple(tensor.shape)
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3 or tuple(tensor.shape[1:]) != shape or len(tensor) == 0:
        raise ExplainrError(
            f"baselines has shape {given} but the windows are (time, feature) = "
            f"{shape}; pass one window {shape}, a background set (n, {shape[0]}, {shape[1]}) "
            "with n >= 1, a number, or None for zeros"
        )
    check_finite(tensor, "baselines")
    return tensor


def check_finite(tensor: Tensor, name: str) -> None:
    """Raise naming the first NaN/Inf cell of a ``(batch, time, feature)`` tensor."""
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        where = [int(i) for i in torch.nonzero(bad)[0]]
        raise ExplainrError(
            f"{name} {tuple(tensor.shape)} holds {int(bad.sum())} NaN/Inf value(s), the first "
            f"at index {where} (window, time, feature); fill or drop them first (e.g. "
            "df.ffill() or df.dropna()) since a model's gradients and outputs are undefined there"
        )


def check_count(value: Any, name: str, *, minimum: int = 1, optional: bool = False) -> None:
    """Raise unless ``value`` is an int >= ``minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ExplainrError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_seed(seed: Any) -> None:
    """Raise unless ``seed`` is an int usable by numpy (0 <= seed < 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ExplainrError(f"seed must be an int in 0..2**32-1, got {seed!r}")


def _as_tensor(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value.detach()
    elif isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
            raise ExplainrError(
                f"{name} is a numpy array of dtype {value.dtype}; it must hold numbers"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    else:
        raise ExplainrError(
            f"{name} is a {type(value).__name__}; pass a torch tensor, a numpy array or a "
            "pandas DataFrame (one window: rows are time steps, columns are features)"
        )
    if tensor.is_complex():
        raise ExplainrError(f"{name} has complex dtype {tensor.dtype}; pass real numbers")
    return tensor if tensor.is_floating_point() else tensor.float()


def _frame_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    numeric = frame.select_dtypes(include=["number", "bool"]).columns
    other = [str(c) for c in frame.columns if c not in numeric]
    if other:
        raise ExplainrError(
            f"{name} DataFrame {frame.shape} has non-numeric columns {other[:10]}; encode them "
            "as numbers (the model's input features) or drop them"
        )
    return frame.to_numpy(dtype=np.float64)


def _feature_names(names: list[str] | None, features: int) -> list[str]:
    if names is None:
        return [f"f{i}" for i in range(features)]
    names = [str(n) for n in names]
    if len(names) != features:
        raise ExplainrError(
            f"feature_names has {len(names)} names but x has {features} features; pass one "
            "name per feature (last axis of x)"
        )
    return names


def time_labels_of(index: Any) -> list[str]:
    """Readable labels of a pandas index: dates without a midnight time when all are dates."""
    if isinstance(index, pd.DatetimeIndex):
        if (index == index.normalize()).all():
            return [str(t.date()) for t in index]
        return [t.isoformat(sep=" ") for t in index]
    return [str(t) for t in index]


def check_sample(sample: int, batch: int) -> None:
    """Raise an ExplainrError unless ``0 <= sample < batch``."""
    if not isinstance(sample, int | np.integer) or not 0 <= sample < batch:
        raise ExplainrError(f"sample={sample!r} is out of range for a batch of {batch}")
