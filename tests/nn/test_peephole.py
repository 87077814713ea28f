"""PeepholeLSTM against a step-by-step recomputation from its parameters, and nn.LSTM."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load, save
from torch import nn

import explainr
from explainr import ExplainrError
from explainr.nn import PeepholeLSTM
from explainr.nn._peephole import peephole_lstm

TOL = 1e-5


def reference(model: PeepholeLSTM, x: torch.Tensor, h0=None, c0=None) -> list[dict]:
    """Every layer's gates, cells and hidden states, one sample and one step at a time.

    ``x`` is ``(batch, time, feature)``; returns per layer a dict of ``(batch, time, hidden)``
    float64 tensors ``input, forget, cell, output, c, h``.
    """
    size = model.hidden_size
    batch, steps = x.shape[:2]
    layer_in = x.double()
    layers = []
    for k in range(model.num_layers):
        p = {
            n: getattr(model, f"{n}_l{k}", None)
            for n in (
                "weight_ih",
                "weight_hh",
                "bias_ih",
                "bias_hh",
                "weight_ci",
                "weight_cf",
                "weight_co",
            )
        }
        p = {
            n: (v.detach().double() if v is not None else torch.zeros(4 * size).double())
            for n, v in p.items()
        }

        def rows(name: str, gate: int, p=p) -> torch.Tensor:
            return p[name][gate * size : (gate + 1) * size]

        out = {
            n: torch.zeros(batch, steps, size, dtype=torch.float64)
            for n in ("input", "forget", "cell", "output", "c", "h")
        }
        for b in range(batch):
            h = torch.zeros(size).double() if h0 is None else h0[k, b].double()
            c = torch.zeros(size).double() if c0 is None else c0[k, b].double()
            for t in range(steps):
                xt = layer_in[b, t]

                def pre(gate: int, xt=xt, h=h) -> torch.Tensor:
                    return (
                        rows("weight_ih", gate) @ xt
                        + rows("bias_ih", gate)
                        + rows("weight_hh", gate) @ h
                        + rows("bias_hh", gate)
                    )

                i = torch.sigmoid(pre(0) + p["weight_ci"] * c)
                f = torch.sigmoid(pre(1) + p["weight_cf"] * c)
                g = torch.tanh(pre(2))
                c = f * c + i * g
                o = torch.sigmoid(pre(3) + p["weight_co"] * c)
                h = o * torch.tanh(c)
                for name, value in zip(
                    ("input", "forget", "cell", "output", "c", "h"), (i, f, g, o, c, h), strict=True
                ):
                    out[name][b, t] = value
        layers.append(out)
        layer_in = out["h"]
    return layers


def batch_first_view(x: torch.Tensor, batch_first: bool, unbatched: bool) -> torch.Tensor:
    """``(batch, time, ...)`` view of a module input or output given its layout."""
    if unbatched:
        return x.unsqueeze(0)
    return x if batch_first else x.transpose(0, 1)


# (num_layers, bias, batch_first, unbatched, given_hx)
CONFIGS = [
    (1, True, True, False, False),
    (2, True, False, False, True),
    (3, False, True, False, True),
    (2, True, False, True, False),
    (2, True, True, True, True),
]


@pytest.mark.parametrize(("layers", "bias", "batch_first", "unbatched", "given_hx"), CONFIGS)
def test_forward_matches_step_by_step_reference(layers, bias, batch_first, unbatched, given_hx):
    torch.manual_seed(0)
    model = PeepholeLSTM(3, 5, num_layers=layers, bias=bias, batch_first=batch_first)
    batch, steps = (1 if unbatched else 4), 7
    x_bf = torch.randn(batch, steps, 3)
    h0 = torch.randn(layers, batch, 5) if given_hx else None
    c0 = torch.randn(layers, batch, 5) if given_hx else None
    x = x_bf[0] if unbatched else (x_bf if batch_first else x_bf.transpose(0, 1))
    hx = None
    if given_hx:
        hx = (h0[:, 0], c0[:, 0]) if unbatched else (h0, c0)

    output, (h_n, c_n) = model(x, hx)

    ref = reference(model, x_bf, h0, c0)
    expected_out = ref[-1]["h"].float()
    assert output.shape == (*x.shape[:-1], 5)
    torch.testing.assert_close(
        batch_first_view(output, batch_first, unbatched), expected_out, atol=TOL, rtol=0
    )
    expected_h = torch.stack([r["h"][:, -1] for r in ref]).float()
    expected_c = torch.stack([r["c"][:, -1] for r in ref]).float()
    if unbatched:
        expected_h, expected_c = expected_h[:, 0], expected_c[:, 0]
    torch.testing.assert_close(h_n, expected_h, atol=TOL, rtol=0)
    torch.testing.assert_close(c_n, expected_c, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("layers", "bias", "batch_first"), [(1, True, True), (2, True, False), (2, False, True)]
)
def test_zero_peepholes_reduce_to_nn_lstm(layers, bias, batch_first):
    torch.manual_seed(1)
    model = PeepholeLSTM(4, 6, num_layers=layers, bias=bias, batch_first=batch_first)
    lstm = nn.LSTM(4, 6, num_layers=layers, bias=bias, batch_first=batch_first)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(("weight_ci", "weight_cf", "weight_co")):
                param.zero_()
            else:
                getattr(lstm, name).copy_(param)
    x = torch.randn(3, 9, 4)
    hx = (
        torch.randn(layers, 3 if batch_first else 9, 6),
        torch.randn(layers, 3 if batch_first else 9, 6),
    )

    ours, (h_ours, c_ours) = model(x, hx)
    theirs, (h_theirs, c_theirs) = lstm(x, hx)

    torch.testing.assert_close(ours, theirs, atol=TOL, rtol=0)
    torch.testing.assert_close(h_ours, h_theirs, atol=TOL, rtol=0)
    torch.testing.assert_close(c_ours, c_theirs, atol=TOL, rtol=0)


class Wrapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = PeepholeLSTM(3, 4, num_layers=2, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


def test_record_gives_reference_gates_cells_and_hidden():
    torch.manual_seed(2)
    model = Wrapped()
    x = torch.randn(3, 6, 3)
    plain = model(x)

    with explainr.record(model) as rec:
        recorded = model(x)

    torch.testing.assert_close(recorded, plain, atol=0, rtol=0)
    assert rec.trace.kind("rnn") == "peephole_lstm"
    got = rec.trace["rnn"]
    assert (got.num_layers, got.num_directions, got.batch_size, got.time_steps) == (2, 1, 3, 6)
    for layer, ref in enumerate(reference(model.rnn, x)):
        for gate in ("input", "forget", "cell", "output"):
            torch.testing.assert_close(got.gate(gate, layer), ref[gate].float(), atol=TOL, rtol=0)
        torch.testing.assert_close(got.cell(layer), ref["c"].float(), atol=TOL, rtol=0)
        torch.testing.assert_close(got.hidden(layer), ref["h"].float(), atol=TOL, rtol=0)
        assert not got.hidden(layer).requires_grad


def test_record_keeps_only_what_was_asked_for_and_unbatched_gets_batch_one():
    torch.manual_seed(3)
    model = PeepholeLSTM(2, 3, num_layers=2)
    x = torch.randn(5, 2)  # unbatched (time, feature)
    with explainr.record(model, gates=("forget",), states=("cell",), layers=(1,)) as rec:
        model(x)
    got = rec.trace[""]
    assert sorted(got.keys()) == ["cell/l1/d0", "gate/forget/l1/d0"]
    ref = reference(model, x.unsqueeze(0))
    torch.testing.assert_close(got.gate("forget", 1), ref[1]["forget"].float(), atol=TOL, rtol=0)
    torch.testing.assert_close(got.cell(1), ref[1]["c"].float(), atol=TOL, rtol=0)


def test_without_record_no_step_is_kept():
    torch.manual_seed(4)
    model = PeepholeLSTM(2, 3, num_layers=2, batch_first=True)
    x = torch.randn(2, 4, 2)
    h0 = torch.zeros(2, 2, 3)
    _, _, _, runs = peephole_lstm(x, h0, h0, model.layer_weights())
    assert [r.steps for r in runs] == [None, None]


def test_training_reduces_loss():
    torch.manual_seed(5)
    model = PeepholeLSTM(2, 8, batch_first=True)
    head = nn.Linear(8, 1)
    x = torch.randn(32, 10, 2)
    y = x[:, :, 0].sum(dim=1, keepdim=True) / 3  # a running sum, which an LSTM can learn
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=0.02)

    def loss() -> torch.Tensor:
        return nn.functional.mse_loss(head(model(x)[0][:, -1]), y)

    first = loss().item()
    for _ in range(40):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < 0.5 * first


def test_backward_passes_gradcheck_and_reaches_every_parameter():
    torch.manual_seed(6)
    model = PeepholeLSTM(2, 3, num_layers=2, batch_first=True).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)

    assert torch.autograd.gradcheck(lambda x, h, c: model(x, (h, c))[0], (x, h0, c0))
    model(x, (h0, c0))[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_state_dict_round_trip_through_safetensors():
    torch.manual_seed(7)
    model = PeepholeLSTM(3, 4, num_layers=2, bias=True)
    names = {
        f"{n}_l{k}"
        for k in range(2)
        for n in (
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "weight_ci",
            "weight_cf",
            "weight_co",
        )
    }
    assert set(model.state_dict()) == names
    assert model.weight_ci_l1.shape == (4,) and model.weight_ih_l1.shape == (16, 4)

    copy = PeepholeLSTM(3, 4, num_layers=2)
    copy.load_state_dict(load(save(model.state_dict())))
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(copy(x)[0], model(x)[0], atol=0, rtol=0)


def test_init_is_uniform_within_one_over_sqrt_hidden():
    torch.manual_seed(8)
    model = PeepholeLSTM(3, 16, num_layers=2)
    bound = 1 / math.sqrt(16)
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert values.abs().max() <= bound
    assert values.abs().max() > 0.9 * bound and abs(values.mean()) < 0.02


def test_dropout_acts_between_layers_in_training_only():
    torch.manual_seed(9)
    model = PeepholeLSTM(2, 6, num_layers=2, dropout=0.5)
    x = torch.randn(4, 3, 2)
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0], atol=0, rtol=0)
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])


@pytest.mark.parametrize(
    ("shape", "hx_shape", "message"),
    [
        ((2, 5, 4), None, "input_size=3"),
        ((5,), None, "3-D input"),
        ((2, 5, 3), (1, 2, 4), "h0 has shape"),
    ],
)
def test_bad_input_raises_explainr_error(shape, hx_shape, message):
    model = PeepholeLSTM(3, 4, num_layers=2, batch_first=True)
    hx = None if hx_shape is None else (torch.zeros(hx_shape), torch.zeros(hx_shape))
    with pytest.raises(ExplainrError, match=message):
        model(torch.zeros(shape), hx)


def test_bad_construction_raises_explainr_error():
    with pytest.raises(ExplainrError, match="hidden_size"):
        PeepholeLSTM(3, 0)
    with pytest.raises(ExplainrError, match="dropout"):
        PeepholeLSTM(3, 4, dropout=1.5)
