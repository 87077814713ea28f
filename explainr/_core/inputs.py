"""Normalise and validate what users pass: windows, baselines, names and settings.

Every public function of `explainr.attribution` starts here, so every method accepts the
same inputs and rejects bad ones with the same `ExplainrError` messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError


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
    if _is_number(baselines):
        number = float(baselines)
        if not math.isfinite(number):
            raise ExplainrValueError(
                f"baselines={baselines!r} is not a finite number; removed cells would take "
                "NaN/Inf and every attribution would be NaN. Pass a finite number, a window "
                "(e.g. the training mean), or None for zeros"
            )
        return torch.full((1, *shape), number, dtype=torch.float64)
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


def _is_number(value: Any) -> bool:
    """A real Python or numpy scalar (not a bool)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_finite(tensor: Tensor, name: str) -> None:
    """Raise naming the first NaN/Inf cell of a ``(batch, time, feature)`` tensor."""
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        where = [int(i) for i in torch.nonzero(bad)[0]]
        raise ExplainrValueError(
            f"{name} {tuple(tensor.shape)} holds {int(bad.sum())} NaN/Inf value(s), the first "
            f"at index {where} (window, time, feature); fill or drop them first (e.g. "
            "df.ffill() or df.dropna()) since a model's gradients and outputs are undefined there"
        )


def check_count(value: Any, name: str, *, minimum: int = 1, optional: bool = False) -> None:
    """Raise unless ``value`` is an int >= ``minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ExplainrTypeError(
            f"{name} must be an int >= {minimum}, got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise ExplainrValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_seed(seed: Any) -> None:
    """Raise unless ``seed`` is an int usable by numpy (0 <= seed < 2**32)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ExplainrTypeError(f"seed must be an int in 0..2**32-1, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ExplainrValueError(f"seed must be an int in 0..2**32-1, got {seed!r}")


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``; else a typed error listing them."""
    if not isinstance(value, str):
        raise ExplainrTypeError(
            f"{name} must be a str, one of {list(choices)}; got {value!r} ({type(value).__name__})"
        )
    if value not in choices:
        raise ExplainrValueError(f"{name}={value!r} is not one of {list(choices)}")
    return value


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is a bool (numpy's too); else an `ExplainrTypeError`."""
    if not isinstance(value, (bool, np.bool_)):
        raise ExplainrTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_labels(value: Any, name: str, count: int, axis: str, what: str = "labels") -> list[str]:
    """``value`` as ``count`` strings: a list, tuple, array or pandas Index, one per ``axis``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, pd.Index)):
        raise ExplainrTypeError(
            f"{name} must be a list of {count} labels, one per {axis}; got {value!r}"[:300]
        )
    labels = [str(v) for v in value]
    if len(labels) != count:
        raise ExplainrValueError(
            f"{name} has {len(labels)} {what} but x has {count} {axis}s; pass one per {axis}"
        )
    return labels


def _as_tensor(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value.detach()
    elif isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
            raise ExplainrTypeError(
                f"{name} is a numpy array of dtype {value.dtype}; it must hold numbers"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    else:
        raise ExplainrTypeError(
            f"{name} is a {type(value).__name__}; pass a torch tensor, a numpy array or a "
            "pandas DataFrame (one window: rows are time steps, columns are features)"
        )
    if tensor.is_complex():
        raise ExplainrTypeError(f"{name} has complex dtype {tensor.dtype}; pass real numbers")
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


def _feature_names(names: Any, features: int) -> list[str]:
    if names is None:
        return [f"f{i}" for i in range(features)]
    return check_labels(names, "feature_names", features, "feature", "names")


def time_labels_of(index: Any) -> list[str]:
    """Readable labels of a pandas index: dates without a midnight time when all are dates."""
    if isinstance(index, pd.DatetimeIndex):
        if (index == index.normalize()).all():
            return [str(t.date()) for t in index]
        return [t.isoformat(sep=" ") for t in index]
    return [str(t) for t in index]


def check_sample(sample: int, batch: int) -> None:
    """Raise an ExplainrError unless ``0 <= sample < batch``."""
    if isinstance(sample, (bool, np.bool_)) or not isinstance(sample, int | np.integer):
        raise ExplainrTypeError(f"sample must be an int batch index, got {sample!r}")
    if not 0 <= sample < batch:
        raise ExplainrValueError(
            f"sample={sample!r} is out of range for a batch of {batch}; pass 0..{batch - 1}"
        )
