"""exact_shapley against brute force; kernel_shap against exact_shapley; efficiency."""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pytest
import torch

import explainr

from .conftest import Linear, Recurrent


def brute_force_shapley(model, x, baselines, groups) -> np.ndarray:
    """Shapley values of ``groups`` (lists of (t, f) cells) for one window, by definition."""
    n = len(groups)

    def worth(coalition: tuple[int, ...]) -> float:
        outs = []
        for baseline in baselines:
            z = baseline.clone()
            for g in coalition:
                for t, f in groups[g]:
                    z[t, f] = x[t, f]
            outs.append(model(z[None]).reshape(-1)[0].item())
        return float(np.mean(outs))

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for s in itertools.combinations(others, size):
                phi[i] += weight * (worth((*s, i)) - worth(s))
    return phi


def cells(time: range, features: range) -> list[tuple[int, int]]:
    return [(t, f) for t in time for f in features]


# (window, group_by, groups of a (6, 2) window written out by hand)
GROUPINGS = [
    (
        2,
        "time",
        [cells(range(0, 2), range(2)), cells(range(2, 4), range(2)), cells(range(4, 6), range(2))],
    ),
    (None, "feature", [cells(range(6), range(0, 1)), cells(range(6), range(1, 2))]),
    (
        4,
        "time_feature",
        [
            cells(range(0, 4), [0]),
            cells(range(0, 4), [1]),
            cells(range(4, 6), [0]),
            cells(range(4, 6), [1]),
        ],
    ),
]


@pytest.mark.parametrize(("window", "group_by", "groups"), GROUPINGS)
@pytest.mark.parametrize("n_baselines", [1, 3])
def test_exact_equals_brute_force(tiny, tiny_x, window, group_by, groups, n_baselines) -> None:
    baselines = torch.randn(n_baselines, 6, 2, generator=torch.Generator().manual_seed(5))
    a = explainr.attribute(
        tiny,
        tiny_x,
        "exact_shapley",
        window=window,
        group_by=group_by,
        baselines=baselines,
        progress=False,
    )
    assert [
        [
            (t, f)
            for t in range(*g.time)
            for f in ([g.feature] if g.feature is not None else range(2))
        ]
        for g in a.groups
    ] == groups
    with torch.no_grad():
        for b in range(len(tiny_x)):
            expected = brute_force_shapley(tiny, tiny_x[b], baselines, groups)
            np.testing.assert_allclose(a.group_values[b], expected, rtol=1e-5, atol=1e-6)


def test_exact_on_linear_model_is_group_sum() -> None:
    model = Linear(8, 3)
    x, baseline = torch.randn(2, 8, 3), torch.randn(8, 3)
    a = explainr.attribute(
        model,
        x,
        "exact_shapley",
        baselines=baseline,
        window=3,
        group_by="time_feature",
        progress=False,
    )
    contributions = (model.w * (x - baseline)).detach().double().numpy()
    for g, group in enumerate(a.groups):
        expected = contributions[:, slice(*group.time), group.feature].sum(1)
        np.testing.assert_allclose(a.group_values[:, g], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("window", "n_samples"), [(2, None), (1, 2000)])
def test_kernel_shap_close_to_exact(tiny, tiny_x, window, n_samples) -> None:
    # window=2: 6 groups, every coalition enumerated; window=1: 12 groups, 2000 of 4094 sampled
    kw = {"window": window, "group_by": "time_feature", "progress": False}
    exact = explainr.attribute(tiny, tiny_x, "exact_shapley", **kw)
    kernel = explainr.attribute(tiny, tiny_x, "kernel_shap", n_samples=n_samples, **kw)
    assert kernel.group_values.shape == exact.group_values.shape == (3, 6 if window == 2 else 12)
    scale = np.abs(exact.group_values).max(axis=1, keepdims=True)
    assert np.abs(kernel.group_values - exact.group_values).max() <= 0.02 * scale.min()


@pytest.mark.parametrize("method", ["exact_shapley", "kernel_shap"])
def test_efficiency(planted, method) -> None:
    a = explainr.attribute(
        planted.model, planted.x[:4], method, window=5, group_by="time_feature", progress=False
    )
    delta = a.prediction - a.baseline_prediction
    np.testing.assert_allclose(a.group_values.sum(1), delta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.values.sum(axis=(1, 2)), delta, rtol=1e-4, atol=1e-5)
    assert a.completeness_error.max() < 1e-4


def test_kernel_shap_default_samples_recorded(tiny, tiny_x) -> None:
    a = explainr.attribute(
        tiny, tiny_x[:1], "kernel_shap", window=1, group_by="time_feature", progress=False
    )
    assert a.settings["n_samples"] == 2 * 12 + 2048


