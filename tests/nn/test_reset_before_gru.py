"""ResetBeforeGRU against a step-by-step recomputation from its parameters, and nn.GRU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError
from explainr.nn import ResetBeforeGRU

TOL = 1e-5
HARD_SIGMOID = lambda z: ((z + 3) / 6).clamp(0, 1)  # noqa: E731


def reference(model: ResetBeforeGRU, x: torch.Tensor, h0=None, act=torch.tanh, gate=torch.sigmoid):
    """Per layer, ``reset, update, new, h`` ``(batch, time, hidden)`` in float64, one sample
    and one step at a time from Cho et al.'s equations."""
    size, (batch, steps) = model.hidden_size, x.shape[:2]
    layer_in, layers = x.double(), []
    for k in range(model.num_layers):
        p = {
            n: getattr(model, f"{n}_l{k}", None)
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        p = {
            n: (v.detach().double() if v is not None else torch.zeros(3 * size).double())
            for n, v in p.items()
        }

        def part(name: str, g: int, p=p) -> torch.Tensor:
            return p[name][g * size : (g + 1) * size]

        out = {
            n: torch.zeros(batch, steps, size, dtype=torch.float64)
            for n in ("reset", "update", "new", "h")
        }
        for b in range(batch):
            h = torch.zeros(size).double() if h0 is None else h0[k, b].double()
            for t in range(steps):
                xt = layer_in[b, t]
                r = gate(
                    part("weight_ih", 0) @ xt
                    + part("bias_ih", 0)
                    + part("weight_hh", 0) @ h
                    + part("bias_hh", 0)
                )
                z = gate(
                    part("weight_ih", 1) @ xt
                    + part("bias_ih", 1)
                    + part("weight_hh", 1) @ h
                    + part("bias_hh", 1)
                )
                n = act(
                    part("weight_ih", 2) @ xt
                    + part("bias_ih", 2)
                    + part("weight_hh", 2) @ (r * h)
                    + part("bias_hh", 2)
                )
                h = (1 - z) * n + z * h
                for key, value in zip(("reset", "update", "new", "h"), (r, z, n, h), strict=True):
                    out[key][b, t] = value
        layers.append(out)
        layer_in = out["h"]
    return layers


@pytest.mark.parametrize(
    ("num_layers", "bias", "batch_first"), [(1, True, True), (2, True, False), (2, False, True)]
)
def test_forward_and_record_match_the_equations(
    num_layers: int, bias: bool, batch_first: bool
) -> None:
    torch.manual_seed(0)
    gru = ResetBeforeGRU(3, 5, num_layers=num_layers, bias=bias, batch_first=batch_first)
    x = torch.randn(4, 7, 3)
    h0 = torch.randn(num_layers, 4, 5)
    expect = reference(gru, x, h0)
    with explainr.record(gru) as rec:
        out, h_n = gru(x if batch_first else x.transpose(0, 1), h0)
    out = out if batch_first else out.transpose(0, 1)
    torch.testing.assert_close(out.double(), expect[-1]["h"], atol=TOL, rtol=0)
    torch.testing.assert_close(
        h_n.double(), torch.stack([e["h"][:, -1] for e in expect]), atol=TOL, rtol=0
    )
    record = rec.trace[""]
    assert record.kind == "reset_before_gru" and record.num_layers == num_layers
    for k in range(num_layers):
        for g in ("reset", "update", "new"):
            torch.testing.assert_close(
                record.gate(g, layer=k).double(), expect[k][g], atol=TOL, rtol=0
            )
        torch.testing.assert_close(
            record.hidden(layer=k).double(), expect[k]["h"], atol=TOL, rtol=0
        )


def test_other_activations_follow_the_equations() -> None:
    torch.manual_seed(1)
    gru = ResetBeforeGRU(
        2, 4, batch_first=True, activation="relu", recurrent_activation="hard_sigmoid"
    )
    x = torch.randn(3, 6, 2)
    expect = reference(gru, x, act=torch.relu, gate=HARD_SIGMOID)
    torch.testing.assert_close(gru(x)[0].double(), expect[0]["h"], atol=TOL, rtol=0)


def test_with_the_reset_gate_open_it_is_torch_gru() -> None:
    """r = 1 makes both reset placements the same: compare with PyTorch's own nn.GRU."""
    torch.manual_seed(2)
    ours = ResetBeforeGRU(3, 4, batch_first=True)
    theirs = nn.GRU(3, 4, batch_first=True)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(p)
        for m in (ours, theirs):
            m.bias_ih_l0[:4] = 50.0  # σ(50 + ...) == 1 in float32
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=TOL, rtol=0)


def test_unbatched_input_and_gradients() -> None:
    gru = ResetBeforeGRU(3, 4)
    x = torch.randn(5, 3, requires_grad=True)
    out, h_n = gru(x)
    assert out.shape == (5, 4) and h_n.shape == (1, 4)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_arguments_are_explained() -> None:
    gru = ResetBeforeGRU(3, 4, batch_first=True)
    with pytest.raises(ExplainrError, match="input_size=3"):
        gru(torch.randn(2, 5, 2))
    with pytest.raises(ExplainrError, match=r"hx must be a tensor of shape \(1, 2, 4\)"):
        gru(torch.randn(2, 5, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ExplainrError, match="activation 'softmax' is not supported"):
        ResetBeforeGRU(3, 4, activation="softmax")
    with pytest.raises(ExplainrError, match="hidden_size"):
        ResetBeforeGRU(3, 0)
