"""The run store: one zarr group written through xarray, filled one chunk of windows at a time.

Schema (shared with ``explainr.report.global_report``; keep it exactly)
------------------------------------------------------------------------
An ``xarray.Dataset`` written with ``to_zarr``.

Dimensions: ``window`` (n windows), ``lag`` (T input steps), ``feature`` (F), ``chunk``
(ceil(n / chunk)), ``unit`` (the largest recurrent layer's units, see the gate variables).

Coordinates:
    ``window`` (window) int: 0 .. n-1.
    ``window_end`` (window) str: the label of each window's last input step (the
    DataFrame's index or time column; the window's position for arrays).
    ``lag`` (lag) int: T-1 .. 0, oldest step first; lag 0 is the last input step before
    the prediction.
    ``feature`` (feature) str: feature names.

Data variables:
    ``x`` (window, lag, feature) float64: the input windows as the model saw them.
    ``attr_<method>`` (window, lag, feature) float64: `explainr.attribute`'s values, one
    variable per method.
    ``prediction`` (window) float64: f(x) for the explained target.
    ``baseline_prediction_<method>`` (window) float64: f(baseline) per method.
    ``completeness_<method>`` (window) float64: |sum of values - (f(x) - f(baseline))| /
    |f(x) - f(baseline)| (`Attribution.completeness_error`).
    ``actual`` (window) float64, optional: the observed target, when the data has it
    (error = prediction - actual).
    ``done`` (chunk) bool: chunk c (windows c*chunk .. (c+1)*chunk-1) is complete.
    Unfinished windows read as NaN.
    Gate statistics over every window, one set per recurrent module and layer whose kind has
    a memory gate, written when the last chunk is done:
    ``gate_<module>_<layer>_forget_mean`` (unit): mean of the memory gate over windows and
    steps; ``gate_<module>_<layer>_forget_saturation`` (unit): fraction of (window, step)
    with the gate < 0.1 or > 0.9 (as the per-window report counts it); ``gate_<module>_<layer>_forget_timescale`` (unit):
    -1 / ln(mean), in steps (inf where the mean is 1). The memory gate is the forget gate of
    LSTM-like kinds; for GRU it is the update gate z (h = (1 - z) n + z h_prev, so z keeps
    the old state): each variable's attrs say ``gate`` ("forget" or "update"), ``module``
    (its name in the model; "model" for the model itself), ``layer``, ``kind``,
    ``directions`` and ``units``. Bidirectional layers hold the forward units then the
    reverse ones; a layer with fewer units than ``unit`` is padded with NaN.
    ``<module>`` is the module's name with every character that is not a letter, digit or
    underscore replaced by ``_``.
    Partial sums behind them, per chunk (so a resumed run loses nothing):
    ``chunk_gate_<module>_<layer>_sum`` and ``chunk_gate_<module>_<layer>_saturated``
    (chunk, unit).

Attributes: ``explainr_version``; ``settings`` (a JSON string: methods, window, stride,
chunk, method options, target); ``methods`` (a JSON list); ``created`` (ISO 8601, UTC);
``schema`` (``"explainr.dataset/1"``).

Each chunk is written as region writes of its windows, then its chunk-axis partial sums,
then its ``done`` flag, last; the zarr chunking of the window axis is ``chunk``, so a chunk
never shares a file with another, and a run killed mid-write loses only chunks whose flag
is not set (they are computed again on resume).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError
from explainr._core.version import VERSION

SCHEMA = "explainr.dataset/1"
MARKERS = ("zarr.json", ".zgroup")  # a zarr group's root metadata (format 3, format 2)


@dataclass(frozen=True)
class GateLayer:
    """One recurrent layer whose memory gate the store summarises."""

    module: str  # name in the model ("" for the model itself)
    kind: str
    gate: str  # "forget" or "update"
    layer: int
    directions: int
    units: int  # per direction

    @property
    def name(self) -> str:
        """``gate_<module>_<layer>``: the prefix of this layer's variables."""
        module = re.sub(r"\W", "_", self.module) if self.module else "model"
        return f"gate_{module}_{self.layer}"

    @property
    def width(self) -> int:
        """Units of all directions together."""
        return self.units * self.directions

    def attrs(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "module": self.module or "model",
            "layer": self.layer,
            "kind": self.kind,
            "directions": self.directions,
            "units": self.width,
        }


