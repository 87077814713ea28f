"""LRP and contextual decomposition against IG and kernel SHAP: speed and faithfulness.

Speed (BENCHMARKS.md setting): the 2-layer LSTM of benchmarks/attribution.py (T=100, F=8,
H=64, trained on y = sum of x[:, 80:95, 0:2]), 16 windows, CPU, 2 threads; one fused float32
forward of the 16 windows, LRP (absorbed, redistributed) and IG (n_steps=50) alternated, median
of 7 repeats after a warm-up; the load average is printed. Ratios come from the same run.

Faithfulness, on three planted models: the share of |attribution| inside the planted box
(mean over all cells of all windows), the deletion curve's relative AUC (cells removed
largest |value| first, replaced by zeros; lower is more faithful; mean over windows) and
the time of one call per window and over one fused forward of the same windows (timed once):
- ``bench``: the timed model above, 8 windows (box = steps 80..94 x features 0..1);
- ``zoo planted_lstm``: the zoo's 1-layer LSTM (T=30, F=5, box = steps 10..14 x f2, f3);
- ``column``: a 1-layer LSTM trained here on y = sum of feature 0 over all 30 steps (a box
  covering every step).
Grouped methods (CD, kernel SHAP) use ``group_by="time_feature"`` blocks of ``window`` steps.

    python benchmarks/recurrent_methods.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import explainr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attribution import alternate, trained_model  # the shared timed model


class Column(nn.Module):
    """1-layer LSTM, linear head on the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(5, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def column_model(steps: int) -> tuple[nn.Module, torch.Tensor]:
    """Trained on y = sum of feature 0 over all 30 steps; 16 test windows."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 30, 5, generator=g)
    y = x[:, :, 0].sum(dim=1) / 30**0.5
    torch.manual_seed(0)
    model = Column()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x)[:, 0] - y) ** 2).mean().backward()
        opt.step()
    return model.eval(), torch.randn(16, 30, 5, generator=g)


METHODS: list[tuple[str, str, dict[str, Any]]] = [
    ("lrp", "lrp (absorbed)", {}),
    ("lrp", "lrp (redistributed)", {"lrp_bias": "redistributed"}),
    ("contextual_decomposition", "contextual_decomposition", {"grouped": True}),
    ("integrated_gradients", "integrated_gradients", {}),
    ("kernel_shap", "kernel_shap", {"grouped": True}),
]


def faithfulness(
    name: str, model: nn.Module, x: torch.Tensor, box: tuple[slice, slice], window: int
) -> list[dict[str, Any]]:
    """Box share and deletion relative AUC of every method on one planted model."""
    rows = []
    forwards = []
    for _ in range(6):  # the first is a warm-up
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        forwards.append(time.perf_counter() - start)
    forward = float(np.median(forwards[1:]))
    for method, label, kw in METHODS:
        kw = dict(kw)
        if kw.pop("grouped", False):
            kw.update(window=window, group_by="time_feature")
        start = time.perf_counter()
        a = explainr.attribute(model, x, method, progress=False, **kw)
        seconds = time.perf_counter() - start
        mass = np.abs(a.values)
        share = mass[:, box[0], box[1]].sum() / mass.sum()
        curve = explainr.metrics.deletion(model, x, a, steps=20, by="abs")
        rows.append(
            {
                "model": name,
                "method": label,
                "setting": f"window={window}" if "window" in kw else "-",
                "box": share,
                "deletion": float(np.mean(curve.relative_auc)),
                "ms": seconds * 1e3 / len(x),
                "x_forward": seconds / forward,
            }
        )
    return rows


def speed(model: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of a fused forward, LRP (both bias rules) and IG on the same windows
    (CD and kernel SHAP, seconds per window, are timed once each in the faithfulness table)."""

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def run(method: str, **kw: Any):
        return lambda: explainr.attribute(model, x, method, progress=False, **kw)

    return alternate(
        {
            "forward": forward,
            "lrp": run("lrp"),
            "lrp_redistributed": run("lrp", lrp_bias="redistributed"),
            "integrated_gradients": run("integrated_gradients"),
        },
        repeats,
        True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (tiny counts)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    quick = args.quick
    bench, x, _ = trained_model(5 if quick else 150)
    windows = x[:4] if quick else x
    times = speed(bench, windows, 1 if quick else 7)
    print_speed(times, len(windows), quick)
    zoo = explainr.zoo.load("planted_lstm")
    zoo_x, _ = zoo.windows(last=4 if quick else 16)
    column, column_x = column_model(5 if quick else 300)
    print_faithfulness_header()
    for name, model, xs, box, window in (
        ("bench", bench, windows[:4] if quick else windows[:8], (slice(80, 95), slice(0, 2)), 10),
        ("zoo planted_lstm", zoo.model, zoo_x, (slice(10, 15), slice(2, 4)), 1),
        ("column", column, column_x[:4] if quick else column_x, (slice(None), slice(0, 1)), 1),
    ):
        for r in faithfulness(name, model, xs, box, window):
            print(
                f"| {r['model']:<17} | {r['method']:<26} | {r['setting']:<9} | "
                f"{r['box']:>9.3f} | {r['deletion']:>8.3f} | {r['ms']:>8.1f} | "
                f"{r['x_forward']:>9.1f} |",
                flush=True,
            )


def print_speed(times: dict[str, float], n: int, quick: bool) -> None:
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} recurrent methods: torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        + (" -- QUICK SMOKE RUN, numbers not meaningful" if quick else "")
    )
    print(f"Speed: 2-layer LSTM T=100 F=8 H=64, {n} windows, median, alternating")
    print(f"| {'what':<36} | {'ms/window':>9} | {'x forward':>9} | {'IG / this':>9} |")
    print("|" + "|".join("-" * w for w in (38, 11, 11, 11)) + "|")
    for name, label in (
        ("forward", "fused float32 forward"),
        ("lrp", "lrp (absorbed)"),
        ("lrp_redistributed", "lrp (redistributed)"),
        ("integrated_gradients", "integrated_gradients n_steps=50"),
    ):
        ms = times[name] * 1e3 / n
        print(
            f"| {label:<36} | {ms:>9.2f} | {times[name] / times['forward']:>9.1f} | "
            f"{times['integrated_gradients'] / times[name]:>9.1f} |"
        )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    lrp_fwd = times["lrp"] / times["forward"]
    lrp_ig = times["integrated_gradients"] / times["lrp"]
    print(
        f"target LRP <= 5x forward: {lrp_fwd:.1f}x {'ok' if lrp_fwd <= 5 else 'MISS'}; "
        f">= 10x faster than IG: {lrp_ig:.1f}x {'ok' if lrp_ig >= 10 else 'MISS'}",
        flush=True,
    )


def print_faithfulness_header() -> None:
    print()
    print(
        "Faithfulness: share of |attribution| in the planted box; deletion relative AUC "
        "(lower is better)"
    )
    print(
        f"| {'model':<17} | {'method':<26} | {'setting':<9} | {'box share':>9} | "
        f"{'deletion':>8} | {'ms/win':>8} | {'x forward':>9} |"
    )
    print("|" + "|".join("-" * w for w in (19, 28, 11, 11, 10, 10, 11)) + "|", flush=True)


if __name__ == "__main__":
    main()
