"""The windows of a dataset, handed out one chunk at a time (never all at once).

Three kinds of data:

- a long DataFrame, one row per step (oldest first), numeric feature columns and either a
  DatetimeIndex or a time column; windows of ``window`` rows every ``stride`` rows, the
  last ending at the last row (as `explainr.sliding_windows` cuts them);
- an array or tensor ``(n, time, feature)`` of windows cut already;
- an adapter's windows: any object with ``.x`` ``(n, time, feature)`` and, optionally,
  ``.feature_names``, ``.time_labels`` (per window, its steps' labels) and ``.context``
  (what else the model needs per window). Such an object is sliced per chunk as
  ``windows[i:j]`` and passed to `explainr.attribute` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count, time_labels_of

DEFAULT_WINDOW = 16
TIME_COLUMNS = ("time", "date", "datetime", "timestamp")


@dataclass
class Source:
    """The dataset's windows: sizes, labels and `take` for one chunk."""

    n: int
    steps: int
    feature_names: list[str]
    window_end: list[str]  # (n,) label of each window's last step
    actual: np.ndarray | None  # (n,) observed target, or None
    context: bool  # windows carry context: pass sliced windows objects to attribute
    _take: Any  # rows: slice -> what attribute takes as x

    def take(self, rows: slice) -> Any:
        """The windows ``rows`` as `explainr.attribute` takes them."""
        return self._take(rows)


def to_source(
    data: Any,
    window: int | None,
    stride: int,
    *,
    feature_names: list[str] | None = None,
    time_column: str | None = None,
    actual: Any = None,
    horizon: int = 1,
) -> Source:
    """Normalise ``data`` (see the module docstring) to a `Source`."""
    check_count(stride, "stride")
    check_count(horizon, "horizon")
    if isinstance(data, pd.DataFrame):
        return _from_frame(data, window, stride, feature_names, time_column, actual, horizon)
    if hasattr(data, "x") and not isinstance(data, (np.ndarray, torch.Tensor)):
        return _from_windows(data, window, stride, feature_names, actual)
    if isinstance(data, (np.ndarray, torch.Tensor)) or hasattr(data, "__array__"):
        return _from_array(data, window, stride, feature_names, actual)
    raise ExplainrError(
        f"data is a {type(data).__name__}; explain_dataset takes a long DataFrame (one row "
        "per step), an array or tensor (n, time, feature), or an adapter's windows (.x)"
    )


def _from_frame(
    df: pd.DataFrame,
    window: int | None,
    stride: int,
    feature_names: list[str] | None,
    time_column: str | None,
    actual: Any,
    horizon: int,
) -> Source:
    steps = DEFAULT_WINDOW if window is None else window
    check_count(steps, "window")
    df, labels = _time_index(df, time_column)
    other = [str(c) for c in df.columns if c not in df.select_dtypes(include=["number", "bool"])]
    if other:
        raise ExplainrError(
            f"data has non-numeric columns {other[:10]}; encode or drop them (a time column "
            "is recognised by name: pass time_column=<its name>)"
        )
    if df.shape[1] == 0:
        raise ExplainrError("data has no feature columns; pass a DataFrame of numeric columns")
    if steps > len(df):
        raise ExplainrError(
            f"window={steps} is longer than the DataFrame's {len(df)} rows; pass window <= "
            f"{len(df)}"
        )
    values = df.to_numpy(dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise ExplainrError(
            f"data has NaN or infinite values in rows {bad[:10].tolist()} "
            f"({[labels[i] for i in bad[:3]]}); fill or drop them first"
        )
    starts = np.arange(len(df) - steps, -1, -stride)[::-1].copy()
    ends = starts + steps - 1
    names = _names(feature_names, [str(c) for c in df.columns])
    cut = np.lib.stride_tricks.sliding_window_view(values, steps, axis=0)  # (rows', F, T) view

    def take(rows: slice) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(cut[starts[rows]].transpose(0, 2, 1)))

    target = None
    if actual is not None:
        target = _actual_from_frame(df, actual, ends, horizon)
    return Source(len(starts), steps, names, [labels[e] for e in ends], target, False, take)


