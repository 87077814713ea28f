"""Exact Shapley values of groups, by evaluating every coalition (the reference).

``v(S)`` is the model's output with the groups in S kept and the others replaced by the
baseline (averaged over a background set); group i gets
``sum over S not holding i of |S|! (G - |S| - 1)! / G! * (v(S + i) - v(S))``.
2**G model evaluations per window, batched: practical up to about 14 groups.
"""

from __future__ import annotations

from math import factorial

import numpy as np

from explainr.attribution._problem import Computed, Problem

MAX_GROUPS = 16


def compute(problem: Problem) -> Computed:
    """Group values ``(batch, groups)``: exact Shapley values of the grouping's groups."""
    n = problem.grouping.size
    coalitions = coalition_masks(n)
    values = np.zeros((len(problem.x), n), dtype=np.float64)
    with problem.bar() as bar:
        for b, window in enumerate(problem.x):
            worth = problem.model.masked_groups(
                window, problem.baselines, coalitions, problem.grouping.cell_group
            )
            values[b] = shapley_from_worth(worth, n)
            bar.update(1)
    return Computed(group_values=values, settings={"coalitions": len(coalitions)})


def coalition_masks(n: int) -> np.ndarray:
    """``(2**n, n)`` bool: row c keeps group g when bit g of c is set."""
    codes = np.arange(2**n, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def shapley_from_worth(worth: np.ndarray, n: int) -> np.ndarray:
    """Shapley values ``(n,)`` from the worth ``(2**n,)`` of every coalition (bit-coded)."""
    codes = np.arange(2**n, dtype=np.int64)
    sizes = _popcount(codes)
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    out = np.zeros(n, dtype=np.float64)
    for g in range(n):
        without = codes[(codes >> g) & 1 == 0]
        out[g] = np.sum(weight[sizes[without]] * (worth[without | (1 << g)] - worth[without]))
    return out


def _popcount(codes: np.ndarray) -> np.ndarray:
    return np.unpackbits(codes.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1)
