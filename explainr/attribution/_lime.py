"""LIME (Ribeiro et al. 2016) over groups, fitted by lime's `LimeBase`.

Like lime's image and text explainers: each sample switches every group on or off with
probability 1/2 (the first sample is the window itself); a switched-off group takes the
baseline (averaged over a background set). Samples are weighted by lime's exponential
kernel of their cosine distance to the all-on mask (width 0.25, as lime's image explainer),
and lime fits a weighted ridge regression (alpha = 1). A group's value is its coefficient:
the output change the linear surrogate assigns to switching the group on. LIME has no
efficiency guarantee: values sum to f(x) - f(baseline) only as far as the surrogate is
linear (`Attribution.completeness_error` reports it; ``settings["r2"]`` holds each fit's R²).

The same seeded sample of masks serves every window, so a window's values do not depend
on the other windows in the batch.
"""

from __future__ import annotations

import numpy as np

from explainr._core.model import check_outputs
from explainr._core.state import import_keeping_random
from explainr.attribution._problem import Computed, Problem

DEFAULT_SAMPLES = 5000  # lime's default num_samples for tabular and text
KERNEL_WIDTH = 0.25


def compute(problem: Problem) -> Computed:
    """Group values ``(batch, groups)``: lime's ridge coefficients on group masks (seeded)."""
    lime_base = import_keeping_random("lime.lime_base")
    pairwise_distances = import_keeping_random("sklearn.metrics").pairwise_distances
    n = problem.grouping.size
    samples = problem.n_samples or DEFAULT_SAMPLES
    masks = np.random.default_rng(problem.seed).integers(0, 2, size=(samples, n)).astype(bool)
    masks[0] = True
    distances = pairwise_distances(masks, masks[:1], metric="cosine").ravel()
    lime = lime_base.LimeBase(_kernel, random_state=problem.seed)
    values = np.zeros((len(problem.x), n), dtype=np.float64)
    scores = []
    with problem.bar() as bar:
        for b, window in enumerate(problem.x):
            outputs = problem.model.masked_groups(
                window, problem.baselines, masks, problem.grouping.cell_group
            )
            check_outputs(outputs, "lime", tuple(problem.x.shape))
            _, weights, score, _ = lime.explain_instance_with_data(
                masks.astype(np.float64),
                outputs[:, None],
                distances,
                label=0,
                num_features=n,
                feature_selection="none",
            )
            for group, weight in weights:
                values[b, group] = weight
            scores.append(float(score))
            bar.update(1)
    settings = {
        "n_samples": samples,
        "seed": problem.seed,
        "kernel_width": KERNEL_WIDTH,
        "r2": scores,
    }
    return Computed(group_values=values, settings=settings)


def needs(problem: Problem) -> tuple[float, str, str]:
    """Bytes of the mask matrices and lime's regression copies, what, and what to lower."""
    samples = problem.n_samples or DEFAULT_SAMPLES
    cells = float(samples) * problem.grouping.size
    return (
        60 * cells + 8.0 * samples * 4,
        f"lime with n_samples={samples} over {problem.grouping.size} groups",
        f"pass a smaller n_samples (default {DEFAULT_SAMPLES}) or fewer groups (a larger "
        "window, or group_by='time' / 'feature')",
    )


def _kernel(distances: np.ndarray) -> np.ndarray:
    return np.sqrt(np.exp(-(distances**2) / KERNEL_WIDTH**2))
