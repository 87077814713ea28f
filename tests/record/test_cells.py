"""nn.LSTMCell / nn.GRUCell stepped by a user loop: one record per step, joined along time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr

from .rnn_reference import GRU_GATES, LSTM_GATES, cell_reference

FEATURES, HIDDEN, BATCH, STEPS = 4, 5, 3, 6
TOL = {"atol": 1e-5, "rtol": 0.0}

CASES = [  # (kind, bias, given_state, unbatched)
    (kind, bias, given, unbatched)
    for kind in ("lstm_cell", "gru_cell")
    for bias, given, unbatched in [
        (True, False, False),
        (True, True, False),
        (False, True, False),
        (True, False, True),
        (False, True, True),
    ]
]


def _id(case: tuple) -> str:
    kind, bias, given, unbatched = case
    return f"{kind}-{'bias' if bias else 'nobias'}-{'h0' if given else 'zeros'}-" + (
        "unbatched" if unbatched else "batched"
    )


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_cell_loop_recorded_step_by_step(case: tuple) -> None:
    kind, bias, given, unbatched = case
    torch.manual_seed(1)
    cell = (nn.LSTMCell if kind == "lstm_cell" else nn.GRUCell)(FEATURES, HIDDEN, bias=bias)
    model = nn.ModuleDict({"decoder": nn.ModuleDict({"cell": cell})})
    batch = 1 if unbatched else BATCH
    xs = torch.randn(batch, STEPS, FEATURES) * 2
    h0 = torch.randn(batch, HIDDEN) if given else None
    c0 = torch.randn(batch, HIDDEN) if given else None

    def squeeze(t: torch.Tensor | None) -> torch.Tensor | None:
        return t[0] if unbatched and t is not None else t

    state = None
    if given:
        state = (squeeze(h0), squeeze(c0)) if kind == "lstm_cell" else squeeze(h0)
    hs, cs = [], []
    with explainr.record(model) as rec:
        for t in range(STEPS):
            x_t = squeeze(xs[:, t])
            state = cell(x_t, state)
            h, c = state if kind == "lstm_cell" else (state, None)
            hs.append(h.reshape(batch, HIDDEN))
            cs.append(None if c is None else c.reshape(batch, HIDDEN))

    ref = cell_reference(cell, xs, h0, c0)
    calls = rec.trace.calls("decoder.cell")
    assert len(calls) == STEPS
    assert all(c.time_steps == 1 and c.batch_size == batch for c in calls)
    r = rec.trace["decoder.cell"]
    assert (r.kind, r.batch_size, r.time_steps) == (kind, batch, STEPS)
    gate_names = LSTM_GATES if kind == "lstm_cell" else GRU_GATES
    for g in gate_names:
        assert r.gate(g).shape == (batch, STEPS, HIDDEN)
        torch.testing.assert_close(r.gate(g).double(), ref.gates[(g, 0, 0)], **TOL)
        for t, one in enumerate(calls):  # each call holds exactly its own step
            torch.testing.assert_close(
                one.gate(g).double(), ref.gates[(g, 0, 0)][:, t : t + 1], **TOL
            )
    torch.testing.assert_close(r.hidden().double(), ref.hidden[(0, 0)], **TOL)
    # The recorded hidden (and cell) state is what the user's loop got back, step by step.
    assert torch.equal(r.hidden(), torch.stack(hs, dim=1))
    if kind == "lstm_cell":
        torch.testing.assert_close(r.cell().double(), ref.cells[(0, 0)], **TOL)
        assert torch.equal(r.cell(), torch.stack(cs, dim=1))
    else:
        with pytest.raises(explainr.ExplainrError, match=r"hidden\(\)"):
            r.cell()


def test_cell_calls_with_different_batch_sizes_point_to_calls() -> None:
    cell = nn.GRUCell(FEATURES, HIDDEN)
    with explainr.record(cell) as rec:
        cell(torch.randn(2, FEATURES))
        cell(torch.randn(3, FEATURES))
    assert [c.batch_size for c in rec.trace.calls("")] == [2, 3]
    with pytest.raises(explainr.ExplainrError, match=r"trace\.calls\(''\)"):
        rec.trace[""]


def test_cell_inside_recurrent_model_and_lstm_beside_it() -> None:
    """A seq2seq: an nn.LSTM encoder and an nn.LSTMCell decoder are both found by name."""

    class Seq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.decoder = nn.LSTMCell(HIDDEN, HIDDEN)

        def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
            out, (h, c) = self.encoder(x)
            h, c = h[0], c[0]
            inp, outs = out[:, -1], []
            for _ in range(steps):
                h, c = self.decoder(inp, (h, c))
                outs.append(h)
                inp = h
            return torch.stack(outs, dim=1)

    torch.manual_seed(2)
    model = Seq2Seq()
    with explainr.record(model) as rec:
        y = model(torch.randn(BATCH, STEPS, FEATURES), steps=4)
    assert sorted(rec.trace) == ["decoder", "encoder"]
    assert (rec.trace.kind("encoder"), rec.trace.kind("decoder")) == ("lstm", "lstm_cell")
    assert len(rec.trace.calls("encoder")) == 1
    assert len(rec.trace.calls("decoder")) == 4
    assert torch.equal(rec.trace["decoder"].hidden(), y)
    assert rec.trace["encoder"].time_steps == STEPS
