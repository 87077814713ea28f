"""`sliding_windows`: cut model-ready windows from a long DataFrame."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count, check_finite, time_labels_of


class Windows(NamedTuple):
    """Windows cut from a series, with what is needed to label them."""

    x: Tensor  # (n, window, feature) float32
    feature_names: list[str]
    time_labels: list[list[str]]  # per window, the index labels of its rows
    starts: np.ndarray  # (n,) row position of each window's first step


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
