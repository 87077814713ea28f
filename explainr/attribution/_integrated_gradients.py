"""Integrated gradients (Sundararajan et al. 2017), computed by captum's `IntegratedGradients`.

``values[b, t, f] = (x - baseline)[t, f] * mean over the path of d f / d x[t, f]``, with
captum's Gauss-Legendre path of ``n_steps`` points. Values sum to f(x) - f(baseline) up to
the path's quadrature error, which `Attribution.completeness_error` reports. With a
background set the result is the average of IG over its windows (sums to f(x) - mean f).
"""

from __future__ import annotations

import numpy as np

from explainr.attribution._model import chunks, gradient_pass
from explainr.attribution._problem import Computed, Problem


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)`` by captum IG, batched over windows."""
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(problem.model)
    x, baselines = problem.x, problem.baselines
    values = np.zeros(tuple(x.shape), dtype=np.float64)
    with problem.bar() as bar:
        rows = problem.model.rows.backward
        for part in chunks(len(x), problem.n_steps, rows):
            for baseline in baselines:
                with gradient_pass(problem.model.model):
                    found = ig.attribute(
                        x[part],
                        baselines=baseline[None],
                        n_steps=problem.n_steps,
                        internal_batch_size=max(rows, part.stop - part.start),
                    )
                values[part] += found.detach().double().cpu().numpy()
            bar.update(part.stop - part.start)
    values /= len(baselines)
    return Computed(values=values, settings={"n_steps": problem.n_steps, "path": "gausslegendre"})
