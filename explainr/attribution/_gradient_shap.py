"""Expected gradients / GradientSHAP (Erion et al. 2021), computed by captum's `GradientShap`.

For each of ``n_samples`` draws a baseline ``b`` is taken from the background set and a
point ``b + a (x - b)`` with ``a ~ U(0, 1)``; ``values = mean (x - b) * grad f(point)``. In
expectation the values sum to f(x) - mean f(background); the Monte Carlo error shows in
`Attribution.completeness_error`.

Why captum's `GradientShap` and not shap's `GradientExplainer`: both compute this same
estimator, but shap's PyTorch explainer calls ``model.eval()`` on the caller's model and
leaves it there, calls ``model.zero_grad()`` (wiping the caller's gradients), indexes the
output as ``outputs[:, idx]`` (no ``(batch,)`` outputs) and runs the backward with cuDNN on,
which fails for an eval-mode LSTM on CUDA ("cudnn RNN backward can only be called in
training mode"). captum's takes a plain forward function, so the target selection, the
eval mode kept only for the call and the local cuDNN switch of `gradient_pass` all apply,
and it evaluates all samples in one batched forward+backward instead of a Python loop.

Seeding: the generators are seeded once per call, so the same ``seed`` and windows give
bit-identical values, but a window's draws depend on its place in the batch.
"""

from __future__ import annotations

import numpy as np

from explainr._core.model import chunks
from explainr._core.state import gradient_pass, seeded
from explainr.attribution._problem import Computed, Problem

DEFAULT_SAMPLES = 200  # shap GradientExplainer's default; see benchmarks/attribution.py


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)`` by captum GradientShap (seeded).

    The samples go through the model in cache-sized calls: when ``n_samples`` exceeds
    ``rows.backward``, each window's samples are split into near-equal rounds whose
    results are averaged (the same estimator over the same number of samples).
    """
    from captum.attr import GradientShap

    samples = problem.n_samples or DEFAULT_SAMPLES
    rounds = sample_rounds(samples, problem.model.rows.backward)
    explainer = GradientShap(problem.model)
    x = problem.x
    values = np.zeros(tuple(x.shape), dtype=np.float64)
    with problem.bar() as bar, seeded(problem.seed, x.device):
        for part in chunks(len(x), max(rounds), problem.model.rows.backward):
            for count in rounds:
                with gradient_pass(problem.model.model):
                    found = explainer.attribute(
                        x[part], baselines=problem.baselines, n_samples=count, stdevs=0.0
                    )
                values[part] += found.detach().double().cpu().numpy() * (count / samples)
            bar.update(part.stop - part.start)
    return Computed(values=values, settings={"n_samples": samples, "seed": problem.seed})


def sample_rounds(samples: int, rows: int) -> list[int]:
    """``samples`` split into the fewest near-equal rounds of at most ``rows`` each."""
    count = -(-samples // max(1, rows))
    return [samples // count + (1 if i < samples % count else 0) for i in range(count)]
