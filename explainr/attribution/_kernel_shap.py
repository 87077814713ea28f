"""Kernel SHAP (Lundberg & Lee 2017) over groups, computed by shap's `KernelExplainer`.

shap sees G binary "features", one per group: 1 keeps the group's cells, 0 replaces them
by the baseline (averaged over a background set). Its background is the all-zeros mask, so
the values sum exactly to f(x) - f(baseline) (shap's efficiency constraint). Explaining G
groups instead of the window's time x feature cells makes the regression small and every
masked window one row of a batched forward.

Defaults: shap's ``nsamples="auto"`` (2 G + 2048 coalitions; every coalition when
2**G - 2 is fewer, which makes the result exact) and no L1 feature selection (shap's
default ``l1_reg="num_features(10)"`` would zero all but 10 groups).
"""

from __future__ import annotations

import warnings

import numpy as np
from torch import Tensor

from explainr._core.state import seeded
from explainr.attribution._problem import Computed, Problem


def default_samples(groups: int) -> int:
    """shap's own default: 2 G + 2048 coalitions."""
    return 2 * groups + 2048


def compute(problem: Problem) -> Computed:
    """Group values ``(batch, groups)`` by shap KernelExplainer on group masks (seeded)."""
    n = problem.grouping.size
    samples = problem.n_samples or default_samples(n)
    values = np.zeros((len(problem.x), n), dtype=np.float64)
    with problem.bar() as bar:
        for b, window in enumerate(problem.x):
            values[b] = _shapley_values(problem, window, samples)
            bar.update(1)
    used = min(samples, 2**n - 2) if n <= 30 else samples
    return Computed(group_values=values, settings={"n_samples": used, "seed": problem.seed})


def _shapley_values(problem: Problem, window: Tensor, samples: int) -> np.ndarray:
    """Shapley values ``(groups,)`` of one window ``(time, feature)``."""
    with warnings.catch_warnings():  # shap's colormap set-up warns on first import
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    cell_group = problem.grouping.cell_group

    def masked(keep: np.ndarray) -> np.ndarray:
        return problem.model.masked_groups(window, problem.baselines, keep > 0.5, cell_group)

    n = problem.grouping.size
    with seeded(problem.seed, window.device):
        explainer = shap.KernelExplainer(masked, np.zeros((1, n)))
        found = explainer.shap_values(np.ones((1, n)), nsamples=samples, l1_reg=False, silent=True)
    return np.asarray(found, dtype=np.float64).reshape(n)
