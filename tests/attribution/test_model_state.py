"""The model is left exactly as found (weights, modes, requires_grad, grads, hooks, cuDNN flags)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError
from explainr._core.state import gradient_pass
from explainr.attribution import METHODS

from .conftest import Recurrent


def cudnn_flags() -> tuple:
    c = torch.backends.cudnn
    return (
        c.enabled,
        c.benchmark,
        c.deterministic,
        c.allow_tf32,
        c.fp32_precision,
        c.depthwise_kernel,
    )


class Probe(nn.Module):
    """A recurrent model with dropout that records what it sees while it runs."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner = Recurrent(3, 5)
        self.drop = nn.Dropout(0.5)
        self.calls = 0
        self.fail_after = fail_after
        self.seen_training: set[bool] = set()
        self.seen_cudnn_in_backward_pass: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("boom")
        self.seen_training.add(self.training)
        if torch.is_grad_enabled() and x.requires_grad:
            self.seen_cudnn_in_backward_pass.add(torch.backends.cudnn.enabled)
        return self.drop(self.inner(x))


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "hooks": [
            (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks))
            for m in model.modules()
        ],
        "cudnn": cudnn_flags(),
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["state"].keys() == after["state"].keys()
    assert all(torch.equal(before["state"][k], after["state"][k]) for k in before["state"])
    for key in ("training", "requires_grad", "hooks", "cudnn"):
        assert before[key] == after[key], key
    for g0, g1 in zip(before["grads"], after["grads"], strict=True):
        assert (g0 is None and g1 is None) or torch.equal(g0, g1)


def prepared(model: Probe) -> Probe:
    model.train()  # the caller's model is training, with dropout
    model.inner.head.weight.requires_grad_(False)  # and partly frozen
    model.inner.rnn.weight_hh_l0.grad = torch.ones_like(model.inner.rnn.weight_hh_l0)
    model.inner.rnn.register_forward_hook(lambda *args: None)
    model.register_forward_pre_hook(lambda *args: None)
    return model


@pytest.mark.parametrize("method", sorted(METHODS))
def test_state_restored_after_success(method) -> None:
    model = prepared(Probe())
    before = snapshot(model)
    a = explainr.attribute(
        model, torch.randn(2, 6, 3), method, window=3, n_samples=20, progress=False
    )
    assert_same(before, snapshot(model))
    assert model.seen_training == {False}  # explained in eval mode: dropout off
    if method in ("integrated_gradients", "gradient_shap"):
        assert model.seen_cudnn_in_backward_pass == {False}
    # eval mode: the same call gives the same answer
    again = explainr.attribute(
        model, torch.randn(2, 6, 3), method, window=3, n_samples=20, progress=False
    )
    assert a.values.shape == again.values.shape


@pytest.mark.parametrize("method", sorted(METHODS))
def test_state_restored_after_error(method) -> None:
    # the probe and the baseline forwards pass, the method's first forward fails
    model = prepared(Probe(fail_after=2))
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        explainr.attribute(
            model, torch.randn(2, 6, 3), method, window=3, n_samples=20, progress=False
        )
    assert_same(before, snapshot(model))


def test_state_restored_after_explainr_error() -> None:
    model = prepared(Probe())
    before = snapshot(model)
    with pytest.raises(ExplainrError):
        explainr.attribute(model, torch.randn(2, 6, 3), target=4, progress=False)
    assert_same(before, snapshot(model))


def test_units_leave_no_hooks_even_when_failing() -> None:
    model = prepared(Probe(fail_after=3))  # fails inside captum, with its and our hooks on
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        explainr.attribute_units(model, torch.randn(2, 6, 3), module="inner.rnn", progress=False)
    assert_same(before, snapshot(model))
    model = prepared(Probe())
    before = snapshot(model)
    explainr.attribute_units(model, torch.randn(2, 6, 3), module="inner.rnn", progress=False)
    assert_same(before, snapshot(model))


def test_gradient_pass_switches_cudnn_off_locally() -> None:
    model = Recurrent(3, 5)
    old = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, True
    try:
        before = cudnn_flags()
        with gradient_pass(model):
            inside = cudnn_flags()
            assert not any(p.requires_grad for p in model.parameters())
        assert inside == (False, *before[1:])  # only `enabled` changes
        assert cudnn_flags() == before
        with pytest.raises(ValueError), gradient_pass(model):
            raise ValueError("inside the pass")
        assert cudnn_flags() == before
        assert all(p.requires_grad for p in model.parameters())
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old
