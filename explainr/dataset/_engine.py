"""`explain_dataset`: every window of a dataset explained, chunk by chunk, into a resumable store."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._core.defaults import DEFAULTS
from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count, check_seed, to_baselines, to_inputs
from explainr.attribution import METHODS
from explainr.dataset import _store
from explainr.dataset._compute import Job, explain_chunk, gate_layers
from explainr.dataset._run import Run
from explainr.dataset._ship import Shipment, model_of, pack
from explainr.dataset._source import Source, to_source

log = logging.getLogger(__name__)

DATASET_METHODS = ("integrated_gradients", "kernel_shap")
DEFAULT_CHUNK = 256


def explain_dataset(
    model: Any,
    data: Any,
    window: int | None = None,
    stride: int = 1,
    methods: Sequence[str] = DATASET_METHODS,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    chunk: int = DEFAULT_CHUNK,
    *,
    target: int | None = None,
    baselines: Any = None,
    group_window: int | None = None,
    group_by: str = DEFAULTS.group_by,
    n_steps: int = DEFAULTS.n_steps,
    n_samples: int | None = None,
    seed: int = DEFAULTS.seed,
    lrp_eps: float = 1e-3,
    lrp_bias: str = "absorbed",
    feature_names: list[str] | None = None,
    time_column: str | None = None,
    actual: Any = None,
    horizon: int = 1,
    gates: bool = True,
    builder: Callable[[], nn.Module] | None = None,
    progress: bool = DEFAULTS.progress,
) -> Run:
    """Explain every window of a dataset with each method, into a resumable zarr store.

    Windows are explained ``chunk`` at a time, so memory stays bounded by ``chunk`` whatever
    the number of windows. Each finished chunk is written to ``store`` with its ``done``
    flag last; calling again with the same store and settings computes only the chunks
    still missing (a killed run loses at most the chunks in flight). Values are exactly
    `explainr.attribute`'s on the same chunk of windows with the same options (float64).

    Args:
        model: a torch module taking ``(batch, time, feature)`` (or whatever
            `explainr.attribute` takes, in-process).
        data: a long DataFrame, one row per step, oldest first: numeric feature columns and
            a DatetimeIndex or a time column (``time_column``, else a datetime column or
            one named time/date/datetime/timestamp), which labels each window's end;
            windows of ``window`` rows (default 16) every ``stride`` rows, the last ending
            at the last row. Or windows cut already: an array or tensor
            ``(n, time, feature)``, or an adapter's windows object (``.x`` and optional
            ``.feature_names``, ``.time_labels``, ``.context``: sliced ``windows[i:j]`` per
            chunk and passed to `explainr.attribute` as it is); then ``window`` must be None
            or the windows' length and ``stride`` 1.
        window: time steps per window (DataFrame data).
        stride: rows between consecutive windows' starts (DataFrame data).
        methods: `explainr.attribute` method names.
        store: the zarr folder to write (new, an empty folder, or a run of the same settings
            to finish); None writes to a new temporary folder.
        client: None runs in-process; a ``dask.distributed.Client`` runs chunks as tasks on
            its workers (the model is sent once per worker as weights and a builder).
        chunk: windows per chunk (the unit of work, of writing and of resuming).
        target, baselines, n_steps, n_samples, seed, group_by, lrp_eps, lrp_bias: as in
            `explainr.attribute` (its defaults); ``group_window`` is its ``window``
            (time steps per group).
        feature_names: one name per feature (default: columns, the windows' names or f0..).
        time_column: the DataFrame's time column, when it is not found by name or dtype.
        actual: the observed target: a column name of the DataFrame (its value ``horizon``
            rows after each window's last row) or one value per window; stored as ``actual``.
        horizon: rows from a window's last step to the step it predicts (with ``actual``).
        gates: also accumulate memory-gate statistics per unit (`explainr.record`).
        builder: for ``client=``: a picklable function that builds the module (default:
            the model's own structure, pickled without its weights).
        progress: a progress bar over windows (in-process and Dask).

    Returns:
        A `Run` over the store: ``attributions[method]`` lazy ``(window, time, feature)``,
        ``summary()``, ``save_html(path)``.

    >>> import torch, explainr
    >>> from explainr._zoo_models import Forecaster
    >>> model = Forecaster(3, 8)
    >>> run = explainr.explain_dataset(model, torch.randn(10, 12, 3), methods=("integrated_gradients",), chunk=4)
    >>> run.attributions["integrated_gradients"].shape, run.complete
    ((10, 12, 3), True)
    """
    check_count(chunk, "chunk")
    check_count(n_steps, "n_steps")
    check_count(n_samples, "n_samples", optional=True)
    check_seed(seed)
    methods = _methods(methods)
    source = to_source(
        data,
        window,
        stride,
        feature_names=feature_names,
        time_column=time_column,
        actual=actual,
        horizon=horizon,
    )
    options = {
        "target": target,
        "baselines": baselines,
        "window": group_window,
        "group_by": group_by,
        "n_steps": n_steps,
        "n_samples": n_samples,
        "seed": seed,
        "lrp_eps": lrp_eps,
        "lrp_bias": lrp_bias,
    }
    first = source.take(slice(0, 1))
    layers = gate_layers(model, first) if gates and not source.context and _is_module(model) else []
    plan = _store.Plan(
        n=source.n,
        steps=source.steps,
        feature_names=source.feature_names,
        window_end=source.window_end,
        chunk=chunk,
        methods=list(methods),
        settings=_settings(model, methods, source, stride, chunk, options, layers),
        has_actual=source.actual is not None,
        gates=layers,
    )
    path, undo = _open_or_create(store, plan, source)
    done = _store.done_chunks(path)
    todo = [c for c in range(plan.chunks) if not done[c]]
    job = Job(tuple(methods), options, tuple(layers))
    finish = plan.gates and not _store.has_gate_statistics(path, plan)
    if todo or finish:
        _store.check_writable(path)
    try:
        if todo:
            log.info("explaining %d of %d chunks into %s", len(todo), plan.chunks, path)
            if client is None:
                _in_process(model, source, plan, job, todo, path, progress)
            else:
                _on_dask(client, pack(model, builder), source, plan, job, todo, path, progress)
    except BaseException:
        # A store this call made that holds no finished chunk would only block the next
        # call (exists: pass --resume) with nothing to resume: take it away again.
        if undo is not None and not _store.done_chunks(path).any():
            undo()
        raise
    if finish:
        _store.write_gate_statistics(path, plan)
    return Run(path, computed=todo)


def _methods(methods: Any) -> list[str]:
    names = [methods] if isinstance(methods, str) else list(methods)
    if not names:
        raise ExplainrError("methods is empty; pass at least one, e.g. ('integrated_gradients',)")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ExplainrError(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    if len(set(names)) != len(names):
        raise ExplainrError(f"methods {names} repeat a name; give each once")
    return names


def _is_module(model: Any) -> bool:
    return isinstance(model, nn.Module)


def _settings(
    model: Any,
    methods: Sequence[str],
    source: Source,
    stride: int,
    chunk: int,
    options: dict[str, Any],
    layers: list,
) -> dict[str, Any]:
    """The JSON settings a resumed run must match."""
    described = {k: v for k, v in options.items() if k not in ("target", "baselines")}
    described["baselines"] = _describe_baselines(options["baselines"], source)
    return {
        "methods": list(methods),
        "window": source.steps,
        "stride": stride,
        "chunk": chunk,
        "options": described,
        "target": options["target"],
        "model": _fingerprint(model),
        "gates": [g.name for g in layers],
    }


def _describe_baselines(baselines: Any, source: Source) -> Any:
    """None, a number, or the sha256 and shape of the baseline windows."""
    if baselines is None or isinstance(baselines, (int, float)):
        return baselines
    values = to_baselines(baselines, (source.steps, len(source.feature_names)))
    array = np.ascontiguousarray(values.detach().cpu().double().numpy())
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def _fingerprint(model: Any) -> str | None:
    """sha256 over the model's class and tensors: a different model is a different run."""
    if not _is_module(model):
        return None
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in sorted(
        [*model.named_parameters(), *model.named_buffers()], key=lambda item: item[0]
    ):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _open_or_create(
    store: Any, plan: _store.Plan, source: Source
) -> tuple[Path, Callable[[], None] | None]:
    """The store's path, and for a store this call created, what takes it away again."""
    if store is None:
        path = Path(tempfile.mkdtemp(prefix="explainr-run-")) / "run.zarr"
        log.info("no store given: writing %s", path)
    else:
        path = Path(os.fspath(store))
    attrs = _store.read_attrs(path)
    if attrs is None:
        _store.check_target(path)
        was_folder = path.is_dir()  # an empty folder the user gave: left empty, not gone
        _store.create(path, plan)
        return path, functools.partial(_store.remove, path, keep_folder=was_folder)
    _check_same(path, attrs, plan, source)
    return path, None


def _check_same(path: Path, attrs: dict, plan: _store.Plan, source: Source) -> None:
    """Raise, naming every difference, unless the store was written with ``plan``'s settings."""
    import json

    stored = json.loads(attrs["settings"])
    differences = _differences(stored, plan.settings)
    ds = _store.open_dataset(path)
    if ds.sizes.get("window") != plan.n:
        differences.append(f"windows: {ds.sizes.get('window')} (store) vs {plan.n} (now)")
    if list(ds["feature"].values.astype(str)) != plan.feature_names:
        differences.append(
            f"features: {list(ds['feature'].values.astype(str))[:8]} (store) vs "
            f"{plan.feature_names[:8]} (now)"
        )
    elif list(ds["window_end"].values.astype(str)) != list(plan.window_end):
        differences.append("window end labels differ (another time range or stride)")
    if not differences:
        differences += _data_differences(path, ds, plan, source)
    if differences:
        raise ExplainrError(
            f"store={str(path)!r} holds a run with other settings: "
            + "; ".join(differences)
            + ". Nothing was changed: pass the same settings to finish it, or a new store"
        )


def _differences(stored: Any, now: Any, where: str = "") -> list[str]:
    if isinstance(stored, dict) and isinstance(now, dict):
        found = []
        for key in sorted(set(stored) | set(now)):
            name = f"{where}.{key}" if where else key
            found += _differences(stored.get(key, "<unset>"), now.get(key, "<unset>"), name)
        return [f.replace("options.", "") for f in found]
    if stored != now:
        return [f"{where}: {stored!r} (store) vs {now!r} (now)"]
    return []


def _data_differences(path: Path, ds: Any, plan: _store.Plan, source: Source) -> list[str]:
    """Compare the stored windows of the first finished chunk with the data given now."""
    done = np.flatnonzero(_store.done_chunks(path))
    if len(done) == 0:
        return []
    rows = plan.rows(int(done[0]))
    stored = ds["x"].isel(window=rows).values
    now = _as_array(source.take(rows))
    if now is not None and (now.shape != stored.shape or not np.array_equal(now, stored)):
        return [f"data: windows {rows.start}..{rows.stop - 1} differ from the stored ones"]
    return []


def _as_array(x: Any) -> np.ndarray | None:
    """The windows as `explainr.attribute` keeps them (``Attribution.data``), in float64."""
    try:
        return to_inputs(getattr(x, "x", x)).x.double().numpy()
    except ExplainrError:
        return None


def _with_actual(result: dict[str, np.ndarray], source: Source, rows: slice) -> dict:
    if source.actual is not None:
        result["actual"] = source.actual[rows]
    return result


def _bar(plan: _store.Plan, todo: list[int], progress: bool) -> Any:
    from tqdm.auto import tqdm

    left = sum(plan.rows(c).stop - plan.rows(c).start for c in todo)
    return tqdm(
        total=plan.n, initial=plan.n - left, unit="window", disable=not progress, leave=False
    )


def _in_process(
    model: Any,
    source: Source,
    plan: _store.Plan,
    job: Job,
    todo: list[int],
    path: Path,
    progress: bool,
) -> None:
    with _bar(plan, todo, progress) as bar:
        for c in todo:
            rows = plan.rows(c)
            result = explain_chunk(model, source.take(rows), job)
            _store.write_chunk(path, plan, c, _with_actual(result, source, rows))
            bar.update(rows.stop - rows.start)


def remote_chunk(shipment: Shipment, job: Job, c: int, x: Any) -> tuple[int, dict]:
    """A Dask task: chunk ``c`` explained on a worker with the shipped model."""
    return c, explain_chunk(model_of(shipment), x, job)


def _on_dask(
    client: Any,
    shipment: Shipment,
    source: Source,
    plan: _store.Plan,
    job: Job,
    todo: list[int],
    path: Path,
    progress: bool,
) -> None:
    """Chunks as Dask tasks, a few per worker in flight; the parent writes each as it ends."""
    from distributed import as_completed

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    [remote] = client.scatter([shipment], broadcast=True, hash=False)
    pending = iter(todo)
    live: set = set()

    def submit(c: int) -> Any:
        x = source.take(plan.rows(c))
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
        future = client.submit(remote_chunk, remote, job, c, x, pure=False)
        live.add(future)
        return future

    running = as_completed([submit(c) for _, c in zip(range(2 * workers), pending, strict=False)])
    try:
        with _bar(plan, todo, progress) as bar:
            for future in running:
                c, result = future.result()
                live.discard(future)
                rows = plan.rows(c)
                _store.write_chunk(path, plan, c, _with_actual(result, source, rows))
                bar.update(rows.stop - rows.start)
                following = next(pending, None)
                if following is not None:
                    running.add(submit(following))
    finally:
        for future in live:
            future.cancel()
        remote.release()
