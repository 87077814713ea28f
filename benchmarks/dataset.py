"""Whole datasets: `explain_dataset` against the loops a user writes today, Dask and memory.

Rows (BENCHMARKS.md: ours and the peer on the same windows, alternating A B A B, median of
the repeats after a warm-up, torch.set_num_threads(2)):

1. integrated gradients over N_IG windows of a 2-layer LSTM (T=48, F=8, H=64): windows/s
   of ``explain_dataset`` (chunks of 256 into a zarr store, completeness checked) against
   captum's ``IntegratedGradients`` over batches of 64 (n_steps=50 both);
2. kernel SHAP over the same G=12 groups (4 time blocks x 3 features of a T=24 window, so
   that exact Shapley is the reference): ``explain_dataset`` against
   ``shap.KernelExplainer`` per window on a function of the group masks (nsamples=1024),
   each side's median relative L2 error against ``exact_shapley``; two rows: ours at the
   same nsamples, and ours at equal error (the smallest of ``BUDGETS`` whose error, measured
   in this run, is at most shap's), all three timed alternately;
3. the Dask path (a LocalCluster of 2 single-threaded worker processes on the same cores)
   against in-process, integrated gradients over the IG row's windows in 8 chunks (a run
   of one chunk would leave a worker idle), the same chunks both ways (the cluster started
   before timing; its start-up printed apart);
4. peak RSS of a subprocess running ``explain_dataset`` (integrated gradients, a small
   LSTM, T=16, F=2, H=8, n_steps=8) over n = 10^3, 10^4, 10^5 windows of a long DataFrame.

    python benchmarks/dataset.py [--quick] [--windows N] [--shap-windows N] [--repeats R]
        [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from attribution import alternate  # benchmarks/attribution.py: the same alternation
from torch import nn

import explainr

ROOT = Path(__file__).resolve().parents[1]


class Forecaster(nn.Module):
    """Stacked LSTM, linear head on the last step: (batch, T, F) -> (batch,)."""

    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


def model(features: int, hidden: int, layers: int) -> nn.Module:
    torch.manual_seed(0)
    return Forecaster(features, hidden, layers).eval()


def windows(n: int, steps: int, features: int) -> torch.Tensor:
    return torch.randn(n, steps, features, generator=torch.Generator().manual_seed(1))


def paired(ours, peer, repeats: int) -> tuple[float, float]:
    """Median seconds of ``ours`` and ``peer``, alternated, after one warm-up of each."""
    times = alternate({"ours": ours, "peer": peer}, repeats, warmup=True)
    return times["ours"], times["peer"]


def store() -> Path:
    return Path(tempfile.mkdtemp(prefix="explainr-bench-")) / "run.zarr"


# 1. integrated gradients ----------------------------------------------------------------


def integrated_gradients(n: int, repeats: int) -> list[dict]:
    net, x = model(8, 64, 2), windows(n, 48, 8)

    def ours() -> None:
        explainr.explain_dataset(net, x, methods=("integrated_gradients",), store=store())

    def captum_loop() -> None:
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(net)
        for start in range(0, n, 64):
            ig.attribute(x[start : start + 64], baselines=torch.zeros(1, 48, 8), n_steps=50)

    a, b = paired(ours, captum_loop, repeats)
    return [
        {
            "what": f"IG, {n} windows (T=48 F=8 H=64, 2 layers)",
            "ours": n / a,
            "peer": n / b,
            "unit": "windows/s",
            "ratio": b / a,
        }
    ]


# 2. kernel SHAP -------------------------------------------------------------------------


def kernel_shap(n: int, samples: int, repeats: int) -> list[dict]:
    steps, features, block = 24, 3, 6
    net, x = model(features, 32, 2), windows(n, steps, features)

    def ours(budget: int) -> np.ndarray:
        run = explainr.explain_dataset(
            net,
            x,
            methods=("kernel_shap",),
            store=store(),
            gates=False,
            group_window=block,
            n_samples=budget,
        )
        return run.attributions["kernel_shap"].values

    cell_group = (np.arange(steps)[:, None] // block) * features + np.arange(features)[None, :]
    groups = int(cell_group.max()) + 1

    def shap_loop() -> np.ndarray:
        import shap

        out = np.zeros((n, groups))
        for i in range(n):
            window = x[i]

            def f(masks: np.ndarray, window: torch.Tensor = window) -> np.ndarray:
                keep = torch.as_tensor(masks[:, cell_group] > 0.5)
                with torch.no_grad():
                    return net(torch.where(keep, window, torch.zeros(()))).double().numpy()

            np.random.seed(i)
            explainer = shap.KernelExplainer(f, np.zeros((1, groups)))
            out[i] = explainer.shap_values(
                np.ones((1, groups)), nsamples=samples, l1_reg=False, silent=True
            ).reshape(groups)
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = explainr.attribute(net, x, "exact_shapley", window=block).group_values

        def error(values: np.ndarray) -> float:
            gap = np.linalg.norm(values - exact, axis=1) / np.linalg.norm(exact, axis=1)
            return float(np.median(gap))

        theirs = error(shap_loop())
        # Our error for each budget, then the smallest budget at least as accurate as shap's.
        errors = {
            b: error(
                explainr.attribute(net, x, "kernel_shap", window=block, n_samples=b).group_values
            )
            for b in BUDGETS
        }
        equal = min((b for b in BUDGETS if errors[b] <= theirs), default=samples)
        times = alternate(
            {"same": lambda: ours(samples), "equal": lambda: ours(equal), "shap": shap_loop},
            repeats,
            warmup=True,
        )

    def row(what: str, key: str, budget: int) -> dict:
        return {
            "what": what,
            "ours": times[key] / n * 1e3,
            "peer": times["shap"] / n * 1e3,
            "unit": "ms/window",
            "ratio": times["shap"] / times[key],
            "error": f"{errors[budget]:.5f} vs {theirs:.5f}",
        }

    return [
        row(f"kernel SHAP, {n} windows, G={groups}, same nsamples={samples}", "same", samples),
        row(f"kernel SHAP at equal error: ours nsamples={equal}, shap {samples}", "equal", equal),
    ]


BUDGETS = (64, 96, 128, 192, 256, 384, 512, 768, 1024)  # ours, searched for shap's error


# 3. Dask --------------------------------------------------------------------------------


def dask_overhead(n: int, repeats: int) -> tuple[dict, float]:
    from distributed import Client, LocalCluster

    net, x = model(8, 64, 2), windows(n, 48, 8)
    chunk = max(16, n // 8)  # several chunks per worker, as in a real run
    options = {"methods": ("integrated_gradients",), "n_steps": 50, "chunk": chunk}
    t = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter() - t

        def ours() -> None:
            explainr.explain_dataset(net, x, store=store(), **options)

        def on_dask() -> None:
            explainr.explain_dataset(net, x, store=store(), client=client, **options)

        a, b = paired(on_dask, ours, repeats)
    return {
        "what": f"Dask LocalCluster 2x1 thread vs in-process, IG {n} windows in chunks of {chunk}",
        "ours": n / a,
        "peer": n / b,
        "unit": "windows/s",
        "ratio": a / b,
    }, started


# 4. memory ------------------------------------------------------------------------------

MEMORY = """
import sys, time, numpy as np, pandas as pd, torch, explainr
torch.set_num_threads(2)
n = int(sys.argv[1])
torch.manual_seed(0)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(2, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 1)
    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)
