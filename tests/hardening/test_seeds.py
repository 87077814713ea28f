"""Seeds hold under threads: own generators, bit-identical values, global RNG untouched."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import torch

import explainr
from explainr.attribution._gradient_shap import draws

SAMPLING = [
    ("kernel_shap", {"window": 1, "n_samples": 64}),
    ("lime", {"window": 2, "n_samples": 64}),
    ("gradient_shap", {"n_samples": 64}),
]


def _global_state() -> tuple:
    return np.random.get_state()[1].copy(), torch.get_rng_state(), random.getstate()


def _same_state(before: tuple, after: tuple) -> bool:
    return (
        np.array_equal(before[0], after[0])
        and torch.equal(before[1], after[1])
        and before[2] == after[2]
    )


def _concurrently(run) -> list[np.ndarray]:
    """``run()`` in two threads at once, while a third draws from the global generators."""
    found: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker(i: int) -> None:
        try:
            start.wait()
            found[i] = run()
        except BaseException as error:  # reported below
            errors.append(error)

    def noise() -> None:  # the caller's own code drawing from the global generators
        start.wait()
        for _ in range(200):
            np.random.rand(16)
            torch.rand(16)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    threads.append(threading.Thread(target=noise))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return [found[0], found[1]]


@pytest.mark.parametrize(("method", "kw"), SAMPLING)
def test_two_threads_bit_identical_and_global_rng_untouched(tiny, tiny_x, method, kw) -> None:
    background = torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(5))

    def run() -> np.ndarray:
        return explainr.attribute(
            tiny, tiny_x, method, baselines=background, seed=3, progress=False, **kw
        ).values

    before = _global_state()
    alone = run()
    assert _same_state(before, _global_state())
    for _trial in range(4):
        assert all(np.array_equal(found, alone) for found in _concurrently(run))
    np.random.seed(11)
    torch.manual_seed(11)
    random.seed(11)
    before = _global_state()
    run()
    assert _same_state(before, _global_state())


def test_gradient_shap_recomputed_draw_by_draw(tiny, tiny_x) -> None:
    """The estimator written out: one autograd call per (window, draw) on the model itself."""
    background = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(4))
    a = explainr.attribute(
        tiny, tiny_x, "gradient_shap", baselines=background, n_samples=9, seed=5, progress=False
    )
    which, alpha = draws(5, 9, 3)
    expected = np.zeros(tuple(tiny_x.shape))
    for w, window in enumerate(tiny_x):
        for b, t in zip(which, alpha, strict=True):
            point = (background[b] + float(t) * (window - background[b]))[None].requires_grad_()
            (grad,) = torch.autograd.grad(tiny(point).sum(), point)
            expected[w] += ((window - background[b]) * grad[0]).double().numpy() / 9
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-7)


def test_gradient_shap_window_independent_of_batch(tiny, tiny_x) -> None:
    kw = {"n_samples": 50, "seed": 2, "progress": False}
    batch = explainr.attribute(tiny, tiny_x, "gradient_shap", **kw)
    alone = explainr.attribute(tiny, tiny_x[2], "gradient_shap", **kw)
    np.testing.assert_allclose(alone.values[0], batch.values[2], rtol=1e-6, atol=1e-9)


def test_gradient_shap_agrees_with_captum_in_expectation(tiny, tiny_x) -> None:
    """captum's GradientShap estimates the same expectation: both converge to it."""
    from captum.attr import GradientShap

    background = torch.randn(5, 6, 2, generator=torch.Generator().manual_seed(6))
    ours = explainr.attribute(
        tiny, tiny_x, "gradient_shap", baselines=background, n_samples=4000, progress=False
    )
    with torch.random.fork_rng():
        np_state = np.random.get_state()
        np.random.seed(0)
        torch.manual_seed(0)
        theirs = GradientShap(tiny).attribute(tiny_x, baselines=background, n_samples=4000)
        np.random.set_state(np_state)
    scale = np.abs(ours.values).max()
    assert np.abs(ours.values - theirs.detach().double().numpy()).max() < 0.05 * scale


def test_kernel_shap_equals_shap_when_every_coalition_fits(tiny, tiny_x) -> None:
    """6 groups, 62 coalitions: ours and shap's KernelExplainer both enumerate all of them."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

    kw = {"window": 2, "group_by": "time_feature", "progress": False}
    ours = explainr.attribute(tiny, tiny_x, "kernel_shap", **kw)
    assert len(ours.groups) == 6
    for w, window in enumerate(tiny_x):

        def worth(keep: np.ndarray, window: torch.Tensor = window) -> np.ndarray:
            out = []
            for row in keep > 0.5:
                z = torch.zeros_like(window)
                for g, on in enumerate(row):
                    if on:
                        t0, t1 = ours.groups[g].time
                        f = ours.groups[g].feature
                        z[t0:t1, f] = window[t0:t1, f]
                out.append(tiny(z[None]).item())
            return np.asarray(out)

        explainer = shap.KernelExplainer(worth, np.zeros((1, 6)))
        theirs = explainer.shap_values(np.ones((1, 6)), l1_reg=False, silent=True)
        np.testing.assert_allclose(ours.group_values[w], np.ravel(theirs), rtol=1e-4, atol=1e-6)
