"""Recording is harmless: same outputs and gradients, nothing left on the model or on PyTorch."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.modules import module as _module
from torch.nn.modules import rnn as _rnn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import explainr

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

FEATURES, HIDDEN, BATCH, STEPS = 4, 5, 3, 6
RNN_CLASSES = (nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell)
# Taken when this file is imported, before any test opens a record block.
ORIGINAL_FORWARD = {cls: cls.__dict__["forward"] for cls in RNN_CLASSES}
ORIGINAL_VF = _rnn._VF
GLOBAL_HOOKS = [
    name
    for name, value in vars(_module).items()
    if name.startswith("_global_") and "hook" in name and isinstance(value, dict)
]


class Model(nn.Module):
    """Every recordable torch module, with mixed training flags and a learnable h0."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True, proj_size=3)
        self.packed = nn.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.lstm_cell = nn.LSTMCell(6, HIDDEN)
        self.gru_cell = nn.GRUCell(HIDDEN, HIDDEN, bias=False)
        self.head = nn.Linear(HIDDEN, 2)
        self.h0 = nn.Parameter(torch.randn(4, BATCH, 3))

    def forward(self, x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        enc, _ = self.encoder(x.transpose(0, 1), (self.h0, torch.zeros(4, BATCH, HIDDEN)))
        packed = pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        gru_out, _ = pad_packed_sequence(
            self.packed(packed)[0], batch_first=True, total_length=x.shape[1]
        )
        state, h, outs = None, None, []
        for t in range(x.shape[1]):
            state = self.lstm_cell(enc[t], state)
            h = self.gru_cell(state[0] + gru_out[:, t, :HIDDEN], h)
            outs.append(self.head(h))
        return torch.stack(outs, dim=1)


def make_model() -> Model:
    torch.manual_seed(7)
    model = Model()
    model.encoder.eval()  # mixed flags: record() must leave each one as it was
    model.gru_cell.eval()
    return model


def make_input() -> tuple[torch.Tensor, list[int]]:
    torch.manual_seed(8)
    return torch.randn(BATCH, STEPS, FEATURES, requires_grad=True), [4, STEPS, 2]


def run_with_grads(model: nn.Module, x: torch.Tensor, lengths: list[int]):
    """Output, input gradient and every parameter gradient of a fixed scalar loss."""
    model.zero_grad(set_to_none=True)
    x.grad = None
    y = model(x, lengths)
    weights = torch.linspace(-1, 1, y.numel()).view_as(y)
    (y * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return y.detach(), x.grad.clone(), grads


def snapshot(model: nn.Module) -> dict:
    """Everything of the model (and of PyTorch) that recording must not change."""
    return {
        "forwards": {cls: cls.__dict__["forward"] for cls in RNN_CLASSES},
        "vf": _rnn._VF,
        "global_hooks": {n: len(getattr(_module, n)) for n in GLOBAL_HOOKS},
        "attributes": {name: sorted(vars(m)) for name, m in model.named_modules()},
        "hooks": {
            (name, attr): len(value)
            for name, m in model.named_modules()
            for attr, value in vars(m).items()
            if "hook" in attr and isinstance(value, dict)
        },
        "training": {name: m.training for name, m in model.named_modules()},
        "state": {k: v.clone() for k, v in model.state_dict().items()},
    }


def assert_untouched(before: dict, model: nn.Module) -> None:
    after = snapshot(model)
    assert all(after["forwards"][cls] is ORIGINAL_FORWARD[cls] for cls in RNN_CLASSES)
    assert after["vf"] is ORIGINAL_VF is torch._VF
    assert after["global_hooks"] == before["global_hooks"]
    assert after["attributes"] == before["attributes"]
    assert after["hooks"] == before["hooks"]
    assert all(n == 0 for n in after["hooks"].values())
    assert after["training"] == before["training"]
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():  # bit-identical weights
        assert torch.equal(after["state"][k], v), k


def test_outputs_and_gradients_unchanged_by_recording() -> None:
    model, (x, lengths) = make_model(), make_input()
    plain = run_with_grads(model, x, lengths)
    with explainr.record(model) as rec:
        recorded = run_with_grads(model, x, lengths)
    assert sorted(rec.trace) == ["encoder", "gru_cell", "lstm_cell", "packed"]
    assert len(rec.trace.calls("lstm_cell")) == STEPS
    again = run_with_grads(model, x, lengths)  # and after the block, PyTorch as before
    for other in (recorded, again):
        torch.testing.assert_close(other[0], plain[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(other[1], plain[1], atol=1e-6, rtol=0)
        assert other[2].keys() == plain[2].keys()
        for name, g in plain[2].items():
            torch.testing.assert_close(other[2][name], g, atol=1e-6, rtol=0, msg=name)
    assert torch.equal(again[0], plain[0])


def test_nothing_left_after_a_normal_block() -> None:
    model, (x, lengths) = make_model(), make_input()
    before = snapshot(model)
    with explainr.record(model):
        assert nn.LSTM.forward is not ORIGINAL_FORWARD[nn.LSTM]  # the check below can fail
        model(x, lengths).sum().backward()
    model.zero_grad(set_to_none=True)
    assert_untouched(before, model)


class Boom(Exception):
    pass


def _raise_after_forward(model: Model, x: torch.Tensor, lengths: list[int]) -> None:
    model(x, lengths)
    raise Boom


def _raise_inside_lstm_forward(model: Model, x: torch.Tensor, lengths: list[int]) -> None:
    model.encoder(torch.randn(STEPS, BATCH, FEATURES + 1))  # wrong feature size


def _raise_inside_cell_forward(model: Model, x: torch.Tensor, lengths: list[int]) -> None:
    model.lstm_cell(torch.randn(BATCH, 6), (torch.zeros(BATCH + 1, HIDDEN),) * 2)


class ForwardRaises(nn.LSTM):
    def forward(self, x, hx=None):
        out = super().forward(x, hx)
        raise Boom(out[0].shape)


@pytest.mark.parametrize(
    ("fail", "error"),
    [
        (_raise_after_forward, Boom),
        (_raise_inside_lstm_forward, RuntimeError),  # while explainr's kernel proxy is in place
        (_raise_inside_cell_forward, RuntimeError),
    ],
    ids=["after_forward", "inside_lstm_forward", "inside_cell_forward"],
)
def test_nothing_left_when_the_block_raises(fail: Callable, error: type) -> None:
    model, (x, lengths) = make_model(), make_input()
    before = snapshot(model)
    plain = model(x, lengths).detach()
    with pytest.raises(error), explainr.record(model):
        fail(model, x, lengths)
    assert_untouched(before, model)
    # A fresh block works normally afterwards.
    with explainr.record(model) as rec:
        y = model(x, lengths)
    torch.testing.assert_close(y.detach(), plain, atol=1e-6, rtol=0)
    assert len(rec.trace.calls("encoder")) == 1
    assert_untouched(before, model)


def test_nothing_left_when_a_subclass_forward_raises_after_the_kernel() -> None:
    torch.manual_seed(9)
    model = nn.Sequential(ForwardRaises(FEATURES, HIDDEN, num_layers=2))
    before = snapshot(model)
    with pytest.raises(Boom), explainr.record(model) as rec:
        model(torch.randn(STEPS, BATCH, FEATURES))
    assert len(rec.trace.calls("0")) == 1  # the kernel ran and was recorded before the raise
    assert_untouched(before, model)


def test_recorder_keeps_no_reference_to_the_model() -> None:
    def record_once() -> weakref.ref:
        model, (x, lengths) = make_model(), make_input()
        with explainr.record(model) as rec:
            model(x, lengths)
        trace = rec.trace
        assert len(trace) == 4
        return weakref.ref(model)

    ref = record_once()
    gc.collect()
    assert ref() is None


def test_nested_blocks_on_the_same_model_each_see_their_calls() -> None:
    model, (x, lengths) = make_model(), make_input()
    before = snapshot(model)
    with explainr.record(model) as outer:
        model(x, lengths)
        with explainr.record(model, gates=("update",), states=()) as inner:
            model(x[:, :4], lengths=[4, 3, 2])
        model(x[:, :5], [5, 4, 3])
    assert [c.time_steps for c in outer.trace.calls("encoder")] == [6, 4, 5]
    assert [c.time_steps for c in inner.trace.calls("encoder")] == [4]
    # Each block keeps what it asked for, from the same call.
    assert inner.trace["packed"].keys() == [
        "gate/update/l0/d0",
        "gate/update/l0/d1",
        "gate/update/l1/d0",
        "gate/update/l1/d1",
    ]
    both = outer.trace.calls("packed")[1]
    torch.testing.assert_close(
        inner.trace["packed"].gate("update", 1, 1),
        both.gate("update", 1, 1),
        rtol=0,
        atol=0,
        equal_nan=True,
    )
    assert len(both.keys()) == 2 * 2 * 4
    assert_untouched(before, model)


def test_blocks_closed_out_of_order_on_the_same_model() -> None:
    lstm = nn.LSTM(FEATURES, HIDDEN)
    first, second = explainr.record(lstm), explainr.record(lstm)
    first.__enter__()
    second.__enter__()
    lstm(torch.randn(STEPS, BATCH, FEATURES))
    first.__exit__(None, None, None)
    lstm(torch.randn(STEPS, BATCH, FEATURES))  # only `second` is open now
    second.__exit__(None, None, None)
    lstm(torch.randn(STEPS, BATCH, FEATURES))  # none open
    assert len(first.trace.calls("")) == 1
    assert len(second.trace.calls("")) == 2
    assert nn.LSTM.forward is ORIGINAL_FORWARD[nn.LSTM]
    assert _rnn._VF is ORIGINAL_VF


def test_nested_blocks_on_different_models() -> None:
    a, b = nn.GRU(FEATURES, HIDDEN), nn.GRU(FEATURES, HIDDEN)
    x = torch.randn(STEPS, BATCH, FEATURES)
    before_a, before_b = snapshot(a), snapshot(b)
    with explainr.record(a) as rec_a:
        a(x)
        with explainr.record(b) as rec_b:
            a(x)
            b(x)
        a(x)
    assert len(rec_a.trace.calls("")) == 3
    assert len(rec_b.trace.calls("")) == 1
    assert_untouched(before_a, a)
    assert_untouched(before_b, b)


def test_model_not_recorded_runs_untouched_inside_a_block() -> None:
    """Another model, and a module left out with modules=..., run PyTorch's own path."""
    torch.manual_seed(10)
    recorded = nn.ModuleDict(
        {"a": nn.LSTM(FEATURES, HIDDEN, num_layers=2), "b": nn.LSTM(FEATURES, HIDDEN, num_layers=2)}
    )
    other = nn.LSTM(FEATURES, HIDDEN, num_layers=2)
    x = torch.randn(STEPS, BATCH, FEATURES, requires_grad=True)

    def out_and_grad(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        x.grad = None
        y, _ = m(x)
        y.pow(2).sum().backward()
        return y.detach(), x.grad.clone()

    plain_other, plain_b = out_and_grad(other), out_and_grad(recorded["b"])
    with explainr.record(recorded, modules=["a"]) as rec:
        out_and_grad(recorded["a"])
        inside_other, inside_b = out_and_grad(other), out_and_grad(recorded["b"])
    for got, want in [(inside_other, plain_other), (inside_b, plain_b)]:
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert list(rec.trace) == ["a"]
    assert rec.trace.names == ["a"]


def test_training_mode_with_dropout_between_layers() -> None:
    """Recording runs the layers one by one and draws dropout masks per layer, so outputs in
    training mode with dropout > 0 are not bitwise equal to an unrecorded run, only equal in
    distribution. What must hold exactly: each layer's records are consistent with the
    (dropped-out) input the next layer really received, and the last layer's hidden state is
    the module's output."""
    torch.manual_seed(11)
    lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=3, dropout=0.5, batch_first=True).train()
    batch = 512
    x = torch.randn(1, STEPS, FEATURES).expand(batch, -1, -1)  # same sequence, new masks per row
    with torch.no_grad():
        plain, _ = lstm(x)
        with explainr.record(lstm) as rec:
            recorded, _ = lstm(x)
    assert lstm.training
    r = rec.trace[""]
    assert torch.equal(r.hidden(layer=2), recorded)
    for layer in range(3):  # h_t = o_t * tanh(c_t) in every layer
        torch.testing.assert_close(
            r.hidden(layer), r.gate("output", layer) * r.cell(layer).tanh(), atol=1e-6, rtol=0
        )
    # Dropout is really applied (rows differ) and the output distribution matches.
    assert recorded.std(dim=0).min() > 0
    mean_gap = (recorded.mean(0) - plain.mean(0)).abs()
    spread = torch.sqrt((recorded.var(0) + plain.var(0)) / batch)
    assert (mean_gap < 5 * spread + 1e-6).all()
    ratio = recorded.std(0) / plain.std(0)
    assert ((ratio > 0.8) & (ratio < 1.25)).all()
    # And it trains: gradients flow through the recorded, dropped-out layers.
    with explainr.record(lstm):
        lstm(x[:8])[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lstm.parameters())


def test_recording_under_inference_mode() -> None:
    torch.manual_seed(12)
    gru = nn.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True)
    x = torch.randn(STEPS, BATCH, FEATURES)
    with explainr.record(gru) as grad_mode:
        gru(x)
    with torch.inference_mode(), explainr.record(gru) as inference:
        out, _ = gru(x)
    assert not out.requires_grad
    for key, value in grad_mode.trace[""].data.items():
        torch.testing.assert_close(inference.trace[""].data[key], value, atol=1e-6, rtol=0)


def test_recorded_hidden_state_is_not_the_models_output_tensor() -> None:
    """An in-place op after the LSTM (ReLU(inplace=True)) must not change what was recorded."""
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, batch_first=True)
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        expected, _ = lstm(x)
        with explainr.record(lstm) as rec:
            out, _ = lstm(x)
            out.relu_()
    # Under no_grad a recorded LSTM runs oneDNN's training primitive (for its workspace):
    # equal to the inference primitive's output within 1e-6, not always bitwise.
    torch.testing.assert_close(rec.trace[""].hidden(), expected, rtol=0, atol=1e-6)
    assert expected.min() < 0