rows = n + 15
df = pd.DataFrame(np.random.default_rng(0).normal(size=(rows, 2)), columns=["a", "b"],
                  index=pd.date_range("1900-01-01", periods=rows, freq="h"))
t = time.perf_counter()
run = explainr.explain_dataset(Net().eval(), df, window=16, methods=("integrated_gradients",),
                               n_steps=8, store=sys.argv[2])
seconds = time.perf_counter() - t
size = sum(f.stat().st_size for f in run.path.rglob("*") if f.is_file())
# VmHWM: this process's own peak (ru_maxrss would include the parent's at fork)
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(int(peak.split()[1]) / 1024, seconds, size / 2**20)
"""


def memory(n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY, str(n), str(store())],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rss, seconds, size = (float(v) for v in done.stdout.split())
    return {"n": n, "rss_mb": rss, "seconds": seconds, "windows_s": n / seconds, "store_mb": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer windows and repeats")
    parser.add_argument("--windows", type=int, help="windows of the IG and Dask rows")
    parser.add_argument("--shap-windows", type=int, help="windows of the kernel SHAP row")
    parser.add_argument("--repeats", type=int, help="timed repeats after the warm-up")
    parser.add_argument("--sizes", help="comma-separated n of the memory rows")
    args = parser.parse_args()
    torch.set_num_threads(2)
    repeats = args.repeats or (2 if args.quick else 3)
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    n_ig = args.windows or (64 if args.quick else 256)
    n_shap = args.shap_windows or (8 if args.quick else 32)
    say = lambda text: print(text, flush=True)  # noqa: E731
    say(
        f"# benchmarks/dataset.py on {platform.node()} ({os.cpu_count()} CPUs), "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    say("| setting | explainr | peer | unit | peer time / ours | error vs exact (ours vs peer) |")
    say("|---|---|---|---|---|---|")
    rows = (
        lambda: integrated_gradients(n_ig, repeats),
        lambda: kernel_shap(n_shap, 1024, repeats),
    )
    for row in rows:
        for r in row():
            say(
                f"| {r['what']} | {r['ours']:.1f} | {r['peer']:.1f} | {r['unit']} | "
                f"{r['ratio']:.2f}x | {r.get('error', '')} |"
            )
    r, started = dask_overhead(n_ig, repeats)
    say(
        f"| {r['what']} | {r['ours']:.1f} (Dask) | {r['peer']:.1f} (in-process) | {r['unit']} "
        f"| overhead {r['ratio']:.2f}x | |"
    )
    say(f"\nDask LocalCluster start-up: {started:.1f} s (not in the row above)\n")
    say("| windows | peak RSS (MB) | seconds | windows/s | store (MB) |")
    say("|---|---|---|---|---|")
    for n in sizes:
        m = memory(n)
        say(
            f"| {m['n']:,} | {m['rss_mb']:.0f} | {m['seconds']:.1f} | {m['windows_s']:.0f} | "
            f"{m['store_mb']:.1f} |"
        )
    say(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
