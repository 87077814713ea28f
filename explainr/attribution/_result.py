"""What `attribute` returns: `Attribution`, with shap-like access shared with `UnitAttribution`.

Both results are ``(window, time, name)`` arrays plus one prediction per window; `Windowed`
gives them what ``shap.Explanation`` users expect: ``.values``, ``.base_values``,
``.data``, indexing by window, time and feature (or unit), a long DataFrame, an xarray,
a real ``shap.Explanation``, ``save``/`explainr.load` and a compact notebook display.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from explainr._core.errors import ExplainrError, ExplainrTypeError
from explainr._core.inputs import check_labels

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import shap
    import xarray as xr


@dataclass
class Group:
    """One group of input cells that a perturbation method turns on or off together.

    ``time`` is a half-open step range ``[start, stop)``; ``feature`` is a feature index or
    None when the group covers every feature.
    """

    time: tuple[int, int]
    feature: int | None
    label: str


class Windowed:
    """shap-like access for results shaped ``(window, time, name)`` (mixin).

    Indexing ``r[windows, times, names]`` takes ints, slices, lists, boolean masks and, for
    time and names, labels (``r[..., "infl"]``, ``r[:, "2009-07-01"]``); ``...`` fills the
    axes left out. It never drops an axis (``r[0]`` is a batch of one window) and returns
    the same type with every per-window field sliced alike. Selecting some time steps or
    names makes a *partial* result: its values no longer add up to f(x) - f(baseline), so
    ``completeness_error`` raises, and grouped values are dropped (``groups`` is None);
    reordering all of them keeps it whole.
    """

    NAME_AXIS: ClassVar[str] = "feature"  # the third axis's name
    NAMES: ClassVar[str] = "feature_names"  # the field naming it
    PER_WINDOW: ClassVar[tuple[str, ...]] = ()  # array fields whose first axis is the window

    values: np.ndarray
    prediction: np.ndarray
    baseline_prediction: np.ndarray
    time_labels: list[str]
    partial: bool

    @property
    def base_values(self) -> np.ndarray:
        """``(window,)``: f(baseline), what the values add up from (shap's name)."""
        return self.baseline_prediction

    @property
    def shape(self) -> tuple[int, ...]:
        """``(window, time, name)``: the shape of ``values``."""
        return tuple(self.values.shape)

    def __len__(self) -> int:
        return len(self.values)

    def _names(self) -> list[str]:
        names = list(getattr(self, self.NAMES))
        return names or [str(i) for i in range(self.values.shape[2])]

    def _labels(self) -> list[str]:
        return list(self.time_labels) or [str(t) for t in range(self.values.shape[1])]

    def __getitem__(self, key: Any) -> Any:
        w, t, n = _positions(key, self.values.shape, (None, self._labels(), self._names()))
        whole = [
            _is_permutation(idx, size)
            for idx, size in zip((t, n), self.values.shape[1:], strict=True)
        ]
        grid = np.ix_(w, t, n)
        changes: dict[str, Any] = {"values": self.values[grid]}
        for name in self.PER_WINDOW:
            array = getattr(self, name)
            if array is None:
                continue
            changes[name] = array[grid] if array.ndim == 3 else array[w]
        if self.time_labels:
            changes["time_labels"] = [self.time_labels[i] for i in t]
        if getattr(self, self.NAMES):
            changes[self.NAMES] = [getattr(self, self.NAMES)[i] for i in n]
        identity = all(
            np.array_equal(i, np.arange(s)) for i, s in zip((t, n), self.shape[1:], strict=True)
        )
        changes.update(self._regroup(identity))
        changes["partial"] = self.partial or not all(whole)
        return replace(self, **changes)  # type: ignore[type-var]

    def _regroup(self, identity: bool) -> dict[str, Any]:
        return {}

    def _check_whole(self) -> None:
        if self.partial:
            raise ExplainrError(
                "this result keeps only some time steps or "
                f"{self.NAME_AXIS}s (it was indexed), so its values do not add up to "
                "f(x) - f(baseline); take completeness_error from the result before "
                "selecting time steps or names (selecting windows keeps it)"
            )

    def to_dataframe(self) -> pd.DataFrame:
        """A long table: one row per (window, time, name) cell.

        Returns:
            Columns ``window`` (int), ``time`` (label), ``feature`` (or ``unit``), ``value``
            and, where the result holds its input, ``input`` (``.data``).

        >>> from explainr.attribution._result import _example
        >>> _example().to_dataframe().columns.tolist()
        ['window', 'time', 'feature', 'value', 'input']
        """
        import pandas as pd

        windows, steps, count = self.values.shape
        w, t, n = np.meshgrid(np.arange(windows), np.arange(steps), np.arange(count), indexing="ij")
        table = {
            "window": w.ravel(),
            "time": np.asarray(self._labels(), dtype=object)[t.ravel()],
            self.NAME_AXIS: np.asarray(self._names(), dtype=object)[n.ravel()],
            "value": self.values.ravel(),
        }
        data = getattr(self, "data", None)
        if data is not None:
            table["input"] = np.asarray(data).ravel()
        return pd.DataFrame(table)

    def to_xarray(self) -> xr.Dataset:
        """An ``xarray.Dataset``: ``values`` (and ``data``) on dims (window, time, name).

        Coordinates: ``window`` 0..n-1, ``time`` the time labels, the name axis
        (``feature`` or ``unit``) the names. Per-window arrays (``prediction``,
        ``base_values``) are on ``window``; the other fields are in ``attrs``.

        >>> from explainr.attribution._result import _example
        >>> ds = _example().to_xarray()
        >>> dict(ds["values"].sizes), ds["values"].sel(feature="infl").shape
        ({'window': 2, 'time': 3, 'feature': 2}, (2, 3))
        """
        from explainr.attribution._storage import to_dataset

        return to_dataset(self)

    def to_shap(self, by: str = "cell") -> shap.Explanation:
        """A ``shap.Explanation``, so shap's own plots (bar, beeswarm, heatmap, waterfall) work.

        Args:
            by: ``"cell"`` (default): every (time, name) cell is one shap feature, named
                ``"name @ time"``, values ``(window, time * name)``; ``"feature"``: values
                summed over time, data the window's mean of each feature; ``"time"``: values
                summed over names, no data.

        Returns:
            ``shap.Explanation`` with ``values``, ``base_values`` (f(baseline)),
            ``data`` and ``feature_names``; for a whole result, ``values.sum(1) +
            base_values`` is the prediction (up to the method's completeness error).

        >>> from explainr.attribution._result import _example
        >>> e = _example().to_shap()
        >>> e.values.shape, e.feature_names[:2]
        ((2, 6), ['gdp @ 2009-01', 'infl @ 2009-01'])
        """
        import shap

        windows, steps, count = self.values.shape
        names, labels = self._names(), self._labels()
        data = getattr(self, "data", None)
        if by == "cell":
            values = self.values.reshape(windows, steps * count)
            cells = [f"{n} @ {t}" for t in labels for n in names]
            flat = None if data is None else np.asarray(data).reshape(windows, -1)
        elif by == "feature":
            values, cells = self.values.sum(axis=1), names
            flat = None if data is None else np.asarray(data).mean(axis=1)
        elif by == "time":
            values, cells, flat = self.values.sum(axis=2), labels, None
        else:
            raise ExplainrError(f"to_shap(by={by!r}): choose 'cell', 'feature' or 'time'")
        return shap.Explanation(
            values=np.asarray(values, dtype=np.float64),
            base_values=np.asarray(self.baseline_prediction, dtype=np.float64),
            data=None if flat is None else np.asarray(flat, dtype=np.float64),
            feature_names=list(cells),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result to a netCDF file (an open format, no pickle); `explainr.load` reads it.

        Arrays are netCDF variables on dims (window, time, name), every other field one JSON
        attribute ``explainr``; values come back bit-identical. See `explainr.load`.

        Args:
            path: the file to write, conventionally ``*.nc``; written atomically.

        Returns:
            The path written.
        """
        from explainr.attribution._storage import save

        return save(self, path)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _same(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)  # type: ignore[arg-type]
        )

    __hash__ = None  # type: ignore[assignment]

    def _repr_html_(self) -> str:
        from explainr.attribution._display import result_html

        return result_html(self)

    def __repr__(self) -> str:
        method = getattr(self, "method", None) or getattr(self, "module", "")
        return (
            f"{type(self).__name__}({method!r}, windows={self.shape[0]}, time={self.shape[1]}, "
            f"{self.NAME_AXIS}s={self.shape[2]}{', partial' if self.partial else ''})"
        )


@dataclass(eq=False, repr=False)
class Attribution(Windowed):
    """Attributions of one method over input windows ``(window, time, feature)``.

    ``values[b, t, f]`` is cell (t, f)'s share of ``prediction[b] - base_values[b]``.
    ``data`` is the window explained, in original units when the caller gave them
    (``attribute(..., raw=)``), else as the model saw it. Grouped methods (``grouped``)
    also fill ``group_values`` ``(window, groups)`` and ``groups``; a group's value is
    spread evenly over its cells in ``values`` so that sums hold. Indexing, tables, shap
    and files: see `Windowed`.

    >>> from explainr.attribution._result import _example
    >>> a = _example()
    >>> a[0].shape, a[:, -2:].time_labels, a[..., "infl"].feature_names
    ((1, 3, 2), ['2009-04', '2009-07'], ['infl'])
    >>> bool(abs(a.values.sum((1, 2)) + a.base_values - a.prediction).max() < 1e-12)
    True
    """

    PER_WINDOW: ClassVar[tuple[str, ...]] = (
        "prediction",
        "baseline_prediction",
        "data",
        "group_values",
    )

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
    data: np.ndarray | None = None  # (batch, time, feature) the explained windows
    grouped: bool = False  # the method worked on groups of cells
    partial: bool = False  # indexed to some time steps or features
    frame_shape: list[int] | None = None  # [channels, height, width] for frame inputs

    @property
    def frames(self) -> np.ndarray:
        """``(batch, time, channels, height, width)``: ``values`` of a frame input as frames.

        Raises for a result that is not on frames, or indexed to some cells of them.
        """
        return _as_frames(self, self.values, "values")

    @property
    def frame_data(self) -> np.ndarray | None:
        """``(batch, time, channels, height, width)``: ``data`` as frames (None without data)."""
        return None if self.data is None else _as_frames(self, np.asarray(self.data), "data")

    def by_time(self) -> np.ndarray:
        """``(batch, time)``: values summed over features."""
        return self.values.sum(axis=2)

    def by_feature(self) -> np.ndarray:
        """``(batch, feature)``: values summed over time."""
        return self.values.sum(axis=1)

    @property
    def completeness_error(self) -> np.ndarray:
        """``(batch,)``: |sum(values) - (f(x) - f(baseline))| / |f(x) - f(baseline)|.

        Raises for a partial result (indexed to some time steps or features).
        """
        self._check_whole()
        delta = self.prediction - self.baseline_prediction
        gap = np.abs(self.values.reshape(len(self.values), -1).sum(axis=1) - delta)
        return gap / np.maximum(np.abs(delta), 1e-12)

    def _regroup(self, identity: bool) -> dict[str, Any]:
        return {} if identity else {"group_values": None, "groups": None}


def concat(parts: list[Attribution]) -> Attribution:
    """One `Attribution` of the windows of ``parts`` (same method and settings), in order.

    Per-window arrays (values, predictions, data, group values, and settings entries with
    one row per window) are joined along the window axis; the rest comes from the first.
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    changes: dict[str, Any] = {"values": np.concatenate([p.values for p in parts])}
    for name in first.PER_WINDOW:
        arrays = [getattr(p, name) for p in parts]
        if all(a is not None for a in arrays):
            changes[name] = np.concatenate(arrays)
    settings = dict(first.settings)
    for key in first.settings:
        values = [p.settings.get(key) for p in parts]
        if all(
            isinstance(v, np.ndarray) and v.ndim and len(v) == len(p)
            for v, p in zip(values, parts, strict=True)
        ):
            settings[key] = np.concatenate(values)
    changes["settings"] = settings
    changes["seconds"] = float(sum(p.seconds for p in parts))
    return replace(first, **changes)


def _as_frames(result: Attribution, array: np.ndarray, name: str) -> np.ndarray:
    shape = result.frame_shape
    if shape is None or array.shape[2] != int(np.prod(shape)):
        raise ExplainrError(
            f"{name} {array.shape} are not frames: the result has frame_shape={shape} "
            "(attribute frames (batch, time, channels, height, width) and do not index "
            "single cells to keep them)"
        )
    return array.reshape(*array.shape[:2], *shape)


def with_time_labels(inputs: Any, time_labels: Any) -> Any:
    """``inputs`` (an ``Inputs``) with ``time_labels`` as its labels, checked: one per step."""
    if time_labels is None:
        return inputs
    labels = check_labels(time_labels, "time_labels", inputs.x.shape[1], "time step")
    return replace(inputs, time_labels=labels)


def _positions(
    key: Any, shape: tuple[int, ...], labels: tuple[list[str] | None, ...]
) -> list[np.ndarray]:
    """Integer positions per axis for ``key`` (see `Windowed`)."""
    parts = list(key) if isinstance(key, tuple) else [key]
    if sum(p is Ellipsis for p in parts) > 1:
        raise ExplainrError("an index may hold one ... (Ellipsis) at most")
    if any(p is Ellipsis for p in parts):
        at = next(i for i, p in enumerate(parts) if p is Ellipsis)
        parts[at : at + 1] = [slice(None)] * (len(shape) - len(parts) + 1)
    if len(parts) > len(shape):
        raise ExplainrError(
            f"too many indices ({len(parts)}) for a result of {len(shape)} axes "
            "(window, time, feature)"
        )
    parts += [slice(None)] * (len(shape) - len(parts))
    axes = ("window", "time", "name")
    return [_axis(p, n, lab, ax) for p, n, lab, ax in zip(parts, shape, labels, axes, strict=True)]


def _axis(part: Any, size: int, labels: list[str] | None, axis: str) -> np.ndarray:
    if isinstance(part, slice):
        try:
            return np.arange(size)[part]
        except (TypeError, ValueError, IndexError) as error:
            raise ExplainrTypeError(
                f"cannot slice the {axis} axis with {part!r} ({error}); use int bounds and a "
                "non-zero int step"
            ) from None
    items = part if isinstance(part, (list, np.ndarray)) else [part]
    array = np.asarray(items)
    if array.dtype == bool:
        if array.shape != (size,):
            raise ExplainrError(f"a boolean mask on the {axis} axis needs {size} entries")
        return np.flatnonzero(array)
    out = []
    for item in items:
        if isinstance(item, str):
            if labels is None or item not in labels:
                known = "windows are numbered" if labels is None else f"labels: {labels[:10]}"
                raise ExplainrError(f"{item!r} is not on the {axis} axis; {known}")
            out.append(labels.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -size <= item < size:
                raise ExplainrError(f"index {item} is out of range for {size} {axis} entries")
            out.append(int(item) % size)
        else:
            raise ExplainrTypeError(
                f"cannot index the {axis} axis with {item!r}; use ints, slices, labels or masks"
            )
    return np.asarray(out, dtype=np.int64)


def _is_permutation(index: np.ndarray, size: int) -> bool:
    return len(index) == size and np.array_equal(np.sort(index), np.arange(size))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    return bool(a == b)


def _example() -> Attribution:
    """A small hand-made `Attribution` for the doctests: 2 windows, 3 steps, 2 features."""
    values = np.arange(12, dtype=np.float64).reshape(2, 3, 2) / 10
    base = np.array([1.0, 2.0])
    return Attribution(
        method="integrated_gradients",
        values=values,
        prediction=base + values.sum(axis=(1, 2)),
        baseline_prediction=base,
        feature_names=["gdp", "infl"],
        time_labels=["2009-01", "2009-04", "2009-07"],
        data=np.ones((2, 3, 2)),
    )
