"""Occlusion equals captum's Occlusion (stride 1 in time) shared over the window's cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import Occlusion

import explainr

from .conftest import Linear, Recurrent


@pytest.mark.parametrize(
    ("window", "group_by", "shape"),
    [(3, "time", (3, 4)), (2, "time_feature", (2, 1)), (None, "feature", (8, 1))],
)
def test_equals_captum_per_cell(window, group_by, shape) -> None:
    torch.manual_seed(0)
    model = Recurrent(4, 6).eval()
    x, baseline = torch.randn(2, 8, 4), torch.randn(8, 4)
    ours = explainr.attribute(
        model, x, "occlusion", window=window, group_by=group_by, baselines=baseline, progress=False
    )
    theirs = Occlusion(model).attribute(
        x, sliding_window_shapes=shape, strides=(1, shape[1]), baselines=baseline[None], target=0
    )
    cells = shape[0] * shape[1]
    np.testing.assert_allclose(
        ours.values * cells, theirs.detach().double().numpy(), rtol=1e-4, atol=1e-6
    )


def test_single_cells_on_linear_model() -> None:
    model = Linear(5, 3)
    x = torch.randn(2, 5, 3)
    a = explainr.attribute(model, x, "occlusion", window=1, group_by="time_feature", progress=False)
    np.testing.assert_allclose(
        a.values, (model.w * x).detach().double().numpy(), rtol=1e-5, atol=1e-6
    )
