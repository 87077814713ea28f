"""The few numbers the report shows that are not in a trace or an attribution already.

Plain numpy functions, so that plot code only reshapes: gate saturation fractions
(Karpathy, Johnson & Fei-Fei 2015), the most active units, time binning for large
inputs and a model's summary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_sample

LEFT = 0.1  # a gate below this is left-saturated (mostly closed)
RIGHT = 0.9  # a gate above this is right-saturated (mostly open)


def unit_matrix(values: torch.Tensor | np.ndarray, sample: int | None) -> np.ndarray:
    """One sample's (or every sample's) values as ``(units, time)`` float32.

    Args:
        values: ``(batch, time, *unit_shape)``; ConvLSTM's ``(channels, height, width)``
            unit shape is averaged over height and width, one row per channel.
        sample: batch index, or None to put every sample side by side along time.

    Returns:
        ``(units, time)`` float32, or ``(units, batch * time)`` when ``sample`` is None.
    """
    arr = values.detach().cpu().float().numpy() if isinstance(values, torch.Tensor) else values
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 5:  # ConvLSTM: (batch, time, channels, height, width)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            arr = np.nanmean(arr, axis=(3, 4))
    if arr.ndim != 3:
        raise ExplainrError(f"expected (batch, time, units) values, got shape {arr.shape}")
    if sample is None:
        return arr.transpose(2, 0, 1).reshape(arr.shape[2], -1)
    check_sample(sample, arr.shape[0])
    return arr[sample].T


def saturation(gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of time each unit's gate is left- (< 0.1) and right-saturated (> 0.9).

    Args:
        gate: ``(units, time)`` activations in [0, 1]; NaN steps (past a packed
            sequence's length) are not counted.

    Returns:
        ``(left, right)``, each ``(units,)`` in [0, 1].

    >>> left, right = saturation(np.array([[0.0, 0.05, 0.5, 0.95]]))
    >>> float(left[0]), float(right[0])
    (0.5, 0.25)
    """
    valid = ~np.isnan(gate)
    steps = np.maximum(valid.sum(axis=1), 1)
    with np.errstate(invalid="ignore"):
        left = ((gate < LEFT) & valid).sum(axis=1) / steps
        right = ((gate > RIGHT) & valid).sum(axis=1) / steps
    return left, right


def most_active(hidden: np.ndarray, top: int) -> list[int]:
    """Indices of the ``top`` units whose hidden state varies most over time.

    Args:
        hidden: ``(units, time)``.
        top: how many units to return.

    Returns:
        Unit indices, most active first.
    """
    spread = np.nan_to_num(np.nanstd(hidden, axis=1), nan=-1.0)
    return [int(u) for u in np.argsort(-spread, kind="stable")[:top]]


def time_factor(cells: int, max_cells: int) -> int:
    """The smallest whole number of steps per bin that brings ``cells`` under ``max_cells``."""
    return max(1, math.ceil(cells / max_cells)) if max_cells > 0 else 1


def bin_time(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean over bins of ``factor`` consecutive steps along the last axis.

    Args:
        values: ``(..., time)``.
        factor: steps per bin; 1 returns ``values`` unchanged. A last, shorter bin is kept.

    Returns:
        ``(..., ceil(time / factor))``.
    """
    if factor <= 1:
        return values
    steps = values.shape[-1]
    pad = (-steps) % factor
    padded = np.concatenate(
        [values, np.full((*values.shape[:-1], pad), np.nan, values.dtype)], axis=-1
    )
    binned = padded.reshape(*values.shape[:-1], -1, factor)
    with warnings.catch_warnings():  # all-NaN bins (packed input) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(binned, axis=-1).astype(values.dtype)


def bin_labels(labels: Sequence[str], factor: int) -> list[str]:
    """The first label of each bin of ``factor`` steps."""
    return list(labels)[::factor] if factor > 1 else list(labels)


def shown_features(values: np.ndarray, max_features: int | None) -> list[int]:
    """Indices of the features to draw: all, or the ``max_features`` most attributed.

    Args:
        values: ``(time, feature)`` attributions of one window.
        max_features: how many to keep; None keeps every feature (in their order).

    Returns:
        Feature indices, most attributed first when some are left out.

    >>> shown_features(np.array([[0.1, -3.0, 0.5]]), 2)
    [1, 2]
    """
    count = values.shape[1]
    if max_features is None or max_features >= count:
        return list(range(count))
    order = np.argsort(-np.abs(values).sum(axis=0), kind="stable")
    return [int(j) for j in order[: max(int(max_features), 1)]]


def spread(values: np.ndarray) -> dict[str, float]:
    """Five-number summary of every value (NaN ignored), for a box drawn without the data.

    Args:
        values: any shape, e.g. one gate's ``(units, batch * time)``.

    Returns:
        ``lowerfence`` (min), ``q1``, ``median``, ``q3``, ``upperfence`` (max) and ``mean``.

    >>> spread(np.arange(5.0))["median"]
    2.0
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        flat = np.zeros(1)
    q = np.percentile(flat, [0, 25, 50, 75, 100])
    keys = ("lowerfence", "q1", "median", "q3", "upperfence")
    return {**{k: float(v) for k, v in zip(keys, q, strict=True)}, "mean": float(flat.mean())}
