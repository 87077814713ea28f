"""Occlusion (Zeiler & Fergus 2014) with a window sliding over time, one step at a time.

captum's `Occlusion` underneath. An occluding window covers ``window`` consecutive steps and,
by ``group_by``, all features (``"time"``) or one feature (``"time_feature"``, and
``"feature"``, whose window is the whole input). Its cells are replaced by the baseline; captum
gives each cell the mean output drop ``f(x) - f(occluded)`` of the windows covering it, and
explainr divides that by the window's cell count, so that with non-overlapping windows a group
sums to its output drop. With a background set the drops are averaged over its windows.
Occlusion is not additive: values need not sum to f(x) - f(baseline).
"""

from __future__ import annotations

import numpy as np

from explainr._core.model import chunks
from explainr.attribution._problem import Computed, Problem


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)``: per-cell share of the covering windows' drops."""
    from captum.attr import Occlusion

    x = problem.x
    _, time, features = x.shape
    window = problem.grouping.window
    across = features if problem.grouping.group_by == "time" else 1
    shape, strides = (window, across), (1, across)
    occluding = (time - window + 1) * (features // across)
    occlusion = Occlusion(problem.model)
    rows = problem.model.rows.forward
    values = np.zeros(tuple(x.shape), dtype=np.float64)
    with problem.bar() as bar:
        for part in chunks(len(x), occluding, rows):
            per_eval = max(1, rows // (part.stop - part.start))
            for baseline in problem.baselines:
                found = occlusion.attribute(
                    x[part],
                    sliding_window_shapes=shape,
                    strides=strides,
                    baselines=baseline[None],
                    perturbations_per_eval=per_eval,
                )
                values[part] += found.detach().double().cpu().numpy()
            bar.update(part.stop - part.start)
    values /= len(problem.baselines) * window * across
    return Computed(values=values, settings={"occluding_windows": occluding, "stride": 1})
