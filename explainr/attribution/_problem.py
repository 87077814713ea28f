"""The contract between `attribute` and each method: a `Problem` in, a `Computed` out.

`attribute` normalises and validates the inputs into a `Problem`; a method's ``compute``
fills either cell values or group values of a `Computed`; `attribute` formats the result.
A new method is one new file with one ``compute(problem) -> Computed`` function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor
from tqdm.auto import tqdm

from explainr._core.model import ScalarModel
from explainr.attribution._groups import Grouping


@dataclass(frozen=True)
class Problem:
    """What every method computes on (all tensors on the model's device and dtype)."""

    method: str
    model: ScalarModel  # (rows, time, feature) -> (rows,)
    x: Tensor  # (batch, time, feature)
    baselines: Tensor  # (n, time, feature): one baseline (n = 1) or a background set
    grouping: Grouping
    prediction: np.ndarray  # (batch,) f(x)
    n_steps: int
    n_samples: int | None
    seed: int
    progress: bool
    options: dict[str, Any] = field(default_factory=dict)  # method-specific (e.g. lrp's eps)

    def bar(self) -> tqdm:
        """A progress bar over the windows (silent when ``progress=False``)."""
        return tqdm(
            total=len(self.x),
            desc=self.method,
            unit="window",
            disable=not self.progress,
            leave=False,
        )


@dataclass
class Computed:
    """A method's answer: ``values`` ``(batch, time, feature)`` or ``group_values`` ``(batch, groups)``."""

    values: np.ndarray | None = None
    group_values: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)
