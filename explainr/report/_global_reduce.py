"""A stored run (an ``xarray.Dataset``, possibly lazy from zarr) reduced to `GlobalContents`.

Every reduction is an xarray operation computed chunk-wise (one dask graph for the
whole-dataset means, subsamples and bins); the per-window rank agreement runs over blocks
of windows; only the picked windows are loaded whole. Memory stays bounded in n.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from explainr._core.errors import ExplainrError
from explainr.report._global_contents import Beeswarm, Calendar, Gates, GlobalContents, Pick

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

DIMS = ("window", "lag", "feature")
BLOCK = 4096  # windows per block of the per-window agreement
GATE = re.compile(r"^gate_(?P<module>.+)_(?P<layer>\d+)_forget_mean$")


def methods_of(ds: xr.Dataset) -> list[str]:
    """The run's methods: the ``methods`` attribute (JSON list), else the ``attr_*`` arrays."""
    stored = [str(v)[len("attr_") :] for v in ds.data_vars if str(v).startswith("attr_")]
    listed = ds.attrs.get("methods")
    if listed is None:
        methods = stored
    else:
        try:
            methods = [str(m) for m in (json.loads(listed) if isinstance(listed, str) else listed)]
        except (TypeError, ValueError) as e:
            raise ExplainrError(
                f"the run's attribute 'methods' is {listed!r}, not a JSON list of method names"
            ) from e
    missing = [m for m in methods if f"attr_{m}" not in ds.data_vars]
    if missing or not methods:
        raise ExplainrError(
            f"the run lists methods {methods} but holds attribution arrays for {stored}; "
            f"missing: {[f'attr_{m}' for m in missing] or 'any attr_<method> array'}"
        )
    return methods


def check_run(ds: Any) -> list[str]:
    """Raise an ExplainrError naming what is missing unless ``ds`` follows the store schema."""
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise ExplainrError(
            f"global_report() needs the xarray.Dataset of a stored run (explainr.open_run(...)"
            f".dataset), got {type(ds).__name__}"
        )
    for name in ("x", "prediction"):
        if name not in ds.data_vars:
            raise ExplainrError(f"the run has no {name!r} array; is this an explainr store?")
    if tuple(ds["x"].dims) != DIMS:
        raise ExplainrError(f"the run's 'x' has dims {tuple(ds['x'].dims)}; expected {DIMS}")
    methods = methods_of(ds)
    for m in methods:
        if tuple(ds[f"attr_{m}"].dims) != DIMS:
            raise ExplainrError(
                f"the run's 'attr_{m}' has dims {tuple(ds[f'attr_{m}'].dims)}; expected {DIMS}"
            )
    return methods


def settings_of(ds: xr.Dataset) -> dict[str, Any]:
    raw = ds.attrs.get("settings", {})
    if isinstance(raw, dict):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"settings": str(raw)}
    return parsed if isinstance(parsed, dict) else {"settings": parsed}