def test_kernel_shap_seeded(tiny, tiny_x) -> None:
    kw = {"window": 1, "group_by": "time_feature", "n_samples": 300, "progress": False}
    state = np.random.get_state()[1].copy()
    first = explainr.attribute(tiny, tiny_x, "kernel_shap", seed=3, **kw)
    again = explainr.attribute(tiny, tiny_x, "kernel_shap", seed=3, **kw)
    other = explainr.attribute(tiny, tiny_x, "kernel_shap", seed=4, **kw)
    assert np.array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)
    assert np.array_equal(np.random.get_state()[1], state)  # the global generator is untouched


def test_exact_refuses_too_many_groups(tiny) -> None:
    x = torch.randn(1, 20, 2)
    with pytest.raises(explainr.ExplainrError, match=r"G=40 groups.*kernel_shap"):
        explainr.attribute(
            tiny, x, "exact_shapley", window=1, group_by="time_feature", progress=False
        )


def test_exact_default_window_stays_small() -> None:
    model = Recurrent(8, 4).eval()
    a = explainr.attribute(
        model, torch.randn(1, 100, 8), "exact_shapley", group_by="time_feature", progress=False
    )
    assert a.window == 100 and len(a.groups) == 8


def test_drawn_coalitions_come_in_complementary_pairs() -> None:
    from explainr.attribution._kernel_shap import coalitions

    masks, weights = coalitions(12, 511, np.random.default_rng(0))
    assert len(masks) <= 511 and np.all(weights > 0)
    assert len({m.tobytes() for m in masks}) == len(masks)  # distinct
    assert {m.tobytes() for m in masks} == {(~m).tobytes() for m in masks}  # pairs, also |S| = 6
    assert (masks.sum(1) == 6).any()
    np.testing.assert_allclose(weights.sum(), 1.0)
    sizes = masks.sum(1)
    for s in range(1, 12):  # a coalition and its complement weigh the same
        np.testing.assert_allclose(weights[sizes == s].sum(), weights[sizes == 12 - s].sum())


@pytest.mark.parametrize("n_samples", [256, 1024])
def test_kernel_shap_closer_to_exact_than_shap_at_the_same_budget(tiny, tiny_x, n_samples) -> None:
    """12 groups, 256 or 1,024 of 4,094 coalitions: corrected weights on complementary pairs
    against shap's count weights, each against exact Shapley (worth from plain model calls)."""
    import shap

    kw = {"window": 1, "group_by": "time_feature", "progress": False}
    x = torch.cat([tiny_x, torch.randn(5, 6, 2, generator=torch.Generator().manual_seed(5))])
    exact = explainr.attribute(tiny, x, "exact_shapley", **kw).group_values
    ours = explainr.attribute(tiny, x, "kernel_shap", n_samples=n_samples, **kw).group_values
    cell_group = np.arange(12).reshape(6, 2)  # window=1, time_feature: group t * 2 + f
    theirs = np.zeros_like(exact)
    for i, window in enumerate(x):

        def f(z: np.ndarray, window: torch.Tensor = window) -> np.ndarray:
            keep = torch.as_tensor(z[:, cell_group] > 0.5)
            with torch.no_grad():
                return tiny(torch.where(keep, window, torch.zeros(()))).double().numpy().ravel()

        np.random.seed(i)
        explainer = shap.KernelExplainer(f, np.zeros((1, 12)))
        theirs[i] = explainer.shap_values(
            np.ones((1, 12)), nsamples=n_samples, l1_reg=False, silent=True
        ).reshape(12)

    def error(values: np.ndarray) -> float:
        gap = np.linalg.norm(values - exact, axis=1) / np.linalg.norm(exact, axis=1)
        return float(np.median(gap))

    assert error(ours) < 0.5 * error(theirs)
    assert error(ours) < 0.02


def test_kernel_shap_counts_what_it_evaluates_and_refuses_too_few_samples(tiny, tiny_x) -> None:
    kw = {"window": 1, "group_by": "time_feature", "progress": False}  # 12 groups
    odd = explainr.attribute(tiny, tiny_x[:1], "kernel_shap", n_samples=301, **kw)
    assert odd.settings["n_samples"] == 300  # pairs: the odd one is not drawn
    explainr.attribute(tiny, tiny_x[:1], "kernel_shap", n_samples=12, **kw)  # just enough
    with pytest.raises(explainr.ExplainrError, match=r"12 groups needs n_samples >= 12"):
        explainr.attribute(tiny, tiny_x[:1], "kernel_shap", n_samples=11, **kw)


def test_kernel_shap_with_a_thousand_groups(tiny) -> None:
    """C(1200, 600) does not fit a float: the corrected weights never form it."""
    x = torch.randn(1, 600, 2, generator=torch.Generator().manual_seed(3))
    kw = {"window": 1, "group_by": "time_feature", "progress": False}
    a = explainr.attribute(tiny, x, "kernel_shap", n_samples=2500, **kw)
    assert a.group_values.shape == (1, 1200) and np.isfinite(a.group_values).all()
    np.testing.assert_allclose(
        a.group_values.sum(1), a.prediction - a.baseline_prediction, rtol=1e-6, atol=1e-9
    )
