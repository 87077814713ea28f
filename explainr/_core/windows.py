"""`sliding_windows`: cut model-ready windows from a long DataFrame."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count, check_finite, time_labels_of


@dataclass(frozen=True)
class Windows:
    """Windows cut from a series, with what is needed to label and run them.

    ``context`` holds each window's side inputs (static covariates, future-known
    covariates, a target scale: whatever a library's model needs besides ``x``), each a
    tensor whose first axis is the window. They ride with the windows and are held fixed
    while a window is attributed: only ``x`` is perturbed.
    """

    x: Tensor  # (n, window, feature) in the data's original units
    feature_names: list[str]
    time_labels: list[list[str]]  # per window, the index labels of its rows
    starts: np.ndarray  # (n,) row position of each window's first step
    context: Mapping[str, Tensor] = field(default_factory=dict)  # each (n, ...)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``x, feature_names, time_labels, starts`` (as in explainr 0.1)."""
        return iter((self.x, self.feature_names, self.time_labels, self.starts))

    def __getitem__(self, key: int | slice) -> Windows:
        """The windows at ``key`` (an int keeps the window axis: ``w[2]`` has length 1)."""
        if isinstance(key, bool) or not isinstance(key, int | slice):
            raise ExplainrError(
                f"Windows are indexed by an int or a slice, got {type(key).__name__}"
            )
        if isinstance(key, int):
            if not -len(self) <= key < len(self):
                raise ExplainrError(f"window {key} is out of range for {len(self)} windows")
            key = slice(key % len(self), key % len(self) + 1)
        return Windows(
            x=self.x[key],
            feature_names=self.feature_names,
            time_labels=self.time_labels[key],
            starts=self.starts[key],
            context={name: value[key] for name, value in self.context.items()},
        )

    @property
    def ends(self) -> list[str]:
        """``(n,)`` the label of each window's last step."""
        return [labels[-1] if labels else str(i) for i, labels in enumerate(self.time_labels)]


def expand_context(context: Mapping[str, Tensor], batch: int) -> dict[str, Tensor]:
    """``context`` for a batch of ``batch`` rows: one window's rows broadcast, or one per row.

    Raises:
        ExplainrError: the context holds neither 1 nor ``batch`` rows.
    """
    out = {}
    for name, value in context.items():
        if len(value) == batch:
            out[name] = value
        elif len(value) == 1:
            out[name] = value.expand(batch, *value.shape[1:])
        else:
            raise ExplainrError(
                f"the model was called on {batch} rows but its context {name!r} holds "
                f"{len(value)} windows; run one window at a time (explainr.attribute and "
                "explainr.explain do this for windows that carry a context)"
            )
    return out


def sliding_windows(
    df: pd.DataFrame, window: int, step: int = 1, last: int | None = None
) -> Windows:
    """Cut windows of ``window`` rows from a long DataFrame, the last ending at its last row.

    Args:
        df: ``(rows, feature)`` numeric DataFrame, one row per time step, oldest first.
        window: rows per window (the model's time steps).
        step: rows between the starts of consecutive windows.
        last: keep only the most recent ``last`` windows (None keeps all).

    Returns:
        `Windows` ``(x, feature_names, time_labels, starts)``: ``x`` is a float32 tensor
        ``(n, window, feature)``, oldest window first; ``time_labels[i]`` are the index
        labels of window i's rows; ``starts[i]`` its first row's position.

    >>> import pandas as pd, explainr
    >>> df = pd.DataFrame({"load": range(10), "temp": range(10)})
    >>> w = explainr.sliding_windows(df, window=4, step=3)
    >>> tuple(w.x.shape), w.feature_names, w.time_labels[-1]
    ((3, 4, 2), ['load', 'temp'], ['6', '7', '8', '9'])
    """
    if not isinstance(df, pd.DataFrame):
        raise ExplainrError(
            f"sliding_windows takes a pandas DataFrame (rows = time steps), got {type(df).__name__}"
        )
    check_count(window, "window")
    check_count(step, "step")
    check_count(last, "last", optional=True)
    if df.shape[1] == 0:
        raise ExplainrError(f"DataFrame {df.shape} has no columns; it needs one per feature")
    if window > len(df):
        raise ExplainrError(
            f"window={window} is longer than the DataFrame's {len(df)} rows; pass window <= "
            f"{len(df)}"
        )
    other = [str(c) for c in df.columns if c not in df.select_dtypes(include=["number", "bool"])]
    if other:
        raise ExplainrError(
            f"DataFrame {df.shape} has non-numeric columns {other[:10]}; encode or drop them"
        )
    values = torch.tensor(df.to_numpy(dtype=np.float32))
    starts = np.arange(len(df) - window, -1, -step)[::-1].copy()
    if last is not None:
        starts = starts[-last:]
    x = torch.stack([values[s : s + window] for s in starts])
    check_finite(x, "windows of df")
    labels = time_labels_of(df.index)
    return Windows(
        x=x,
        feature_names=[str(c) for c in df.columns],
        time_labels=[labels[s : s + window] for s in starts],
        starts=starts,
    )
