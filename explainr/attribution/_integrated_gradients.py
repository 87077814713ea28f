"""Integrated gradients (Sundararajan et al. 2017), computed by captum's `IntegratedGradients`.

``values[b, t, f] = (x - baseline)[t, f] * mean over the path of d f / d x[t, f]``, with
captum's Gauss-Legendre path of ``n_steps`` points. Values sum to f(x) - f(baseline) up to
the path's quadrature error. As Sundararajan et al. advise, the error is checked: windows
whose completeness error exceeds 1% are computed again with twice the steps, up to 8x
``n_steps``; ``settings["n_steps_used"]`` lists the steps each window got, and
`Attribution.completeness_error` reports what remains. With a background set the result is
the average of IG over its windows (sums to f(x) - mean f).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from explainr._core.model import chunks
from explainr._core.state import gradient_pass
from explainr.attribution._problem import Computed, Problem

TOLERANCE = 0.01  # completeness error that triggers more steps
MAX_REFINE = 8  # at most this many times the requested steps


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)`` by captum IG, batched over windows."""
    x, baselines = problem.x, problem.baselines
    steps = np.full(len(x), problem.n_steps)
    with problem.bar() as bar:
        values = _integrate(problem, x, problem.n_steps, bar)
    delta = problem.prediction - problem.model.evaluate(baselines).double().mean().item()
    while True:
        error = np.abs(values.reshape(len(x), -1).sum(axis=1) - delta)
        redo = np.flatnonzero(
            (error > TOLERANCE * np.maximum(np.abs(delta), 1e-12))
            & (steps * 2 <= problem.n_steps * MAX_REFINE)
        )
        if len(redo) == 0:
            break
        steps[redo] *= 2
        for n in np.unique(steps[redo]):
            rows = redo[steps[redo] == n]
            values[rows] = _integrate(problem, x[rows], int(n), None)
    settings = {"n_steps": problem.n_steps, "path": "gausslegendre"}
    if (steps != problem.n_steps).any():
        settings["n_steps_used"] = steps.tolist()
    return Computed(values=values, settings=settings)


def _integrate(problem: Problem, x: Tensor, n_steps: int, bar) -> np.ndarray:
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(problem.model)
    values = np.zeros(tuple(x.shape), dtype=np.float64)
    rows = problem.model.rows.backward
    for part in chunks(len(x), n_steps, rows):
        for baseline in problem.baselines:
            with gradient_pass(problem.model.model):
                found = ig.attribute(
                    x[part],
                    baselines=baseline[None],
                    n_steps=n_steps,
                    internal_batch_size=max(rows, part.stop - part.start),
                )
            values[part] += found.detach().double().cpu().numpy()
        if bar is not None:
            bar.update(part.stop - part.start)
    return values / len(problem.baselines)
