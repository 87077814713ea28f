"""Recorded gates, cells and hidden states equal a step-by-step reference (rnn_reference.py).

One table of nn.LSTM / nn.GRU configurations; every row is checked twice: the reference
reproduces PyTorch's own outputs (so the reference is right), and explainr's records equal
the reference (so explainr is right).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import explainr

from .rnn_reference import GRU_GATES, LSTM_GATES, rnn_reference

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

FEATURES, HIDDEN, PROJ, BATCH, STEPS = 4, 5, 3, 3, 6
TOL = {"atol": 1e-5, "rtol": 0.0}
LENGTHS = {  # valid steps per sequence for packed input
    "packed_sorted": [6, 4, 2],  # enforce_sorted=True needs decreasing lengths
    "packed_unsorted": [4, 6, 2],
    "packed_equal": [6, 6, 6],
    "packed_many": [6, 2, 5, 1, 6, 3, 4, 2],  # more sequences than time steps
}


@dataclass(frozen=True)
class Case:
    kind: str  # "lstm" | "gru"
    layers: int = 1
    bidirectional: bool = False
    proj: int = 0
    bias: bool = True
    batch_first: bool = True
    given_state: bool = False  # pass (h0, c0) / h0 instead of zeros
    dropout: float = 0.0  # modules are in eval mode: no dropout is applied
    inputs: str = "batched"  # "batched" | "unbatched" | one of LENGTHS

    def __str__(self) -> str:
        flags = [
            self.kind,
            f"L{self.layers}",
            "bi" if self.bidirectional else "uni",
            f"proj{self.proj}" if self.proj else "",
            "" if self.bias else "nobias",
            "bf" if self.batch_first else "tf",
            "h0" if self.given_state else "",
            f"drop{self.dropout}" if self.dropout else "",
            self.inputs,
        ]
        return "-".join(f for f in flags if f)


LSTM_CASES = [
    Case("lstm"),
    Case("lstm", layers=2),
    Case("lstm", layers=3, bidirectional=True),
    Case("lstm", bidirectional=True),
    Case("lstm", layers=2, proj=PROJ),
    Case("lstm", layers=2, bidirectional=True, proj=PROJ),
    Case("lstm", bias=False),
    Case("lstm", layers=2, bidirectional=True, proj=PROJ, bias=False),
    Case("lstm", layers=2, batch_first=False),
    Case("lstm", layers=2, bidirectional=True, batch_first=False, given_state=True),
    Case("lstm", given_state=True),
    Case("lstm", layers=2, bidirectional=True, proj=PROJ, given_state=True),
    Case("lstm", inputs="unbatched"),
    Case("lstm", layers=2, bidirectional=True, given_state=True, inputs="unbatched"),
    Case("lstm", layers=2, bidirectional=True, proj=PROJ, batch_first=False, inputs="unbatched"),
    Case("lstm", inputs="packed_sorted"),
    Case("lstm", layers=2, bidirectional=True, inputs="packed_sorted"),
    Case("lstm", layers=2, bidirectional=True, inputs="packed_unsorted"),
    Case(
        "lstm", layers=3, bidirectional=True, proj=PROJ, given_state=True, inputs="packed_unsorted"
    ),
    Case(
        "lstm",
        layers=2,
        bidirectional=True,
        batch_first=False,
        given_state=True,
        inputs="packed_sorted",
    ),
    Case(
        "lstm",
        layers=2,
        bidirectional=True,
        bias=False,
        batch_first=False,
        inputs="packed_unsorted",
    ),
    Case("lstm", bidirectional=True, inputs="packed_equal"),
    Case("lstm", layers=2, bidirectional=True, given_state=True, inputs="packed_many"),
    Case("lstm", layers=3, bidirectional=True, dropout=0.5),
    Case("lstm", layers=2, dropout=0.5, inputs="packed_unsorted"),
]
# nn.GRU: the same table minus proj_size.
GRU_CASES = list(dict.fromkeys(replace(c, kind="gru", proj=0) for c in LSTM_CASES))
CASES = LSTM_CASES + GRU_CASES


@dataclass
class Built:
    module: nn.LSTM | nn.GRU
    args: tuple  # what the user passes to module(...)
    x: torch.Tensor  # (batch, time, features) batch-first, for the reference
    h0: torch.Tensor | None  # (layers * dirs, batch, units), for the reference
    c0: torch.Tensor | None
    lengths: list[int] | None


def build(case: Case, seed: int = 0) -> Built:
    """The module and its user-facing inputs for one row of the table."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    kwargs = {"proj_size": case.proj} if case.kind == "lstm" else {}
    cls = nn.LSTM if case.kind == "lstm" else nn.GRU
    module = cls(
        FEATURES,
        HIDDEN,
        num_layers=case.layers,
        bias=case.bias,
        batch_first=case.batch_first,
        bidirectional=case.bidirectional,
        dropout=case.dropout,
        **kwargs,
    ).eval()
    lengths = LENGTHS.get(case.inputs)
    batch = 1 if case.inputs == "unbatched" else len(lengths) if lengths else BATCH
    rows = case.layers * (2 if case.bidirectional else 1)
    x = torch.randn(batch, STEPS, FEATURES, generator=gen) * 2
    h0 = c0 = None
    if case.given_state:
        h0 = torch.randn(rows, batch, case.proj or HIDDEN, generator=gen)
        c0 = torch.randn(rows, batch, HIDDEN, generator=gen)

    def time_major(t: torch.Tensor) -> torch.Tensor:
        return t if case.batch_first else t.transpose(0, 1).contiguous()

    if case.inputs == "unbatched":
        user_x = x[0]
        user_h = None if h0 is None else (h0[:, 0], c0[:, 0])
    elif lengths is not None:
        user_x = pack_padded_sequence(
            time_major(x),
            torch.tensor(lengths),
            batch_first=case.batch_first,
            enforce_sorted=case.inputs in ("packed_sorted", "packed_equal"),
        )
        user_h = None if h0 is None else (h0, c0)
    else:
        user_x = time_major(x)
        user_h = None if h0 is None else (h0, c0)
    if user_h is not None and case.kind == "gru":
        user_h = user_h[0]
    args = (user_x,) if user_h is None else (user_x, user_h)
    return Built(module, args, x, h0, c0 if case.kind == "lstm" else None, lengths)


