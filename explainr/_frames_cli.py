"""The command line's frame data: array files, NetCDF files and zarr stores in, place names out.

- `read_frames`: ``.npy`` / ``.npz`` holding ``(n, time, channels, height, width)``, or a
  NetCDF file (``.nc``) or zarr store (``.zarr``), through xarray, whose dimensions are named: a time dimension
  (``time``), two grid dimensions (``y``/``x``, ``lat``/``lon``, ``row``/``col``,
  ``height``/``width``), optionally a channel dimension (``channel``, ``band``,
  ``level``, ``variable``) and a sample dimension (``sample``, ``window``, ``batch``).
  Every data variable on those dimensions is a channel. Without a sample dimension the
  series is cut into the last ``last`` windows of ``window`` steps.
- `top_regions`: an attribution of frames summed over time per square patch, largest
  first, named ``"rows 0-3, cols 4-7"`` (the summary says where, not ``px_1_5``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError

SUFFIXES = (".npy", ".npz", ".nc", ".nc4", ".netcdf", ".zarr")
ROWS = ("y", "lat", "latitude", "row", "rows", "height")
COLS = ("x", "lon", "longitude", "col", "cols", "column", "width")
CHANNELS = ("channel", "channels", "band", "level", "variable")
SAMPLES = ("sample", "samples", "window", "windows", "batch", "n")


@dataclass(frozen=True)
class FrameData:
    """Windows of frames read from a file, with their labels."""

    x: np.ndarray  # (n, time, channels, height, width) float32
    time_labels: list[str]  # of the last window
    channels: list[str]


def is_frame_file(path: str) -> bool:
    """Whether ``--data`` names an array, NetCDF file or zarr store (frames), not a table."""
    return Path(path).suffix.lower() in SUFFIXES


def read_frames(path: str, window: int | None, last: int) -> FrameData:
    """The last ``last`` windows of frames in ``path`` (see the module docstring)."""
    file = Path(path)
    zarr_store = file.suffix.lower() == ".zarr"
    if not (file.is_dir() if zarr_store else file.is_file()):
        raise ExplainrError(f"data {'store' if zarr_store else 'file'} {path} does not exist")
    suffix = file.suffix.lower()
    if suffix in (".npy", ".npz"):
        x = _array(file)
        labels = [str(t) for t in range(x.shape[1])]
        channels = [f"ch{k}" for k in range(x.shape[2])]
    else:
        x, labels, channels = _netcdf(file, window)
    if window is not None and window != x.shape[1]:
        raise ExplainrError(
            f"--window {window} but the windows in {path} have {x.shape[1]} steps; leave "
            "--window out or cut the file's windows to that length"
        )
    if last > len(x):
        raise ExplainrError(f"--last {last} but {path} holds {len(x)} window(s)")
    x = x[len(x) - last :].astype(np.float32)
    if not np.isfinite(x).all():
        where = [int(i) for i in np.argwhere(~np.isfinite(x))[0]]
        raise ExplainrError(
            f"{path} holds NaN/Inf, the first at (window, time, channel, row, col) = {where}; "
            "fill them first (e.g. with 0 or the field's mean)"
        )
    return FrameData(x, labels[-x.shape[1] :], channels)


def _array(file: Path) -> np.ndarray:
    try:
        loaded = np.load(file, allow_pickle=False)
    except Exception as e:  # numpy raises several types for unreadable files
        raise ExplainrError(f"cannot read {file} as a numpy array file: {e}") from e
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if len(keys) != 1 and "x" not in keys:
                raise ExplainrError(f"{file} holds arrays {keys}; keep one, or name the frames 'x'")
            loaded = loaded["x" if "x" in keys else keys[0]]
    if loaded.ndim != 5 or not np.issubdtype(loaded.dtype, np.number):
        raise ExplainrError(
            f"{file} holds a {loaded.dtype} array of shape {loaded.shape}; frames are numbers "
            "(n, time, channels, height, width)"
        )
    return np.asarray(loaded)


def _netcdf(file: Path, window: int | None) -> tuple[np.ndarray, list[str], list[str]]:
    import xarray as xr

    try:
        if file.suffix.lower() == ".zarr":  # a zarr store (a folder), read the same way
            data = xr.open_zarr(file)
        else:
            data = xr.open_dataset(file, engine="scipy" if _is_netcdf3(file) else None)
    except Exception as e:
        kind = "zarr" if file.suffix.lower() == ".zarr" else "NetCDF"
        raise ExplainrError(f"cannot read {file} as {kind}: {e}") from e
    with data:
        names = [n for n, v in data.data_vars.items() if "time" in v.dims]
        if not names:
            raise ExplainrError(
                f"{file} has no data variable with a 'time' dimension (variables: "
                f"{list(data.data_vars)}); name the time dimension 'time'"
            )
        dims = data[names[0]].dims
        rows = _find(dims, ROWS, "row (y, lat)", file)
        cols = _find(dims, COLS, "column (x, lon)", file)
        sample = next((d for d in dims if d in SAMPLES), None)
        channel = next((d for d in dims if d in CHANNELS), None)
        parts = []
        channels: list[str] = []
        for name in names:
            v = data[name]
            if v.dims != dims:
                raise ExplainrError(
                    f"{file}: variables {names[0]!r} {dims} and {name!r} {v.dims} have "
                    "different dimensions; keep variables on the same grid"
                )
            order = [d for d in (sample, "time", channel, rows, cols) if d is not None]
            values = v.transpose(*order).to_numpy()
            if channel is None:
                values = np.expand_dims(values, order.index("time") + 1)
                channels.append(name)
            else:
                channels += [f"{name} {c}" for c in data[channel].to_numpy().tolist()]
            parts.append(values)
        x = np.concatenate(parts, axis=2 if sample is not None else 1)
        labels = [str(t) for t in data["time"].to_numpy().tolist()]
    if sample is None:  # one long series: cut windows
        if window is None:
            raise ExplainrError(f"{file} is one series of {x.shape[0]} steps; pass --window N")
        if window > len(x):
            raise ExplainrError(f"--window {window} is longer than {file}'s {len(x)} steps")
        starts = range(len(x) - window + 1)
        x = np.stack([x[s : s + window] for s in starts])
        labels = labels[-window:]
    return x, labels, channels


def _is_netcdf3(file: Path) -> bool:
    with open(file, "rb") as fh:
        return fh.read(3) == b"CDF"


def _find(dims: tuple, names: tuple[str, ...], what: str, file: Path) -> str:
    found = [d for d in dims if str(d).lower() in names]
    if len(found) != 1:
        raise ExplainrError(
            f"{file}: cannot tell the {what} dimension among {list(dims)}; name it one of "
            f"{list(names)}"
        )
    return str(found[0])


def frame_names(shape: tuple[int, int, int], channels: list[str] | None = None) -> list[str]:
    """One name per cell in ``x.flatten(2)`` order: ``"(row,col)"`` or ``"ch (row,col)"``."""
    c, h, w = shape
    cells = [f"({r},{col})" for r in range(h) for col in range(w)]
    if c == 1:
        return cells
    labels = channels or [f"ch{k}" for k in range(c)]
    return [f"{labels[k]} {cell}" for k in range(c) for cell in cells]


def top_regions(frames: np.ndarray, patch: int | None, top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` square patches by |value| of one window's attribution.

    Args:
        frames: ``(time, channels, height, width)``.
        patch: side of the squares (None: about 4 x 4 per frame).
        top: how many.

    Returns:
        ``[{"region": "rows 0-3, cols 4-7", "value": float}, ...]``, values summed over
        time and channels, largest |value| first.

    >>> a = np.zeros((2, 1, 8, 8)); a[1, 0, 5, 6] = 2.0
    >>> top_regions(a, 4, top=1)
    [{'region': 'rows 4-7, cols 4-7', 'value': 2.0}]
    """
    _, _, height, width = frames.shape
    patch = patch or max(1, math.ceil(max(height, width) / 4))
    plane = frames.sum(axis=(0, 1))
    found = []
    for r in range(0, height, patch):
        for c in range(0, width, patch):
            r1, c1 = min(r + patch, height) - 1, min(c + patch, width) - 1
            name = f"rows {r}-{r1}, cols {c}-{c1}" if patch > 1 else f"row {r}, col {c}"
            found.append({"region": name, "value": float(plane[r : r1 + 1, c : c1 + 1].sum())})
    found.sort(key=lambda item: -abs(item["value"]))
    return found[:top]