def _time_index(df: pd.DataFrame, time_column: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The DataFrame without its time column, and one label per row."""
    if time_column is not None:
        if time_column not in df.columns:
            raise ExplainrError(
                f"time_column={time_column!r} is not a column of data; columns: "
                f"{[str(c) for c in df.columns][:20]}"
            )
        column = time_column
    else:
        found = [
            c
            for c in df.columns
            if pd.api.types.is_datetime64_any_dtype(df[c]) or str(c).lower() in TIME_COLUMNS
        ]
        column = found[0] if found and not isinstance(df.index, pd.DatetimeIndex) else None
    if column is None:
        return df, time_labels_of(df.index)
    index = pd.DatetimeIndex(pd.to_datetime(df[column])) if not _numeric(df[column]) else None
    labels = time_labels_of(index if index is not None else df[column])
    return df.drop(columns=[column]), labels


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _actual_from_frame(df: pd.DataFrame, actual: Any, ends: np.ndarray, horizon: int) -> Any:
    if isinstance(actual, str):
        if actual not in df.columns:
            raise ExplainrError(
                f"actual={actual!r} is not a column of data; pass the target's column name "
                "or an array with one value per window"
            )
        column = df[actual].to_numpy(dtype=np.float64)
        at = ends + horizon
        out = np.full(len(ends), np.nan)
        inside = at < len(column)
        out[inside] = column[at[inside]]
        return out
    return _actual_array(actual, len(ends))


def _actual_array(actual: Any, n: int) -> np.ndarray | None:
    if actual is None:
        return None
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().cpu().numpy()
    out = np.asarray(actual, dtype=np.float64).reshape(-1)
    if out.shape != (n,):
        raise ExplainrError(
            f"actual has {out.size} values; pass one observed target per window ({n})"
        )
    return out


def _from_array(
    data: Any, window: int | None, stride: int, feature_names: list[str] | None, actual: Any
) -> Source:
    x = data if isinstance(data, torch.Tensor) else np.asarray(data)
    if x.ndim != 3 or 0 in tuple(x.shape):
        raise ExplainrError(
            f"data has shape {tuple(x.shape)}; an array or tensor must hold windows "
            "(n, time, feature) (for a long series pass a DataFrame and window=)"
        )
    _check_cut(tuple(x.shape), window, stride)
    n, steps, features = (int(s) for s in x.shape)
    names = _names(feature_names, [f"f{i}" for i in range(features)])
    return Source(
        n, steps, names, [str(i) for i in range(n)], _actual_array(actual, n), False, x.__getitem__
    )


def _from_windows(
    data: Any, window: int | None, stride: int, feature_names: list[str] | None, actual: Any
) -> Source:
    x = data.x
    if not hasattr(x, "shape") or len(x.shape) != 3 or 0 in tuple(x.shape):
        raise ExplainrError(
            f"data.x has shape {getattr(x, 'shape', None)}; windows must hold x (n, time, feature)"
        )
    _check_cut(tuple(x.shape), window, stride)
    n, steps, features = (int(s) for s in x.shape)
    given = getattr(data, "feature_names", None)
    names = _names(feature_names, [str(f) for f in given] if given else None, features)
    labels = getattr(data, "time_labels", None)
    ends = (
        [str(w[-1]) if len(w) else str(i) for i, w in enumerate(labels)]
        if labels is not None and len(labels) == n
        else [str(i) for i in range(n)]
    )
    context = getattr(data, "context", None) is not None
    if context and not hasattr(data, "__getitem__"):
        raise ExplainrError(
            f"data ({type(data).__name__}) carries context but cannot be sliced; "
            "explain_dataset passes windows[i:j] of each chunk to explainr.attribute"
        )
    take = data.__getitem__ if context else x.__getitem__
    return Source(n, steps, names, ends, _actual_array(actual, n), context, take)


def _check_cut(shape: tuple[int, ...], window: int | None, stride: int) -> None:
    if window is not None and window != shape[1]:
        raise ExplainrError(
            f"window={window} but data holds windows of {shape[1]} steps {shape}; windows cut "
            "already keep their length: leave window=None (or pass a long DataFrame to cut)"
        )
    if stride != 1:
        raise ExplainrError(
            f"stride={stride} applies to a long DataFrame; data holds windows cut already "
            f"{shape}: pass stride=1 (or x[::{stride}])"
        )


def _names(
    given: list[str] | None, found: list[str] | None, features: int | None = None
) -> list[str]:
    count = features if features is not None else len(found or [])
    names = [str(f) for f in given] if given is not None else found
    if names is None:
        names = [f"f{i}" for i in range(count)]
    if len(names) != count:
        raise ExplainrError(
            f"feature_names has {len(names)} names for {count} features; pass one per feature"
        )
    if len(set(names)) != len(names):
        raise ExplainrError(f"feature_names {names} repeat a name; give each feature its own")
    return names
