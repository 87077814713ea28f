"""Results to and from files: netCDF through xarray, no pickle.

The file format (version 1), readable by any netCDF tool (``xarray.open_dataset``,
``ncdump``, R's ``ncdf4``):

- variables ``values`` on dims ``(window, time, feature)`` (``unit`` for a
  `UnitAttribution`), and each per-window array under its field name: ``prediction`` and
  ``baseline_prediction`` on ``(window,)``, ``data`` on ``(window, time, feature)``,
  ``group_values`` on ``(window, group)``, ``uncovered`` on ``(window,)``;
- coordinates ``window`` (0..n-1), ``time`` (time labels) and ``feature`` / ``unit`` (names);
- one global attribute ``explainr``: a JSON object ``{"format": 1, "type": ...,
  "dtypes": {...}, "fields": {...}}`` holding every other field (method, target, names,
  labels, groups as ``{"time": [start, stop], "feature": f, "label": ...}``, window,
  group_by, settings, seconds, grouped, partial) exactly.

netCDF3 (scipy's writer) stores floats as IEEE big-endian: values come back bit-identical.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError
from explainr._core.files import write_atomic

FORMAT = 1
ATTR = "explainr"


def _arrays(result: Any) -> tuple[str, ...]:
    return ("values", *result.PER_WINDOW)


def to_dataset(result: Any) -> Any:
    """The result as an ``xarray.Dataset`` in the file layout above."""
    import xarray as xr

    windows = len(result.values)
    axis = result.NAME_AXIS
    dims = {3: ("window", "time", axis), 2: ("window", "group"), 1: ("window",)}
    variables = {}
    dtypes = {}
    for name in _arrays(result):
        array = getattr(result, name)
        if array is None:
            continue
        array = np.asarray(array)
        variables[name] = (dims[array.ndim], array)
        dtypes[name] = array.dtype.str
    coords = {
        "window": np.arange(windows, dtype=np.int32),
        "time": np.asarray(result._labels(), dtype=object),
        axis: np.asarray(result._names(), dtype=object),
    }
    meta = {"format": FORMAT, "type": type(result).__name__, "dtypes": dtypes}
    meta["fields"] = _plain_fields(result)
    return xr.Dataset(variables, coords=coords, attrs={ATTR: json.dumps(meta)})


def _plain_fields(result: Any) -> dict[str, Any]:
    arrays = set(_arrays(result))
    plain: dict[str, Any] = {}
    for f in fields(result):
        if f.name in arrays:
            continue
        value = getattr(result, f.name)
        if f.name == "groups" and value is not None:
            value = [asdict(g) for g in value]
        encoded = json.loads(json.dumps(value, default=_json_default))
        if f.name != "groups" and encoded != value:
            raise ExplainrError(
                f"field {f.name!r} = {value!r} does not survive JSON unchanged (tuples or "
                "numpy values in it?); store lists and plain numbers to save the result"
            )
        plain[f.name] = encoded
    return plain


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save(result: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` to ``path`` (netCDF, written atomically) and return the path."""
    target = Path(path)
    if target.is_dir():
        raise ExplainrError(f"save({str(path)!r}): that is a folder; give a file name like r.nc")
    return write_atomic(target, to_dataset(result).to_netcdf(engine="scipy"), "the result")