def as_batch_first(case: Case, output) -> torch.Tensor:
    """PyTorch's output sequence as (batch, time, units)."""
    if isinstance(output, PackedSequence):
        return pad_packed_sequence(output, batch_first=True)[0]
    if case.inputs == "unbatched":
        return output.unsqueeze(0)
    return output if case.batch_first else output.transpose(0, 1)


def valid_mask(built: Built) -> torch.Tensor:
    """(batch, time) True on steps within each sequence's length."""
    steps = torch.arange(STEPS)
    lengths = torch.tensor(built.lengths or [STEPS] * built.x.shape[0])
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_reference_reproduces_pytorch(case: Case) -> None:
    built = build(case)
    with torch.no_grad():
        output, state = built.module(*built.args)
    ref = rnn_reference(built.module, built.x, built.h0, built.c0, built.lengths)
    out = as_batch_first(case, output)
    mask = valid_mask(built)[:, : out.shape[1]]
    torch.testing.assert_close(out[mask].double(), ref.output[mask], **TOL)
    assert ref.output[~mask].isnan().all()
    h_n, c_n = state if case.kind == "lstm" else (state, None)
    if case.inputs == "unbatched":
        h_n = h_n.unsqueeze(1)
        c_n = None if c_n is None else c_n.unsqueeze(1)
    torch.testing.assert_close(h_n.double(), ref.h_n, **TOL)
    if c_n is not None:
        torch.testing.assert_close(c_n.double(), ref.c_n, **TOL)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_recorded_states_equal_reference(case: Case) -> None:
    built = build(case)
    model = nn.ModuleDict({"encoder": nn.ModuleDict({"rnn": built.module})})
    with explainr.record(model) as rec:
        built.module(*built.args)
    ref = rnn_reference(built.module, built.x, built.h0, built.c0, built.lengths)

    r = rec.trace["encoder.rnn"]
    dirs = 2 if case.bidirectional else 1
    steps = max(built.lengths) if built.lengths else STEPS
    assert (r.kind, r.num_layers, r.num_directions) == (case.kind, case.layers, dirs)
    assert (r.batch_size, r.time_steps) == (built.x.shape[0], steps)
    if built.lengths is not None:
        assert r.lengths.tolist() == built.lengths
    gate_names = LSTM_GATES if case.kind == "lstm" else GRU_GATES
    assert r.gate_names == gate_names
    per_direction = len(gate_names) + (2 if case.kind == "lstm" else 1)
    assert len(r.keys()) == case.layers * dirs * per_direction
    held = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in r.data.values()}
    assert rec.trace.nbytes == r.nbytes == sum(held.values())  # no views into larger buffers

    def check(got: torch.Tensor, expected: torch.Tensor) -> None:
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected[:, :steps], equal_nan=True, **TOL)

    for layer in range(case.layers):
        for d in range(dirs):
            for g in gate_names:
                check(r.gate(g, layer=layer, direction=d), ref.gates[(g, layer, d)])
            check(r.hidden(layer=layer, direction=d), ref.hidden[(layer, d)])
            if case.kind == "lstm":
                check(r.cell(layer=layer, direction=d), ref.cells[(layer, d)])


def test_long_sequences_span_several_recompute_chunks() -> None:
    """Gates and cells stay exact across the recompute's internal time chunks (packed,
    bidirectional, so the reverse scan crosses chunk boundaries from the far end)."""
    from explainr.record._recompute import _CHUNK_ELEMS

    batch, hidden = 64, 32
    chunk = max(1, _CHUNK_ELEMS // (batch * 4 * hidden))  # steps per chunk for this shape
    steps = 2 * chunk + chunk // 3
    assert steps < 5_000, "chunk size changed; pick a larger batch * hidden"
    torch.manual_seed(0)
    lstm = nn.LSTM(3, hidden, bidirectional=True, batch_first=True).eval()
    x = torch.randn(batch, steps, 3)
    lengths = [steps - b * steps // (2 * batch) for b in range(batch)]  # decreasing
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True)
    with explainr.record(lstm, gates=("forget",), states=("cell",)) as rec:
        lstm(packed)
    r = rec.trace[""]
    ref = rnn_reference(lstm, x[:2], lengths=lengths[:2])  # two sequences keep this quick
    for d in range(2):
        for got, want in [
            (r.gate("forget", direction=d), ref.gates[("forget", 0, d)]),
            (r.cell(direction=d), ref.cells[(0, d)]),
        ]:
            torch.testing.assert_close(got[:2].double(), want, equal_nan=True, **TOL)
