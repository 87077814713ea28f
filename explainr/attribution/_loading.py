"""`explainr.load`: read back a result written by ``Attribution.save`` (see `_storage`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError, ExplainrTypeError
from explainr.attribution._result import Attribution, Group
from explainr.attribution._storage import ATTR, FORMAT
from explainr.attribution._units import UnitAttribution

_TYPES: dict[str, type] = {"Attribution": Attribution, "UnitAttribution": UnitAttribution}


def load(path: str | os.PathLike[str]) -> Any:
    """Read a result written by ``Attribution.save`` / ``UnitAttribution.save``.

    Args:
        path: a netCDF file written by ``save``.

    Returns:
        The `Attribution` or `UnitAttribution`, equal to the one saved (values bit-identical).

    >>> import tempfile, explainr
    >>> from explainr.attribution._result import _example
    >>> a = _example()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     b = explainr.load(a.save(folder + "/a.nc"))
    >>> b == a
    True
    """
    import xarray as xr

    if not isinstance(path, (str, os.PathLike)):
        raise ExplainrTypeError(
            f"load() takes the path of a file written by Attribution.save (a str or "
            f"os.PathLike), got {type(path).__name__}"
        )
    file = Path(path)
    if not file.is_file():
        raise ExplainrError(f"load({str(path)!r}): no such file")
    try:
        with xr.open_dataset(file, engine="scipy", mask_and_scale=False) as opened:
            dataset = opened.load()
    except Exception as e:  # xarray/scipy raise many types for foreign files
        raise ExplainrError(f"cannot read {str(path)!r} as netCDF: {e}") from e
    if ATTR not in dataset.attrs:
        raise ExplainrError(
            f"{str(path)!r} is a netCDF file but not an explainr result (no {ATTR!r} attribute)"
        )
    meta = json.loads(dataset.attrs[ATTR])
    if meta.get("format") != FORMAT or meta.get("type") not in _TYPES:
        raise ExplainrError(
            f"{str(path)!r} holds format {meta.get('format')} type {meta.get('type')!r}; this "
            f"explainr reads format {FORMAT} (Attribution, UnitAttribution)"
        )
    cls = _TYPES[meta["type"]]
    kwargs = dict(meta["fields"])
    if kwargs.get("groups") is not None:
        kwargs["groups"] = [
            Group(tuple(g["time"]), g["feature"], g["label"]) for g in kwargs["groups"]
        ]
    for name, dtype in meta["dtypes"].items():
        kwargs[name] = np.asarray(dataset[name].values).astype(np.dtype(dtype))
    return cls(**kwargs)
