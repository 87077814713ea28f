"""Occlusion (Zeiler & Fergus 2014) with a window sliding over time, one step at a time.

An occluding window covers ``window`` consecutive steps and, by ``group_by``, all features
(``"time"``), one feature (``"time_feature"``) or one feature over the whole input
(``"feature"``). Its cells are replaced by the baseline (averaged over a background set) and
``d = f(x) - f(occluded)`` is shared evenly by its cells; a cell's value is the mean share
over the windows that cover it. This is captum's `Occlusion` (stride 1 in time) divided by
the window's cell count, so that with non-overlapping windows a group sums to its output
drop. Occlusion is not additive: values need not sum to f(x) - f(baseline).
"""

from __future__ import annotations

import numpy as np
import torch

from explainr.attribution._problem import Computed, Problem


def occluded_cells(time: int, features: int, window: int, group_by: str) -> np.ndarray:
    """``(windows, time, feature)`` bool: the cells each sliding window occludes."""
    feature_sets = [[f] for f in range(features)] if group_by != "time" else [list(range(features))]
    masks = []
    for start in range(time - window + 1):
        for chosen in feature_sets:
            mask = np.zeros((time, features), dtype=bool)
            mask[start : start + window, chosen] = True
            masks.append(mask)
    return np.stack(masks)


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)``: mean per-cell output drop of covering windows."""
    _, time, features = problem.x.shape
    window = problem.grouping.window
    occluded = occluded_cells(time, features, window, problem.grouping.group_by)
    share = 1.0 / occluded.reshape(len(occluded), -1).sum(axis=1)  # (windows,)
    cover = occluded.sum(axis=0)  # (time, feature), >= 1 everywhere
    keep = torch.as_tensor(~occluded, device=problem.x.device)
    values = np.zeros(tuple(problem.x.shape), dtype=np.float64)
    with problem.bar() as bar:
        for b, x in enumerate(problem.x):
            drop = problem.prediction[b] - problem.model.masked(x, problem.baselines, keep)
            values[b] = np.einsum("w,wtf->tf", drop * share, occluded) / cover
            bar.update(1)
    return Computed(values=values, settings={"occluding_windows": len(occluded), "stride": 1})
