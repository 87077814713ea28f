"""Time, peak memory and page size of the global report of a stored run, for n windows.

    python benchmarks/global_report.py [n ...]     # default 1000 10000 100000

Each run is a zarr store (T=48, F=8, two methods, random values written chunk by chunk)
opened lazily, as `explainr.open_run` gives it; the report is built in a fresh process
whose peak RSS is printed next to that of a process that only imports the same modules.
Not a test (timings depend on the machine). Targets: peak memory flat in n, page < 10 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS, FEATURES, CHUNK = 48, 8, 4096
METHODS = ("integrated_gradients", "kernel_shap")

WRITE = """
import json, sys, numpy as np, dask.array as da, xarray as xr
n, path = int(sys.argv[1]), sys.argv[2]
rng = da.random.default_rng(0)
cube, shape, chunks = ("window", "lag", "feature"), (n, {steps}, {features}), ({chunk}, {steps}, {features})
decay = np.exp(-np.arange({steps})[::-1] / 8.0)[:, None]
data = {{"x": (cube, rng.standard_normal(shape, chunks=chunks))}}
for m in {methods!r}:
    data[f"attr_{{m}}"] = (cube, rng.standard_normal(shape, chunks=chunks) * decay)
    data[f"baseline_prediction_{{m}}"] = (("window",), da.zeros(n, chunks={chunk}))
    data[f"completeness_{{m}}"] = (("window",), abs(rng.standard_normal(n, chunks={chunk})) * 1e-3)
data["prediction"] = (("window",), rng.standard_normal(n, chunks={chunk}))
data["actual"] = (("window",), rng.standard_normal(n, chunks={chunk}))
data["done"] = (("chunk",), np.ones(-(-n // {chunk}), dtype=bool))
ends = np.datetime_as_string(np.datetime64("1990-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h"))
ds = xr.Dataset(data, coords={{"window": np.arange(n), "window_end": ("window", ends.astype(str)),
    "lag": np.arange({steps} - 1, -1, -1), "feature": [f"series_{{j}}" for j in range({features})]}},
    attrs={{"explainr_version": "bench", "methods": json.dumps(list({methods!r})),
           "settings": json.dumps({{"window": {steps}, "chunk": {chunk}}}), "created": "now"}})
ds.to_zarr(path, mode="w")
"""

REPORT = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import xarray as xr, dask, plotly.graph_objects, scipy.stats, explainr.metrics
from explainr.report import global_report
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[3] == "report":
    dask.config.set(scheduler="threads", num_workers=2)
    start = time.perf_counter()
    rep = global_report(xr.open_zarr(sys.argv[1]))
    reduced = time.perf_counter() - start
    path = rep.save(sys.argv[2])
    total = time.perf_counter() - start
    size = path.stat().st_size
else:
    reduced = total = size = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"reduce": reduced, "total": total, "size": size, "imports": before, "peak": peak}))
"""


def run(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def main(sizes: list[int]) -> None:
    write = WRITE.format(steps=STEPS, features=FEATURES, chunk=CHUNK, methods=METHODS)
    print(f"global report of a zarr run, T={STEPS}, F={FEATURES}, methods {list(METHODS)}")
    print(f"{'windows':>9} {'reduce s':>9} {'total s':>8} {'page MB':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as folder:
        base = json.loads(run(REPORT, "-", "-", "imports"))
        print(f"{'(imports)':>9} {'':>9} {'':>8} {'':>8} {base['peak'] / 1024:>12.0f}")
        for n in sizes:
            store = str(Path(folder) / f"run{n}.zarr")
            run(write, str(n), store)
            got = json.loads(run(REPORT, store, str(Path(folder) / f"r{n}.html"), "report"))
            print(
                f"{n:>9,} {got['reduce']:>9.1f} {got['total']:>8.1f} "
                f"{got['size'] / 2**20:>8.2f} {got['peak'] / 1024:>12.0f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10_000, 100_000])
