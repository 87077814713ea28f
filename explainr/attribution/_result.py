"""What `attribute` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Group:
    """One group of input cells that a perturbation method turns on or off together.

    ``time`` is a half-open step range ``[start, stop)``; ``feature`` is a feature index or
    None when the group covers every feature.
    """

    time: tuple[int, int]
    feature: int | None
    label: str


@dataclass
class Attribution:
    """Attributions of one method over input windows ``(batch, time, feature)``.

    ``values[b, t, f]`` is cell (t, f)'s share of ``prediction[b] - baseline_prediction[b]``.
    Grouped methods also fill ``group_values`` ``(batch, groups)`` and ``groups``; a group's
    value is spread evenly over its cells in ``values`` so that sums hold.
    """

    method: str
    values: np.ndarray  # (batch, time, feature)
    prediction: np.ndarray  # (batch,) f(x) for the explained target
    baseline_prediction: np.ndarray  # (batch,) f(baseline)
    target: int | None = None
    feature_names: list[str] = field(default_factory=list)
    time_labels: list[str] = field(default_factory=list)
    group_values: np.ndarray | None = None  # (batch, groups)
    groups: list[Group] | None = None
    window: int | None = None
    group_by: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    grouped: bool = False  # the method valued groups; each group's value is spread evenly

    def by_time(self) -> np.ndarray:
        """``(batch, time)``: values summed over features."""
        return self.values.sum(axis=2)

    def by_feature(self) -> np.ndarray:
        """``(batch, feature)``: values summed over time."""
        return self.values.sum(axis=1)

    @property
    def completeness_error(self) -> np.ndarray:
        """``(batch,)``: |sum(values) - (f(x) - f(baseline))| / |f(x) - f(baseline)|."""
        delta = self.prediction - self.baseline_prediction
        gap = np.abs(self.values.reshape(len(self.values), -1).sum(axis=1) - delta)
        return gap / np.maximum(np.abs(delta), 1e-12)
