"""Planted signal (Ismail et al. 2020): attributions of a trained LSTM land in the box."""

from __future__ import annotations

import numpy as np
import pytest

import explainr

CASES = [
    ("integrated_gradients", {}),
    ("gradient_shap", {}),
    ("kernel_shap", {"window": 2, "group_by": "time_feature"}),
    ("exact_shapley", {"window": 2, "group_by": "time"}),
    ("lime", {"window": 2, "group_by": "time_feature"}),
]


@pytest.mark.parametrize(("method", "kw"), CASES)
def test_mass_in_box(planted, method, kw) -> None:
    x = planted.x[:8]
    a = explainr.attribute(planted.model, x, method, progress=False, **kw)
    mass = np.abs(a.values)
    in_box = mass[:, planted.box[0], planted.box[1]].sum(axis=(1, 2))
    if kw.get("group_by") == "time":  # blocks cover every feature: the box is its time steps
        in_box = mass[:, planted.box[0], :].sum(axis=(1, 2))
    assert in_box.sum() / mass.sum() > 0.7
    assert (in_box / mass.sum(axis=(1, 2))).min() > 0.5
