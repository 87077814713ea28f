"""What a recorded call is: the inputs the kernel really received, and every call in order."""

from __future__ import annotations

import torch
from torch import nn

import explainr

from .rnn_reference import GRU_GATES, LSTM_GATES, rnn_reference

FEATURES, HIDDEN, BATCH, STEPS = 4, 5, 3, 6
TOL = {"atol": 1e-5, "rtol": 0.0}


class ScaledInputLSTM(nn.LSTM):
    """Transforms its input before calling nn.LSTM's forward."""

    def forward(self, x, hx=None):
        return super().forward(2.0 * x.flip(1) + 0.5, hx)


class LearnedInitialGRU(nn.GRU):
    """Computes h0 from the input and passes it to nn.GRU's forward."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.to_h0 = nn.Linear(FEATURES, self.hidden_size)

    def forward(self, x):
        h0 = torch.tanh(self.to_h0(x.mean(dim=1)))  # (batch, hidden)
        h0 = h0.unsqueeze(0).repeat(self.num_layers * (1 + self.bidirectional), 1, 1)
        return super().forward(x, h0.contiguous())


def _assert_matches(r, ref, gate_names, layers: int, dirs: int, has_cell: bool) -> None:
    for layer in range(layers):
        for d in range(dirs):
            for g in gate_names:
                torch.testing.assert_close(
                    r.gate(g, layer, d).double(), ref.gates[(g, layer, d)], **TOL
                )
            torch.testing.assert_close(r.hidden(layer, d).double(), ref.hidden[(layer, d)], **TOL)
            if has_cell:
                torch.testing.assert_close(r.cell(layer, d).double(), ref.cells[(layer, d)], **TOL)


def test_subclass_transforming_its_input_is_recorded_with_the_kernel_input() -> None:
    torch.manual_seed(3)
    lstm = ScaledInputLSTM(
        FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True
    ).eval()
    model = nn.Sequential(lstm)
    x = torch.randn(BATCH, STEPS, FEATURES)
    with explainr.record(model) as rec:
        out, _ = model(x)
    r = rec.trace["0"]
    assert len(rec.trace.calls("0")) == 1
    kernel_input = 2.0 * x.flip(1) + 0.5
    ref = rnn_reference(lstm, kernel_input)
    torch.testing.assert_close(out.double(), ref.output, **TOL)
    _assert_matches(r, ref, LSTM_GATES, layers=2, dirs=2, has_cell=True)
    # The user's x is not what the kernel saw: the records must not match it.
    naive = rnn_reference(lstm, x)
    assert not torch.allclose(r.gate("input").double(), naive.gates[("input", 0, 0)], atol=1e-3)


def test_subclass_passing_a_computed_h0_is_recorded_from_that_h0() -> None:
    torch.manual_seed(4)
    gru = LearnedInitialGRU(
        FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True
    ).eval()
    x = torch.randn(BATCH, STEPS, FEATURES)
    with explainr.record(gru) as rec:
        out, _ = gru(x)
    with torch.no_grad():
        h0 = torch.tanh(gru.to_h0(x.mean(dim=1))).unsqueeze(0).repeat(4, 1, 1)
    ref = rnn_reference(gru, x, h0)
    torch.testing.assert_close(out.double(), ref.output, **TOL)
    _assert_matches(rec.trace[""], ref, GRU_GATES, layers=2, dirs=2, has_cell=False)
    zeros_h0 = rnn_reference(gru, x)
    assert not torch.allclose(
        rec.trace[""].gate("reset").double(), zeros_h0.gates[("reset", 0, 0)], atol=1e-3
    )


def test_autoregressive_decoder_calls_in_order_and_last_call_by_name() -> None:
    """An nn.GRU decoder fed its own output one step at a time: one record per call."""

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(HIDDEN, HIDDEN, num_layers=2, batch_first=True)

        def forward(self, first: torch.Tensor, steps: int) -> list[torch.Tensor]:
            inp, h, inputs = first, None, []
            for _ in range(steps):
                inputs.append((inp, h))
                out, h = self.rnn(inp, h)
                inp = out
            return inputs

    torch.manual_seed(5)
    model = nn.ModuleDict({"decoder": Decoder()}).eval()
    calls_in = 4
    with explainr.record(model) as rec:
        inputs = model["decoder"](torch.randn(BATCH, 1, HIDDEN), calls_in)
    calls = rec.trace.calls("decoder.rnn")
    assert len(calls) == calls_in
    rnn = model["decoder"].rnn
    for record, (inp, h) in zip(calls, inputs, strict=True):
        assert (record.batch_size, record.time_steps) == (BATCH, 1)
        _assert_matches(record, rnn_reference(rnn, inp, h), GRU_GATES, 2, 1, has_cell=False)
    # Different inputs on every call, so "last call" is a checkable claim.
    assert not torch.equal(calls[0].gate("update"), calls[-1].gate("update"))
    assert rec.trace["decoder.rnn"] is calls[-1]


def test_same_module_called_with_different_lengths_keeps_each_call() -> None:
    torch.manual_seed(6)
    lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
    xs = [torch.randn(BATCH, steps, FEATURES) for steps in (3, 7, 2)]
    with explainr.record(lstm) as rec:
        for x in xs:
            lstm(x)
    calls = rec.trace.calls("")
    assert [c.time_steps for c in calls] == [3, 7, 2]
    for record, x in zip(calls, xs, strict=True):
        _assert_matches(record, rnn_reference(lstm, x), LSTM_GATES, 1, 1, has_cell=True)
