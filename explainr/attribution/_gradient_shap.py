"""Expected gradients / GradientSHAP (Erion et al. 2021), with explainr's own seeded draws.

For each of ``n_samples`` draws a baseline ``b`` is taken from the background set and a
point ``b + a (x - b)`` with ``a ~ U(0, 1)``; ``values = mean (x - b) * grad f(point)``. In
expectation the values sum to f(x) - mean f(background); the Monte Carlo error shows in
`Attribution.completeness_error`. This is the estimator of captum's `GradientShap` (with
``stdevs=0``) and shap's `GradientExplainer`.

Why not call either library: both draw from the global numpy/torch generators, so two
threads explaining at once would disturb each other's draws and the caller's generators
would move. Here the draws come from a ``numpy.random.Generator`` of our own, seeded by
``seed``: the same seed gives bit-identical values whatever else runs. The same draws serve
every window, so a window's values do not depend on the other windows in the batch.
(shap's PyTorch explainer also calls ``model.eval()`` and ``model.zero_grad()`` on the
caller's model and runs the backward with cuDNN on; `gradient_pass` avoids both.)
"""

from __future__ import annotations

import numpy as np
import torch

from explainr._core.state import gradient_pass
from explainr.attribution._problem import Computed, Problem

DEFAULT_SAMPLES = 200  # shap GradientExplainer's default; see benchmarks/attribution.py


def draws(seed: int, samples: int, background: int) -> tuple[np.ndarray, np.ndarray]:
    """The background window ``(samples,)`` int and the path position ``(samples,)`` of each draw."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, background, size=samples)
    return which, rng.random(samples)


def needs(problem: Problem) -> tuple[float, str, str]:
    """Bytes of the draws, the values and one chunk of points, what, and what to lower."""
    samples = problem.n_samples or DEFAULT_SAMPLES
    cells = float(problem.x[0].numel())
    rows = min(float(len(problem.x)) * samples, max(1, problem.model.rows.backward))
    return (
        24.0 * samples + 16 * cells * len(problem.x) + 8 * 8 * rows * cells,
        f"gradient_shap with n_samples={samples}",
        f"pass a smaller n_samples (default {DEFAULT_SAMPLES})",
    )


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)``: mean of (x - b) * grad f(b + a (x - b)).

    The (window, draw) pairs go through the model in cache-sized forward+backward calls
    of at most ``rows.backward`` points.
    """
    samples = problem.n_samples or DEFAULT_SAMPLES
    x, baselines = problem.x, problem.baselines
    which, alpha = draws(problem.seed, samples, len(baselines))
    which_t = torch.as_tensor(which, device=x.device)
    alpha_t = torch.as_tensor(alpha, device=x.device).to(x.dtype)
    total = np.zeros(tuple(x.shape), dtype=np.float64)
    pairs, rows = len(x) * samples, max(1, problem.model.rows.backward)
    with problem.bar() as bar:
        for start in range(0, pairs, rows):
            stop = min(start + rows, pairs)
            index = torch.arange(start, stop, device=x.device)
            window, draw = index // samples, index % samples
            base = baselines[which_t[draw]]
            step = x[window] - base
            point = (base + alpha_t[draw].view(-1, 1, 1) * step).requires_grad_(True)
            with gradient_pass(problem.model.model):
                (grad,) = torch.autograd.grad(
                    problem.model(point).sum(), point, allow_unused=True, materialize_grads=True
                )
            found = (step * grad).detach().double().cpu().numpy()
            np.add.at(total, window.cpu().numpy(), found)
            bar.update(stop // samples - start // samples)  # windows whose last draw is done
    return Computed(values=total / samples, settings={"n_samples": samples, "seed": problem.seed})
