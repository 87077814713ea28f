"""Patch kernel SHAP vs pixel-level kernel SHAP on the same windows of frames.

Setting (BENCHMARKS.md): the zoo's ``planted_convlstm`` (ConvLSTM, 6 frames of 8x8, one
channel) and its first test windows, CPU, torch.set_num_threads(2). The reference is exact
Shapley on the 16 patches of 2x2 cells over the whole window (``group_by="patch"``,
``patch=2``: 2**16 coalitions). Both kernel SHAP runs use shap's default sample count
(2 G + 2048):

- patch: ``group_by="patch", patch=2`` (16 groups);
- pixel: ``group_by="patch", patch=1`` (64 groups: each pixel over the window), its pixel
  values then summed over each 2x2 patch to be compared with the reference.

Time: per window, alternating patch / pixel, median of the repeats after a warm-up.
Error: relative L2 distance of the 16 patch values to exact Shapley, median over windows;
and the share of |value| each run puts inside the planted box (the right answer).

    python benchmarks/patch_shap.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

import explainr
from explainr import zoo


def patch_sums(frames: np.ndarray, patch: int) -> np.ndarray:
    """``(batch, time, 1, H, W)`` -> ``(batch, patches)`` summed over time and each square."""
    plane = frames.sum(axis=(1, 2))
    b, h, w = plane.shape
    return plane.reshape(b, h // patch, patch, w // patch, patch).sum(axis=(2, 4)).reshape(b, -1)


def box_share(frames: np.ndarray, box: dict) -> float:
    mass = np.abs(frames)
    inside = np.zeros(mass.shape[1:], dtype=bool)
    inside[slice(*box["steps"]), :, slice(*box["rows"]), slice(*box["cols"])] = True
    return float(mass[:, inside].sum() / mass.sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 windows, 3 repeats")
    args = parser.parse_args()
    torch.set_num_threads(2)
    windows, repeats = (2, 3) if args.quick else (4, 5)
    entry = zoo.load("planted_convlstm")
    x, _ = entry.samples("test")
    x = x[:windows]
    box = entry.card["box"]

    started = time.perf_counter()
    exact = explainr.attribute(entry.model, x, "exact_shapley", group_by="patch", patch=2)
    exact_seconds = (time.perf_counter() - started) / windows

    runs = {
        "patch 2x2 (16 groups)": {"group_by": "patch", "patch": 2},
        "pixel (64 groups)": {"group_by": "patch", "patch": 1},
    }
    for kwargs in runs.values():  # warm-up
        explainr.attribute(entry.model, x[:1], "kernel_shap", **kwargs)
    times: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    for _ in range(repeats):
        for name, kwargs in runs.items():  # alternating A B A B
            started = time.perf_counter()
            results[name] = explainr.attribute(entry.model, x, "kernel_shap", **kwargs)
            times[name].append((time.perf_counter() - started) / windows)

    reference = exact.group_values
    print(
        f"# patch_shap: planted_convlstm, {windows} windows of 6 x 1 x 8 x 8, {platform.machine()}"
    )
    print(
        f"# torch {torch.__version__}, threads 2; exact Shapley on 16 patches: {exact_seconds:.2f} s/window"
    )
    print(
        "| kernel SHAP on | s / window | ratio to patch | rel. L2 error vs exact (median) | |value| in box |"
    )
    print("|---|---|---|---|---|")
    patch_time = statistics.median(times["patch 2x2 (16 groups)"])
    for name, a in results.items():
        values = patch_sums(a.frames, 2)
        errors = np.linalg.norm(values - reference, axis=1) / np.linalg.norm(reference, axis=1)
        seconds = statistics.median(times[name])
        print(
            f"| {name} | {seconds:.3f} | {seconds / patch_time:.2f} | "
            f"{float(np.median(errors)):.4f} | {box_share(a.frames, box):.1%} |"
        )
    print(
        f"| exact Shapley (reference) | {exact_seconds:.3f} | {exact_seconds / patch_time:.2f} | 0 | {box_share(exact.frames, box):.1%} |"
    )


if __name__ == "__main__":
    main()