def done_windows(ds: xr.Dataset, settings: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int]]:
    """Positions of the windows of finished chunks, and (finished chunks, all chunks).

    Chunk c holds windows ``c * chunk ... (c + 1) * chunk - 1`` (``chunk`` from the
    settings, else the run's size over the number of chunks).
    """
    n = ds.sizes["window"]
    if "done" not in ds.data_vars:
        return np.arange(n), (1, 1)
    done = np.asarray(ds["done"].values, dtype=bool).reshape(-1)
    size = settings.get("chunk")
    size = int(size) if isinstance(size, int | float) and size >= 1 else max(1, -(-n // len(done)))
    if len(done) != -(-n // size):
        raise ExplainrError(
            f"the run has {len(done)} chunk flags ('done') for {n} windows in chunks of {size}; "
            f"expected {-(-n // size)}: the store is damaged"
        )
    positions = np.flatnonzero(done[np.arange(n) // size])
    return positions, (int(done.sum()), len(done))


def _bare(da: xr.DataArray, **rename: str) -> xr.DataArray:
    """``da`` without coordinates (so that reduced arrays of different lengths combine)."""
    return da.drop_vars(list(da.coords)).rename(rename) if rename else da.drop_vars(list(da.coords))


def evenly_spaced(n: int, cap: int) -> np.ndarray:
    """``min(n, cap)`` positions spread evenly over ``0 ... n - 1`` (first and last kept)."""
    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def reduce_run(
    ds: xr.Dataset,
    *,
    title: str,
    top_k: int,
    picks: int,
    max_points: int,
    max_windows: int,
    prediction_unit: str | None = None,
) -> GlobalContents:
    """Everything the global report draws, computed from the stored arrays.

    Args:
        ds: the run (see `explainr.report.global_report` for the schema).
        title: the page title.
        top_k: features drawn in the beeswarm and the calendar (the most important).
        picks: windows per picker criterion.
        max_points: windows drawn per feature in the beeswarm.
        max_windows: columns of the calendar heatmaps (bins of consecutive windows).
        prediction_unit: the unit of the prediction, for labels.
    """
    import xarray as xr

    methods = check_run(ds)
    settings = settings_of(ds)
    positions, chunks = done_windows(ds, settings)
    ends = _labels(ds)
    contents = GlobalContents(
        title=title,
        version=str(ds.attrs.get("explainr_version", "unknown")),
        created=str(ds.attrs.get("created", "")),
        settings=settings,
        methods=methods,
        features=[str(f) for f in ds["feature"].values],
        lags=np.asarray(ds["lag"].values),
        windows=int(ds.sizes["window"]),
        done=len(positions),
        chunks=chunks,
        span=(ends[positions[0]], ends[positions[-1]]) if len(positions) else None,
        prediction_unit=prediction_unit,
        top=[],
        gates=_gates(ds),
    )
    if not len(positions):
        return contents
    run = ds if len(positions) == ds.sizes["window"] else ds.isel(window=positions)
    n = len(positions)
    points = evenly_spaced(n, max_points)
    size = max(1, math.ceil(n / max_windows))
    parts: dict[str, xr.DataArray] = {
        "x_mean": run["x"].mean(("window", "lag")),
        "x_std": run["x"].std(("window", "lag")),
        "x_points": _bare(run["x"].isel(window=points).mean("lag"), window="point"),
        "prediction": _bare(run["prediction"]),
    }
    if "actual" in run.data_vars:
        parts["actual"] = _bare(run["actual"])
    for m in methods:
        a = run[f"attr_{m}"]
        parts[f"importance_{m}"] = np.abs(a).mean("window")
        parts[f"points_{m}"] = _bare(a.isel(window=points).sum("lag"), window="point")
        bins = _bare(a).coarsen(window=size, boundary="pad")
        parts[f"total_{m}"] = bins.mean().sum("feature", min_count=1).rename(window="bin")
        parts[f"bins_{m}"] = bins.mean().rename(window="bin")
        if f"completeness_{m}" in run.data_vars:
            parts[f"completeness_{m}"] = _bare(np.abs(run[f"completeness_{m}"]))
    got = {k: v.values for k, v in xr.Dataset(parts).compute().data_vars.items()}
    _fill(contents, got, methods, top_k)
    agreement = _agreement(run, methods) if len(methods) > 1 else None
    contents.x_mean, contents.x_std = got["x_mean"], got["x_std"]
    contents.beeswarm = Beeswarm(
        labels=[ends[positions[p]] for p in points],
        step=n / len(points),
        values={m: got[f"points_{m}"][:, contents.top] for m in methods},
        inputs=got["x_points"][:, contents.top],
    )
    last = np.minimum(np.arange(math.ceil(n / size)) * size + size - 1, n - 1)
    contents.calendar = Calendar(
        labels=[ends[positions[p]] for p in last],
        size=size,
        total={m: got[f"total_{m}"] for m in methods},
        by_feature={m: got[f"bins_{m}"][:, :, contents.top] for m in methods},
        agreement=None if agreement is None else _binned(agreement[0], size),
    )
    if agreement is not None:
        contents.agreement = agreement[1]
    contents.picks = _picks(ds, positions, ends, got, agreement, methods, picks)
    return contents


def _labels(ds: xr.Dataset) -> list[str]:
    if "window_end" in ds.coords or "window_end" in ds.data_vars:
        return [str(v) for v in ds["window_end"].values]
    return [str(v) for v in ds["window"].values]


def _fill(contents: GlobalContents, got: dict[str, np.ndarray], methods: list[str], k: int) -> None:
    """Importance, the top features, prediction, error and completeness statistics."""
    contents.importance = {m: got[f"importance_{m}"] for m in methods}
    shares = [imp / imp.sum() if imp.sum() > 0 else imp for imp in contents.importance.values()]
    score = np.mean(shares, axis=0).sum(axis=0)  # (feature,)
    contents.top = [int(j) for j in np.argsort(-score, kind="stable")[:k]]
    pred = got["prediction"]
    contents.prediction = {
        "mean": float(pred.mean()),
        "min": float(pred.min()),
        "max": float(pred.max()),
    }
    if "actual" in got:
        error = pred - got["actual"]
        ok = np.isfinite(error)
        if ok.any():
            e = error[ok]
            contents.error = {
                "mae": float(np.abs(e).mean()),
                "rmse": float(np.sqrt((e**2).mean())),
                "bias": float(e.mean()),
                "windows": int(ok.sum()),
            }
    for m in methods:
        c = got.get(f"completeness_{m}")
        if c is not None and np.isfinite(c).any():
            c = c[np.isfinite(c)]
            contents.completeness[m] = {
                "median": float(np.median(c)),
                "p95": float(np.quantile(c, 0.95)),
                "max": float(c.max()),
            }
    if len(methods) > 1:
        from explainr.attribution import Attribution
        from explainr.metrics import agreement_matrix

        maps = [
            Attribution(method=m, values=contents.importance[m][None], prediction=np.zeros(1),
                        baseline_prediction=np.zeros(1))
            for m in methods
        ]  # fmt: skip
        contents.global_agreement = agreement_matrix(maps, 0)


def _agreement(run: xr.Dataset, methods: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per window, the mean rank agreement over pairs of methods; and the pairwise matrix
    of per-window agreement averaged over windows (`explainr.metrics.rank_agreement`)."""
    from explainr.attribution import Attribution
    from explainr.metrics import rank_agreement

    n, m = run.sizes["window"], len(methods)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    per_pair = np.empty((len(pairs), n))
    zeros = np.zeros(min(n, BLOCK))
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        block = [
            Attribution(
                method=name,
                values=np.asarray(run[f"attr_{name}"].isel(window=slice(start, stop)).values),
                prediction=zeros[: stop - start],
                baseline_prediction=zeros[: stop - start],
            )
            for name in methods
        ]
        for p, (i, j) in enumerate(pairs):
            per_pair[p, start:stop] = rank_agreement(block[i], block[j], level="cell").spearman
    matrix = np.eye(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of windows all NaN
        for p, (i, j) in enumerate(pairs):
            matrix[i, j] = matrix[j, i] = np.nanmean(per_pair[p])
        per_window = np.nanmean(per_pair, axis=0)
    return per_window, matrix


def _binned(values: np.ndarray, size: int) -> np.ndarray:
    """Means of consecutive blocks of ``size`` values (NaN ignored; the last block shorter)."""
    out = np.full(math.ceil(len(values) / size), np.nan)
    for b in range(len(out)):
        block = values[b * size : (b + 1) * size]
        block = block[np.isfinite(block)]
        if block.size:
            out[b] = block.mean()
    return out


def _top(values: np.ndarray, k: int) -> list[int]:
    """Positions of the ``k`` largest finite values, largest first (ties: earliest first)."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(-values[finite], kind="stable")]
    return [int(p) for p in order[:k]]


def _picks(
    ds: xr.Dataset,
    positions: np.ndarray,
    ends: list[str],
    got: dict[str, np.ndarray],
    agreement: tuple[np.ndarray, np.ndarray] | None,
    methods: list[str],
    k: int,
) -> list[Pick]:
    """The windows the picker offers: per criterion the ``k`` most extreme (positions among
    the done windows), each loaded whole from the store; the others are never read."""
    pred = got["prediction"]
    actual = got.get("actual")
    disagreement = None if agreement is None else 1.0 - agreement[0]
    criteria = [("top prediction", pred)]
    if actual is not None:
        criteria.append(("top |error|", np.abs(pred - actual)))
    if disagreement is not None:
        criteria.append(("top disagreement", disagreement))
    chosen: dict[int, list[str]] = {}
    for reason, values in criteria:
        for p in _top(values, k):
            chosen.setdefault(p, []).append(reason)
    if not chosen:
        return []
    order = list(chosen)
    rows = ds.isel(window=positions[order])
    x = np.asarray(rows["x"].values)
    values = {m: np.asarray(rows[f"attr_{m}"].values) for m in methods}
    windows = np.asarray(rows["window"].values)
    out = []
    for r, p in enumerate(order):
        a = None if actual is None or not np.isfinite(actual[p]) else float(actual[p])
        d = (
            None
            if disagreement is None or not np.isfinite(disagreement[p])
            else float(disagreement[p])
        )
        out.append(
            Pick(
                window=int(windows[r]),
                label=ends[positions[p]],
                reasons=chosen[p],
                prediction=float(pred[p]),
                actual=a,
                disagreement=d,
                x=x[r],
                values={m: values[m][r] for m in methods},
            )
        )
    return out


def _gates(ds: xr.Dataset) -> list[Gates]:
    """Every recurrent layer's gate statistics stored with the run (small: per unit)."""
    out = []
    for name in sorted(str(v) for v in ds.data_vars):
        match = GATE.match(name)
        if not match:
            continue
        base = name[: -len("_forget_mean")]
        mean = np.asarray(ds[name].values, dtype=np.float64)
        gate = str(ds[name].attrs.get("gate", ds.attrs.get(f"{base}_gate", "forget")))
        # the engine names them gate_<m>_<l>_forget_saturation; gate_<m>_<l>_saturation also read
        sat = next(
            (
                f"{base}{k}_saturation"
                for k in ("_forget", "")
                if f"{base}{k}_saturation" in ds.data_vars
            ),
            None,
        )
        scale = next(
            (
                f"{base}{k}_timescale"
                for k in ("_forget", "")
                if f"{base}{k}_timescale" in ds.data_vars
            ),
            None,
        )
        saturation = (
            np.asarray(ds[sat].values, dtype=np.float64)
            if sat is not None
            else np.full(mean.shape, np.nan)
        )
        if scale is not None:
            timescale = np.asarray(ds[scale].values, dtype=np.float64)
        else:
            with np.errstate(divide="ignore"):
                timescale = -1.0 / np.log(mean)
        out.append(Gates(match["module"], int(match["layer"]), gate, mean, saturation, timescale))
    return sorted(out, key=lambda g: (g.module, g.layer))