@dataclass(frozen=True)
class Plan:
    """Everything that fixes a store's layout and its settings."""

    n: int
    steps: int
    feature_names: list[str]
    window_end: list[str]
    chunk: int
    methods: list[str]
    settings: dict[str, Any]
    has_actual: bool
    gates: list[GateLayer] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return -(-self.n // self.chunk)

    def rows(self, c: int) -> slice:
        """The windows of chunk ``c``."""
        return slice(c * self.chunk, min((c + 1) * self.chunk, self.n))

    @property
    def units(self) -> int:
        return max((g.width for g in self.gates), default=0)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """zarr 3 warns that consolidated metadata and fixed-width strings are not in its spec."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"zarr(\.|$)")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*not.*Zarr format 3 specification.*")
        warnings.filterwarnings("ignore", message=".*FixedLengthUTF32.*")
        yield


def settings_json(settings: dict[str, Any]) -> str:
    """The settings as the store keeps them: JSON with sorted keys."""
    return json.dumps(settings, sort_keys=True)


def is_run(path: Path) -> bool:
    """Whether ``path`` holds an explainr run store."""
    return read_attrs(path) is not None


def read_attrs(path: Path) -> dict[str, Any] | None:
    """The root attributes of the store at ``path``, or None if it is not an explainr run."""
    if not path.is_dir() or not any((path / m).is_file() for m in MARKERS):
        return None
    try:
        import zarr

        with _quiet():
            attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:
        return None
    return attrs if attrs.get("schema") == SCHEMA and "settings" in attrs else None


def check_target(path: Path) -> None:
    """Raise unless ``path`` can hold a new store: absent, or an empty folder, writable."""
    if path.exists() and not path.is_dir():
        raise ExplainrError(
            f"store={str(path)!r} is a file, not a run store (a folder); pass a new path, "
            "e.g. runs/name.zarr"
        )
    if path.is_dir():
        entries = sorted(os.listdir(path))
        if entries:
            raise ExplainrError(
                f"store={str(path)!r} is a folder that is not an explainr run (it holds "
                f"{entries[:5]}{' ...' if len(entries) > 5 else ''}); explain_dataset will not "
                "write into it: pass a new path or an empty folder"
            )
    parent = path if path.is_dir() else _existing_parent(path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExplainrError(
            f"store={str(path)!r}: cannot write in {str(parent)!r} (permission denied); "
            "choose a folder you can write to"
        )


def check_writable(path: Path) -> None:
    """Raise unless every file of the existing store at ``path`` can be rewritten."""
    for folder, _, files in os.walk(path):
        if not os.access(folder, os.W_OK | os.X_OK) or any(
            not os.access(os.path.join(folder, f), os.W_OK) for f in files
        ):
            raise ExplainrError(
                f"store={str(path)!r} is read-only ({folder!r} or a file in it cannot be "
                "written); make it writable to resume it, or open it with "
                "explainr.open_run to read it"
            )


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def create(path: Path, plan: Plan) -> None:
    """Write an empty store for ``plan`` (metadata only) at ``path``, all at once.

    The store is built in a temporary folder beside ``path`` and renamed into place, so a
    store either exists whole or not at all.
    """
    import dask.array as da
    import xarray as xr

    n, steps, features, c = plan.n, plan.steps, len(plan.feature_names), plan.chunk
    cube = ("window", "lag", "feature")

    def nan(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
        return da.full(shape, np.nan, chunks=chunks, dtype="f8")

    variables: dict[str, Any] = {"x": (cube, nan((n, steps, features), (c, steps, features)))}
    variables["prediction"] = (("window",), nan((n,), (c,)))
    for m in plan.methods:
        variables[f"attr_{m}"] = (cube, nan((n, steps, features), (c, steps, features)))
        variables[f"baseline_prediction_{m}"] = (("window",), nan((n,), (c,)))
        variables[f"completeness_{m}"] = (("window",), nan((n,), (c,)))
    if plan.has_actual:
        variables["actual"] = (("window",), nan((n,), (c,)))
    variables["done"] = (("chunk",), da.zeros((plan.chunks,), chunks=(1,), dtype=bool))
    for g in plan.gates:
        for part in ("sum", "saturated"):
            variables[f"chunk_{g.name}_{part}"] = (
                ("chunk", "unit"),
                nan((plan.chunks, plan.units), (1, plan.units)),
                g.attrs(),
            )
    ds = xr.Dataset(
        variables,
        coords={
            "window": np.arange(n),
            "window_end": ("window", np.asarray(plan.window_end, dtype=str)),
            "lag": np.arange(steps - 1, -1, -1),
            "feature": np.asarray(plan.feature_names, dtype=str),
        },
        attrs={
            "explainr_version": VERSION,
            "settings": settings_json(plan.settings),
            "methods": json.dumps(plan.methods),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "schema": SCHEMA,
        },
    )
    if path.is_dir():  # an empty folder (check_target): replaced by the new store
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with _quiet():
            ds.to_zarr(str(tmp), mode="w", compute=False, consolidated=True)
        os.replace(tmp, path)
    except OSError as e:
        raise ExplainrError(
            f"cannot create the store {str(path)!r}: {e.strerror or e}; choose a folder you "
            "can write to"
        ) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove(path: Path, *, keep_folder: bool) -> None:
    """Delete a store `create` made at ``path`` (an empty folder again if it was one)."""
    shutil.rmtree(path, ignore_errors=True)
    if keep_folder:
        path.mkdir(exist_ok=True)


def open_dataset(path: Path) -> Any:
    """The store as a lazy ``xarray.Dataset``."""
    import xarray as xr

    with _quiet():
        return xr.open_zarr(str(path), consolidated=True)


def done_chunks(path: Path) -> np.ndarray:
    """``(chunks,)`` bool: which chunks are complete."""
    import zarr

    with _quiet():
        return np.asarray(zarr.open_array(str(path / "done"), mode="r")[:], dtype=bool)


def write_chunk(path: Path, plan: Plan, c: int, result: dict[str, np.ndarray]) -> None:
    """Write chunk ``c``'s windows, then its partial gate sums, then its ``done`` flag."""
    import xarray as xr

    per_window = {}
    per_chunk = {}
    for name, values in result.items():
        if name.startswith("chunk_"):
            row = np.full((1, plan.units), np.nan)
            row[0, : values.shape[-1]] = values
            per_chunk[name] = (("chunk", "unit"), row)
        else:
            dims = ("window", "lag", "feature") if values.ndim == 3 else ("window",)
            per_window[name] = (dims, np.asarray(values, dtype=np.float64))
    with _quiet():
        xr.Dataset(per_window).to_zarr(str(path), region={"window": plan.rows(c)}, mode="r+")
        if per_chunk:
            xr.Dataset(per_chunk).to_zarr(str(path), region={"chunk": slice(c, c + 1)}, mode="r+")
        flag = xr.Dataset({"done": (("chunk",), np.ones(1, dtype=bool))})
        flag.to_zarr(str(path), region={"chunk": slice(c, c + 1)}, mode="r+")


def write_gate_statistics(path: Path, plan: Plan) -> None:
    """Add the gate statistics over every window, from the chunks' partial sums."""
    import xarray as xr

    if not plan.gates:
        return
    ds = open_dataset(path)
    steps = plan.n * plan.steps
    out = {}
    for g in plan.gates:
        total = ds[f"chunk_{g.name}_sum"].values.sum(axis=0)
        saturated = ds[f"chunk_{g.name}_saturated"].values.sum(axis=0)
        mean = total / steps
        with np.errstate(divide="ignore", invalid="ignore"):
            timescale = np.where(mean >= 1.0, np.inf, -1.0 / np.log(mean))
        attrs = g.attrs()
        out[f"{g.name}_forget_mean"] = (("unit",), mean, attrs)
        out[f"{g.name}_forget_saturation"] = (("unit",), saturated / steps, attrs)
        out[f"{g.name}_forget_timescale"] = (("unit",), timescale, attrs)
    with _quiet():  # mode "a" rewrites the root attributes: keep them
        xr.Dataset(out, attrs=dict(ds.attrs)).to_zarr(str(path), mode="a", consolidated=True)


def has_gate_statistics(path: Path, plan: Plan) -> bool:
    return all((path / f"{g.name}_forget_mean").is_dir() for g in plan.gates)
