"""metrics: deletion/insertion curves recomputed by hand, completeness, rank agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError, metrics


class Linear(nn.Module):
    """f(x) = sum(w * x): removing cell (t, f) changes the output by exactly w * x."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x).sum(dim=(1, 2))


@pytest.fixture
def setup():
    model = Linear()
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(1))
    return model, x, explainr.attribute(model, x, progress=False)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_curves_recomputed_by_hand(setup, kind) -> None:
    model, x, a = setup
    curve = getattr(metrics, kind)(model, x, a, steps=4)
    np.testing.assert_allclose(curve.fractions, [0, 0.25, 0.5, 0.75, 1])
    contributions = (model.w * x).detach().double().numpy().reshape(2, -1)
    for b in range(2):
        order = np.argsort(-contributions[b])  # a is exact here: values = w * x
        expected = []
        for count in (0, 3, 6, 9, 12):
            chosen = order[:count]
            if kind == "deletion":
                expected.append(contributions[b].sum() - contributions[b][chosen].sum())
            else:
                expected.append(contributions[b][chosen].sum())
        np.testing.assert_allclose(curve.outputs[b], expected, rtol=1e-5, atol=1e-5)
        area = sum((expected[i] + expected[i + 1]) / 2 * 0.25 for i in range(4))
        np.testing.assert_allclose(curve.auc[b], area, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        curve.outputs[:, 0 if kind == "deletion" else -1], curve.prediction, rtol=1e-5
    )


def test_faithful_beats_random_order(setup) -> None:
    model, x, a = setup
    shuffled = explainr.attribute(model, x, progress=False)
    shuffled.values = (
        np.random.default_rng(0).permutation(a.values.reshape(-1)).reshape(a.values.shape)
    )
    assert (metrics.deletion(model, x, a).auc < metrics.deletion(model, x, shuffled).auc).all()
    assert (metrics.insertion(model, x, a).auc > metrics.insertion(model, x, shuffled).auc).all()
    curve = metrics.insertion(model, x, a)
    delta = curve.prediction - curve.baseline_prediction
    np.testing.assert_allclose(curve.relative_auc, (curve.auc - curve.baseline_prediction) / delta)


def test_completeness_is_the_defined_ratio(setup) -> None:
    _, _, a = setup
    a.values = a.values * 1.1
    delta = a.prediction - a.baseline_prediction
    expected = np.abs(a.values.sum(axis=(1, 2)) - delta) / np.abs(delta)
    np.testing.assert_allclose(metrics.completeness(a), expected)
    np.testing.assert_allclose(metrics.completeness(a), 0.1, rtol=1e-4)


def test_rank_agreement(setup) -> None:
    model, x, a = setup
    same = metrics.rank_agreement(a, a, k=3, level="cell")
    np.testing.assert_allclose(same.spearman, 1.0)
    np.testing.assert_allclose(same.top_k_overlap, 1.0)
    b = explainr.attribute(model, x, progress=False)
    rng = np.random.default_rng(3)
    b.values = rng.normal(size=a.values.shape)
    agreement = metrics.rank_agreement(a, b, k=4, level="cell")
    for i in range(2):  # Spearman by its no-ties formula; top-k by sets
        u, v = np.abs(a.values[i]).ravel(), np.abs(b.values[i]).ravel()
        d = np.argsort(np.argsort(u)) - np.argsort(np.argsort(v))
        n = len(u)
        assert agreement.spearman[i] == pytest.approx(1 - 6 * (d**2).sum() / (n * (n**2 - 1)))
        top = len(set(np.argsort(-u)[:4]) & set(np.argsort(-v)[:4])) / 4
        assert agreement.top_k_overlap[i] == pytest.approx(top)
    b.values = -a.values
    signed = metrics.rank_agreement(a, b, level="cell", absolute=False)
    np.testing.assert_allclose(signed.spearman, -1.0)


def test_rank_agreement_on_groups(setup) -> None:
    model, x, _ = setup
    ig = explainr.attribute(model, x, window=2, group_by="time", progress=False)
    ks = explainr.attribute(model, x, "kernel_shap", window=2, group_by="time", progress=False)
    agreement = metrics.rank_agreement(ig, ks)
    assert agreement.level == "group" and agreement.k == 2
    np.testing.assert_allclose(agreement.spearman, 1.0)


def test_refusals(setup) -> None:
    model, x, a = setup
    with pytest.raises(
        ExplainrError, match=r"x has shape \(1, 4, 3\) but the attribution's values are \(2, 4, 3\)"
    ):
        metrics.deletion(model, x[:1], a)
    with pytest.raises(ExplainrError, match="by='rank'"):
        metrics.insertion(model, x, a, by="rank")
    other = explainr.attribute(model, x, window=2, progress=False)
    with pytest.raises(ExplainrError, match="level='group' needs"):
        metrics.rank_agreement(a, other, level="group")
    with pytest.raises(ExplainrError, match=r"\(2, 4, 3\) and \(1, 4, 3\)"):
        metrics.rank_agreement(a, explainr.attribute(model, x[:1], progress=False))
