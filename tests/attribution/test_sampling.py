"""gradient_shap (own seeded draws) and lime (over groups) against independent answers.

The draw-by-draw recomputation and captum's estimate of gradient_shap are in
tests/hardening/test_seeds.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explainr

from .conftest import Linear


def test_gradient_shap_closed_form_on_linear_model() -> None:
    model = Linear(6, 2)
    x, baseline = torch.randn(2, 6, 2), torch.randn(6, 2)
    a = explainr.attribute(
        model, x, "gradient_shap", baselines=baseline, n_samples=7, progress=False
    )
    np.testing.assert_allclose(
        a.values, (model.w * (x - baseline)).detach().double().numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(("method", "kw"), [("gradient_shap", {}), ("lime", {"window": 2})])
def test_seeded_and_global_generators_untouched(tiny, tiny_x, method, kw) -> None:
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()

    def run(seed: int) -> explainr.Attribution:
        return explainr.attribute(
            tiny, tiny_x, method, n_samples=64, seed=seed, progress=False, **kw
        )

    first, again, other = run(1), run(1), run(2)
    assert np.array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_lime_recovers_linear_model() -> None:
    # f is linear in the group masks, so lime's weighted ridge recovers each group's
    # contribution (up to the ridge's small shrinkage) = the exact Shapley value.
    model = Linear(8, 3)
    x = torch.randn(2, 8, 3)
    kw = {"window": 2, "group_by": "time_feature", "progress": False}
    lime = explainr.attribute(model, x, "lime", **kw)
    exact = explainr.attribute(model, x, "exact_shapley", window=4, group_by="time", progress=False)
    exact_fine = explainr.attribute(model, x, "integrated_gradients", **kw)  # = w * x per cell
    scale = np.abs(exact_fine.group_values).max()
    assert np.abs(lime.group_values - exact_fine.group_values).max() < 0.02 * scale
    np.testing.assert_allclose(
        lime.values.reshape(2, 2, 4, 3).sum(axis=(2, 3)), exact.group_values, atol=0.05 * scale
    )
    assert min(lime.settings["r2"]) > 0.99
    assert lime.settings["n_samples"] == 5000


def test_lime_window_independent_of_batch(tiny, tiny_x) -> None:
    kw = {"window": 2, "n_samples": 200, "progress": False}
    batch = explainr.attribute(tiny, tiny_x, "lime", **kw)
    alone = explainr.attribute(tiny, tiny_x[2], "lime", **kw)
    np.testing.assert_allclose(alone.group_values[0], batch.group_values[2], rtol=1e-6, atol=1e-9)
