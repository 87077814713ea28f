"""ConvLSTM against a step-by-step convolution over cat([x_t, h_{t-1}]), and nn.LSTM."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load, save
from torch import nn

import explainr
from explainr import ExplainrError
from explainr.nn import ConvLSTM

TOL = 1e-5


def reference(model: ConvLSTM, x: torch.Tensor, h0=None, c0=None) -> list[dict]:
    """Every layer's gates and states from one convolution of ``cat([x_t, h_{t-1}])`` per step.

    ``x`` is ``(batch, time, channels, height, width)``; returns per layer a dict of
    ``(batch, time, hidden, height, width)`` float64 tensors ``input, forget, cell, output,
    c, h``. Padding is written out as ``k // 2`` (the tests use odd kernels).
    """
    hidden = model.hidden_channels
    kh, kw = model.kernel_size
    batch, steps, _, height, width = x.shape
    layer_in = x.double()
    layers = []
    for k in range(model.num_layers):
        weight = getattr(model, f"weight_l{k}").detach().double()
        bias = getattr(model, f"bias_l{k}", None)
        bias = bias.detach().double() if bias is not None else None
        h = torch.zeros(batch, hidden, height, width).double() if h0 is None else h0[k].double()
        c = torch.zeros(batch, hidden, height, width).double() if c0 is None else c0[k].double()
        out: dict[str, list] = {n: [] for n in ("input", "forget", "cell", "output", "c", "h")}
        for t in range(steps):
            both = torch.cat([layer_in[:, t], h], dim=1)
            z = F.conv2d(both, weight, bias, padding=(kh // 2, kw // 2))
            i = torch.sigmoid(z[:, :hidden])
            f = torch.sigmoid(z[:, hidden : 2 * hidden])
            g = torch.tanh(z[:, 2 * hidden : 3 * hidden])
            o = torch.sigmoid(z[:, 3 * hidden :])
            c = f * c + i * g
            h = o * torch.tanh(c)
            for name, value in zip(out, (i, f, g, o, c, h), strict=True):
                out[name].append(value)
        layers.append({n: torch.stack(v, dim=1) for n, v in out.items()})
        layer_in = layers[-1]["h"]
    return layers


# (num_layers, kernel_size, bias, batch_first, unbatched, given_hx)
CONFIGS = [
    (1, 3, True, True, False, False),
    (2, 3, True, False, False, True),
    (2, (3, 1), False, True, False, False),
    (1, 5, True, True, True, True),
]


@pytest.mark.parametrize(
    ("layers", "kernel", "bias", "batch_first", "unbatched", "given_hx"), CONFIGS
)
def test_forward_matches_step_by_step_reference(
    layers, kernel, bias, batch_first, unbatched, given_hx
):
    torch.manual_seed(0)
    model = ConvLSTM(
        2, 3, kernel_size=kernel, num_layers=layers, bias=bias, batch_first=batch_first
    )
    batch, steps = (1 if unbatched else 2), 4
    x_bf = torch.randn(batch, steps, 2, 5, 6)
    h0 = torch.randn(layers, batch, 3, 5, 6) if given_hx else None
    c0 = torch.randn(layers, batch, 3, 5, 6) if given_hx else None
    x = x_bf[0] if unbatched else (x_bf if batch_first else x_bf.transpose(0, 1))
    hx = None
    if given_hx:
        hx = (h0[:, 0], c0[:, 0]) if unbatched else (h0, c0)

    output, (h_n, c_n) = model(x, hx)

    ref = reference(model, x_bf, h0, c0)
    expected = ref[-1]["h"].float()
    if unbatched:
        expected = expected[0]
    elif not batch_first:
        expected = expected.transpose(0, 1)
    torch.testing.assert_close(output, expected, atol=TOL, rtol=0)
    expected_h = torch.stack([r["h"][:, -1] for r in ref]).float()
    expected_c = torch.stack([r["c"][:, -1] for r in ref]).float()
    if unbatched:
        expected_h, expected_c = expected_h[:, 0], expected_c[:, 0]
    torch.testing.assert_close(h_n, expected_h, atol=TOL, rtol=0)
    torch.testing.assert_close(c_n, expected_c, atol=TOL, rtol=0)


def test_one_by_one_kernel_is_an_nn_lstm_at_every_pixel():
    torch.manual_seed(1)
    model = ConvLSTM(3, 4, kernel_size=1, num_layers=2)
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    with torch.no_grad():
        for k in range(2):
            weight = getattr(model, f"weight_l{k}")[:, :, 0, 0]
            channels = weight.shape[1] - 4
            getattr(lstm, f"weight_ih_l{k}").copy_(weight[:, :channels])
            getattr(lstm, f"weight_hh_l{k}").copy_(weight[:, channels:])
            getattr(lstm, f"bias_ih_l{k}").copy_(getattr(model, f"bias_l{k}"))
            getattr(lstm, f"bias_hh_l{k}").zero_()
    x = torch.randn(2, 5, 3, 4, 3)  # (batch, time, channels, height, width)

    ours, (h_ours, _) = model(x)

    pixels = x.permute(0, 3, 4, 1, 2).reshape(2 * 4 * 3, 5, 3)  # every pixel a sequence
    theirs, (h_theirs, _) = lstm(pixels)
    theirs = theirs.reshape(2, 4, 3, 5, 4).permute(0, 3, 4, 1, 2)
    torch.testing.assert_close(ours, theirs, atol=TOL, rtol=0)
    torch.testing.assert_close(
        h_ours, h_theirs.reshape(2, 2, 4, 3, 4).permute(0, 1, 4, 2, 3), atol=TOL, rtol=0
    )


class Wrapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = ConvLSTM(1, 2, kernel_size=3, num_layers=2)
        self.head = nn.Linear(2 * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1].flatten(1)).squeeze(-1)


def test_record_gives_reference_gates_cells_and_hidden_as_maps():
    torch.manual_seed(2)
    model = Wrapped()
    x = torch.randn(3, 5, 1, 4, 4)
    plain = model(x)

    with explainr.record(model) as rec:
        recorded = model(x)

    torch.testing.assert_close(recorded, plain, atol=0, rtol=0)
    assert rec.trace.kind("rnn") == "conv_lstm"
    got = rec.trace["rnn"]
    assert (got.num_layers, got.batch_size, got.time_steps) == (2, 3, 5)
    for layer, ref in enumerate(reference(model.rnn, x)):
        for gate in ("input", "forget", "cell", "output"):
            assert got.gate(gate, layer).shape == (3, 5, 2, 4, 4)
            torch.testing.assert_close(got.gate(gate, layer), ref[gate].float(), atol=TOL, rtol=0)
        torch.testing.assert_close(got.cell(layer), ref["c"].float(), atol=TOL, rtol=0)
        torch.testing.assert_close(got.hidden(layer), ref["h"].float(), atol=TOL, rtol=0)


def test_record_time_major_input_is_stored_batch_first():
    torch.manual_seed(3)
    model = ConvLSTM(1, 2, batch_first=False)
    x_bf = torch.randn(2, 4, 1, 3, 3)
    with explainr.record(model, gates=("output",)) as rec:
        model(x_bf.transpose(0, 1))
    ref = reference(model, x_bf)[0]
    got = rec.trace[""]
    assert sorted(got.keys()) == ["cell/l0/d0", "gate/output/l0/d0", "hidden/l0/d0"]
    torch.testing.assert_close(got.gate("output"), ref["output"].float(), atol=TOL, rtol=0)
    torch.testing.assert_close(got.hidden(), ref["h"].float(), atol=TOL, rtol=0)


def test_training_reduces_loss():
    torch.manual_seed(4)
    model = Wrapped()
    x = torch.randn(16, 4, 1, 4, 4)
    y = x[:, :, 0, 1, 2].sum(dim=1)  # one pixel's running sum
    opt = torch.optim.Adam(model.parameters(), lr=0.02)

    def loss() -> torch.Tensor:
        return F.mse_loss(model(x), y)

    first = loss().item()
    for _ in range(40):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < 0.5 * first


def test_backward_passes_gradcheck_and_reaches_every_parameter():
    torch.manual_seed(5)
    model = ConvLSTM(1, 2, kernel_size=3, num_layers=2).double()
    x = torch.randn(1, 3, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 1, 2, 3, 3, dtype=torch.float64, requires_grad=True)

    assert torch.autograd.gradcheck(lambda x, h, c: model(x, (h, c))[0], (x, h0, c0))
    model(x, (h0, c0))[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_state_dict_round_trip_through_safetensors():
    torch.manual_seed(6)
    model = ConvLSTM(2, 3, kernel_size=(3, 5), num_layers=2)
    assert {n: tuple(v.shape) for n, v in model.state_dict().items()} == {
        "weight_l0": (12, 5, 3, 5),
        "bias_l0": (12,),
        "weight_l1": (12, 6, 3, 5),
        "bias_l1": (12,),
    }
    copy = ConvLSTM(2, 3, kernel_size=(3, 5), num_layers=2)
    copy.load_state_dict(load(save(model.state_dict())))
    x = torch.randn(2, 3, 2, 4, 4)
    torch.testing.assert_close(copy(x)[0], model(x)[0], atol=0, rtol=0)


def test_init_matches_conv2d_bound():
    torch.manual_seed(7)
    model = ConvLSTM(2, 4, kernel_size=3)
    bound = 1 / (6 * 9) ** 0.5  # fan_in = (2 + 4) channels * 3 * 3
    assert model.weight_l0.abs().max() <= bound
    assert model.weight_l0.abs().max() > 0.9 * bound


@pytest.mark.parametrize(
    ("shape", "message"),
    [((2, 3, 2, 4, 4), "input_channels=1"), ((4, 4), "5-D input")],
)
def test_bad_input_raises_explainr_error(shape, message):
    with pytest.raises(ExplainrError, match=message):
        ConvLSTM(1, 2)(torch.zeros(shape))


def test_bad_state_shape_raises_explainr_error():
    state = torch.zeros(1, 2, 2, 3, 3)
    with pytest.raises(ExplainrError, match="h0 has shape"):
        ConvLSTM(1, 2)(torch.zeros(2, 3, 1, 4, 4), (state, state))
