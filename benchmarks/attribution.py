"""Attribution speed and accuracy: explainr's methods vs the raw peer call a user would make.

Setting (BENCHMARKS.md): one 2-layer LSTM (T=100, F=8, H=64, briefly trained on a planted
signal), 16 windows, CPU, torch.set_num_threads(2). Each row times ours and the peer on the
same windows, alternating A B A B, median of the repeats after a warm-up; the expensive
peers (shap KernelExplainer on the flat 800-cell window, lime RecurrentTabularExplainer)
run on 1-2 windows with fewer repeats (the table's "win" column and header say which). Ratios are ours / peer time.

Accuracy: every method's group values on a 10-group setting (10-step time blocks) against
exact_shapley (relative L2 error, median over windows), with each method at its defaults;
and for the sampling methods at the timed setting, the error against the same method run
with 10x the samples (how far the default is from converged).

    python benchmarks/attribution.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

import explainr

T, F, H, LAYERS, WINDOWS = 100, 8, 64, 2, 16


class Forecaster(nn.Module):
    """2-layer LSTM, linear head on the last step: (batch, 100, 8) -> (batch, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(F, H, num_layers=LAYERS, batch_first=True)
        self.head = nn.Linear(H, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def trained_model(steps: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The model after ``steps`` Adam steps on y = sum of x[:, 80:95, 0:2]; test and train windows."""
    g = torch.Generator().manual_seed(0)
    train = torch.randn(256, T, F, generator=g)
    y = train[:, 80:95, 0:2].sum(dim=(1, 2)) / 30**0.5
    torch.manual_seed(0)
    model = Forecaster()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(steps):
        opt.zero_grad()
        ((model(train)[:, 0] - y) ** 2).mean().backward()
        opt.step()
    return model.eval(), torch.randn(WINDOWS, T, F, generator=g), train


def alternate(
    variants: dict[str, Callable[[], Any]], repeats: int, warmup: bool
) -> dict[str, float]:
    """Median seconds per variant, the variants alternated within each repeat."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    if warmup:
        for fn in variants.values():
            fn()
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def relative_error(found: np.ndarray, exact: np.ndarray) -> float:
    """Median over windows of ||found - exact|| / ||exact||, on ``(batch, groups)``."""
    return float(np.median(np.linalg.norm(found - exact, axis=1) / np.linalg.norm(exact, axis=1)))


def flat_kernel_peer(
    model: nn.Module, background: Any, x: torch.Tensor, nsamples: Any
) -> np.ndarray:
    """shap.KernelExplainer on the flattened (800-cell) window, as users call it."""
    import shap

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(z, dtype=torch.float32).reshape(-1, T, F))[:, 0].numpy()

    explainer = shap.KernelExplainer(predict, background)
    flat = x.reshape(len(x), -1).numpy()
    return np.asarray(explainer.shap_values(flat, nsamples=nsamples, silent=True)).reshape(
        len(x), T, F
    )


def lime_peer(model: nn.Module, train: torch.Tensor, x: torch.Tensor, samples: int) -> None:
    """lime's RecurrentTabularExplainer, regression mode, as users call it."""
    from lime.lime_tabular import RecurrentTabularExplainer

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(z, dtype=torch.float32))[:, 0].numpy()

    explainer = RecurrentTabularExplainer(
        train.numpy(), mode="regression", feature_names=[f"f{i}" for i in range(F)], random_state=0
    )
    for window in x:
        explainer.explain_instance(window.numpy(), predict, num_samples=samples)


def row(
    method: str,
    setting: str,
    n: int,
    peer: str,
    times: dict[str, float],
    target: float | None = None,
) -> dict[str, Any]:
    """One table row: median seconds of ours and of the peer (None: no peer)."""
    return {
        "method": method,
        "setting": setting,
        "n": n,
        "peer": peer,
        "ours_s": times["ours"],
        "peer_s": times.get("peer"),
        "target": target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (tiny counts)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    quick = args.quick
    repeats, few = (1, 1) if quick else (5, 3)
    model, x, train = trained_model(5 if quick else 150)
    windows = x[:4] if quick else x
    zero = torch.zeros(1, T, F)
    rows: list[dict[str, Any]] = []

    def ours(method: str, xs: torch.Tensor, **kw: Any) -> Callable[[], Any]:
        return lambda: explainr.attribute(model, xs, method, progress=False, **kw)

    # --- gradient methods: all windows, batched -------------------------------------
    from captum.attr import GradientShap, IntegratedGradients, Occlusion

    ig = IntegratedGradients(model)
    t = alternate(
        {
            "ours": ours("integrated_gradients", windows),
            "peer": lambda: ig.attribute(windows, target=0, n_steps=50),
        },
        repeats,
        True,
    )
    rows.append(
        row(
            "integrated_gradients",
            "n_steps=50",
            len(windows),
            "captum IntegratedGradients n_steps=50",
            t,
            1.1,
        )
    )

    samples = 20 if quick else 200
    gs = GradientShap(model)
    t = alternate(
        {
            "ours": ours("gradient_shap", windows, n_samples=samples),
            "peer": lambda: gs.attribute(windows, baselines=zero, target=0, n_samples=samples),
        },
        repeats,
        True,
    )
    rows.append(
        row(
            "gradient_shap",
            f"n_samples={samples}",
            len(windows),
            f"captum GradientShap n_samples={samples}",
            t,
        )
    )

    import shap

    few_x = windows[:4]
    t = alternate(
        {
            "ours": ours("gradient_shap", few_x, n_samples=samples),
            "peer": lambda: shap.GradientExplainer(model, zero).shap_values(
                few_x, nsamples=samples
            ),
        },
        few,
        True,
    )
    rows.append(
        row(
            "gradient_shap",
            f"n_samples={samples}",
            len(few_x),
            f"shap GradientExplainer nsamples={samples}",
            t,
        )
    )

    # --- perturbation methods over 80 groups: 1-2 windows against expensive peers ------
    grouped = {"window": 10, "group_by": "time_feature"}  # 10 blocks x 8 features = 80 groups
    one = x[:1]
    flat_samples = 300 if quick else "auto"
    t = alternate(
        {
            "ours": ours("kernel_shap", one, **grouped),
            "peer": lambda: flat_kernel_peer(model, np.zeros((1, T * F)), one, flat_samples),
        },
        repeats if quick else 9,  # under a second per pair: more repeats against load noise
        True,
    )
    peer = f"shap KernelExplainer, 800 cells, nsamples={flat_samples}, zero baseline"
    rows.append(row("kernel_shap", "80 groups, default n_samples", 1, peer, t, 1 / 3))

    summary = shap.kmeans(train.reshape(len(train), -1).numpy(), 10)
    centroids = torch.as_tensor(summary.data, dtype=torch.float32).reshape(-1, T, F)
    t = alternate(
        {
            "ours": ours("kernel_shap", one, baselines=centroids, **grouped),
            "peer": lambda: flat_kernel_peer(model, summary, one, flat_samples),
        },
        few,
        not quick,
    )
    peer = f"shap KernelExplainer, 800 cells, nsamples={flat_samples}, shap.kmeans(10)"
    rows.append(row("kernel_shap", "80 groups, 10 kmeans baselines", 1, peer, t))

    lime_samples = 500 if quick else 5000
    two = x[:1] if quick else x[:2]
    t = alternate(
        {
            "ours": ours("lime", two, n_samples=lime_samples, **grouped),
            "peer": lambda: lime_peer(model, train, two, lime_samples),
        },
        few,
        not quick,
    )
    peer = f"lime RecurrentTabularExplainer, num_samples={lime_samples}"
    rows.append(row("lime", f"80 groups, n_samples={lime_samples}", len(two), peer, t, 1 / 1.5))

    t = alternate(
        {"ours": ours("exact_shapley", windows, window=10, group_by="time")}, repeats, True
    )
    rows.append(row("exact_shapley", "10 groups (1024 coalitions)", len(windows), "-", t))

    occlusion = Occlusion(model)
    t = alternate(
        {
            "ours": ours("occlusion", windows, window=10, group_by="time"),
            "peer": lambda: occlusion.attribute(
                windows, sliding_window_shapes=(10, F), strides=(1, F), target=0
            ),
        },
        repeats,
        True,
    )
    peer = "captum Occlusion (10, 8), strides (1, 8)"
    rows.append(row("occlusion", "10-step window, stride 1", len(windows), peer, t))

    accuracy = accuracy_rows(model, windows, x[:2] if quick else x[:4], quick)
    if quick:  # smoke-run counts differ from the peers' defaults: targets do not apply
        rows = [{**r, "target": None} for r in rows]
    print_table(rows, accuracy, quick, repeats, few)


def accuracy_rows(
    model: nn.Module, xs: torch.Tensor, few: torch.Tensor, quick: bool
) -> dict[str, dict]:
    """Error vs exact_shapley on 10 groups (defaults), and vs 10x samples at the timed setting."""
    out: dict[str, dict] = {}
    ten = {"window": 10, "group_by": "time", "progress": False}
    exact = explainr.attribute(model, xs, "exact_shapley", **ten)
    for method in ("integrated_gradients", "gradient_shap", "kernel_shap", "lime", "occlusion"):
        a = explainr.attribute(model, xs, method, **ten)
        out[method] = {
            "exact": relative_error(a.group_values, exact.group_values),
            "complete": float(np.median(a.completeness_error)),
        }
    out["exact_shapley"] = {"exact": 0.0, "complete": float(np.median(exact.completeness_error))}
    # the flat peer's 800 cell values, summed into the same 10 blocks
    flat = flat_kernel_peer(model, np.zeros((1, T * F)), few, 300 if quick else "auto")
    blocks = flat.reshape(len(few), 10, -1).sum(axis=2)
    out["peer: flat KernelExplainer"] = {
        "exact": relative_error(blocks, exact.group_values[: len(few)]),
        "complete": float(
            np.median(
                np.abs(blocks.sum(1) - exact.group_values[: len(few)].sum(1))
                / np.abs(exact.group_values[: len(few)].sum(1))
            )
        ),
    }
    scale = 2 if quick else 10
    timed = {
        "gradient_shap": ({}, 20 if quick else 200),
        "kernel_shap": ({"window": 10, "group_by": "time_feature"}, 2 * 80 + 2048),
        "lime": ({"window": 10, "group_by": "time_feature"}, 500 if quick else 5000),
    }
    for method, (kw, n) in timed.items():
        default = explainr.attribute(model, few, method, n_samples=n, progress=False, **kw)
        converged = explainr.attribute(
            model, few, method, n_samples=n * scale, seed=1, progress=False, **kw
        )
        out[method]["converged"] = relative_error(default.group_values, converged.group_values)
    return out


def print_table(
    rows: list[dict], accuracy: dict[str, dict], quick: bool, repeats: int, few: int
) -> None:
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} attribution: 2-layer LSTM T={T} F={F} H={H}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, {platform.processor() or 'cpu'}; "
        f"median of {repeats} (cheap rows; 9 for kernel_shap vs the zero-baseline peer) / {few} "
        "(expensive peers), alternating"
        + (" -- QUICK SMOKE RUN, numbers not meaningful" if quick else "")
    )
    print(
        f"| {'method':<20} | {'setting':<30} | {'win':>3} | {'ours ms/win':>11} | "
        f"{'peer ms/win':>11} | {'ours/peer':>9} | {'target':>9} | peer"
    )
    print("|" + "|".join("-" * w for w in (22, 32, 5, 13, 13, 11, 11, 60)) + "|")
    for r in rows:
        ours_ms = r["ours_s"] * 1e3 / r["n"]
        if r["peer_s"] is None:
            peer_ms, ratio, mark = "-", "-", ""
        else:
            peer = r["peer_s"] * 1e3 / r["n"]
            peer_ms, ratio = f"{peer:.1f}", f"{ours_ms / peer:.3f}"
            if r["target"] is not None:
                mark = f"<={r['target']:.2f} " + ("ok" if ours_ms / peer <= r["target"] else "MISS")
            else:
                mark = ""
        print(
            f"| {r['method']:<20} | {r['setting']:<30} | {r['n']:>3} | {ours_ms:>11.1f} | "
            f"{peer_ms:>11} | {ratio:>9} | {mark:>9} | {r['peer']}"
        )
    print()
    print(
        f"| {'method (defaults)':<28} | error vs exact_shapley, 10 groups | completeness error | "
        "error vs 10x samples, timed setting |"
    )
    print("|" + "|".join("-" * w for w in (30, 35, 20, 37)) + "|")
    for method, acc in accuracy.items():
        conv = f"{acc['converged']:.4f}" if "converged" in acc else "-"
        print(f"| {method:<28} | {acc['exact']:>33.4f} | {acc['complete']:>18.2e} | {conv:>35} |")


if __name__ == "__main__":
    main()
    # The methods that go through the gates (LRP, contextual decomposition) against IG and
    # kernel SHAP: speed, planted-box share, deletion AUC. Their own script, same flags.
    import recurrent_methods

    recurrent_methods.main()
