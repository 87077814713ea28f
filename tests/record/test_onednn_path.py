"""Gates read from oneDNN's LSTM workspace (grad mode, float32 CPU) are exact and harmless.

Every row: the path is really taken, the records equal the step-by-step reference
(rnn_reference.py), and outputs and gradients are bitwise those of an unrecorded call.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

import explainr
from explainr.record import _onednn

from .rnn_reference import LSTM_GATES, rnn_reference

pytestmark = [
    pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="no oneDNN in PyTorch"),
    pytest.mark.filterwarnings("ignore:LSTM with projections is not supported"),
    pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN"),
]

FEATURES, HIDDEN, BATCH = 4, 5, 3
TOL = {"atol": 1e-5, "rtol": 0.0}


@dataclass(frozen=True)
class Case:
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = True
    bias: bool = True
    given_state: bool = False
    unbatched: bool = False
    steps: int = 6
    hidden: int = HIDDEN

    def __str__(self) -> str:
        flags = [
            f"L{self.layers}",
            "bi" if self.bidirectional else "uni",
            "bf" if self.batch_first else "tf",
            "" if self.bias else "nobias",
            "h0" if self.given_state else "",
            "unbatched" if self.unbatched else "",
            f"T{self.steps}",
            f"H{self.hidden}",
        ]
        return "-".join(f for f in flags if f)


CASES = [
    Case(),
    Case(layers=2),
    Case(layers=3, bidirectional=True),
    Case(bidirectional=True, batch_first=False),
    Case(layers=2, bidirectional=True, batch_first=False, given_state=True),
    Case(given_state=True),
    Case(bias=False),
    Case(layers=2, bidirectional=True, bias=False, given_state=True),
    Case(unbatched=True),
    Case(layers=2, bidirectional=True, given_state=True, unbatched=True),
    Case(steps=1, bidirectional=True),
    Case(steps=300, bidirectional=True),  # long sequence
    Case(layers=2, hidden=64),  # 4H = 256: oneDNN pads its gate rows by 16 more floats
]


def build(case: Case, seed: int = 0):
    """Module, user arguments, and batch-first x / (h0, c0) for the reference."""
    torch.manual_seed(seed)
    module = nn.LSTM(
        FEATURES,
        case.hidden,
        num_layers=case.layers,
        bias=case.bias,
        batch_first=case.batch_first,
        bidirectional=case.bidirectional,
    )
    batch = 1 if case.unbatched else BATCH
    rows = case.layers * (2 if case.bidirectional else 1)
    x = torch.randn(batch, case.steps, FEATURES) * 2
    h0 = c0 = None
    if case.given_state:
        h0, c0 = torch.randn(rows, batch, case.hidden), torch.randn(rows, batch, case.hidden)
    if case.unbatched:
        user_x, user_h = x[0], None if h0 is None else (h0[:, 0], c0[:, 0])
    else:
        user_x = x if case.batch_first else x.transpose(0, 1).contiguous()
        user_h = None if h0 is None else (h0, c0)
    args = (user_x,) if user_h is None else (user_x, user_h)
    return module, args, x, h0, c0


def forward_backward(module: nn.Module, args: tuple):
    """Outputs and the gradients of a loss on all of them, w.r.t. the input and the weights."""
    x = args[0].detach().requires_grad_()
    out, (h_n, c_n) = module(x, *args[1:])
    (out.square().sum() + h_n.sin().sum() + c_n.cos().sum()).backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    grads["input"] = x.grad
    module.zero_grad()
    return (out, h_n, c_n), grads


@pytest.mark.parametrize("case", CASES, ids=str)
def test_workspace_path_is_exact_and_harmless(case: Case) -> None:
    module, args, x, h0, c0 = build(case)
    plain, plain_grads = forward_backward(module, args)
    _onednn.counts.clear()
    with explainr.record(module) as rec:
        recorded, recorded_grads = forward_backward(module, args)
    dirs = 2 if case.bidirectional else 1
    assert _onednn.counts == {"onednn": case.layers * dirs}  # every layer and direction
    for got, want in zip(recorded, plain, strict=True):
        assert torch.equal(got, want)
    assert recorded_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        assert torch.equal(recorded_grads[name], grad), name

    ref = rnn_reference(module, x, h0, c0)
    r = rec.trace[""]
    held = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in r.data.values()}
    assert r.nbytes == sum(held.values())  # copies, no views into oneDNN's workspace
    for layer in range(case.layers):
        for d in range(dirs):
            pairs = [
                (r.gate(g, layer=layer, direction=d), ref.gates[(g, layer, d)]) for g in LSTM_GATES
            ]
            pairs += [
                (r.cell(layer=layer, direction=d), ref.cells[(layer, d)]),
                (r.hidden(layer=layer, direction=d), ref.hidden[(layer, d)]),
            ]
            for got, want in pairs:
                assert got.dtype == torch.float32 and not got.requires_grad
                torch.testing.assert_close(got.double(), want, **TOL)


def test_only_the_kept_parts_are_read() -> None:
    module, args, x, h0, c0 = build(Case(layers=2, bidirectional=True))
    _onednn.counts.clear()
    with explainr.record(module, gates=("forget",), states=("cell",), layers=[1]) as rec:
        module(*args)
    assert _onednn.counts == {"onednn": 2}  # layer 0 keeps nothing: plain kernel
    ref = rnn_reference(module, x, h0, c0)
    r = rec.trace[""]
    for d in range(2):
        torch.testing.assert_close(
            r.gate("forget", layer=1, direction=d).double(), ref.gates[("forget", 1, d)], **TOL
        )
        torch.testing.assert_close(r.cell(layer=1, direction=d).double(), ref.cells[(1, d)], **TOL)


def test_not_used_where_onednn_cannot_run_the_layer() -> None:
    """(Under no_grad and inference mode the workspace path is used too: see
    test_fast_paths.py.)"""
    module, args, *_ = build(Case(layers=2))
    _onednn.counts.clear()
    with torch.backends.mkldnn.flags(enabled=False), explainr.record(module):
        module(*args)
    module64 = build(Case(layers=2))[0].double()
    with explainr.record(module64):
        module64(args[0].double())
    proj = nn.LSTM(FEATURES, HIDDEN, proj_size=2, batch_first=True)
    with explainr.record(proj):
        proj(args[0])
    assert not _onednn.counts


def _wrong_row_length(ws, steps, batch, features, hidden):
    """The layout read with unpadded gate rows (4H floats instead of oneDNN's padded ld)."""
    found = _REAL_VIEWS(ws, steps, batch, features, hidden)
    if found is None:
        return None
    n = steps * batch * 4 * hidden
    return ws.view(torch.float32)[:n].view(steps, batch, 4 * hidden), found[1]


def _cells_one_step_late(ws, steps, batch, features, hidden):
    """The right gates with the cell states shifted by one step."""
    found = _REAL_VIEWS(ws, steps, batch, features, hidden)
    return None if found is None else (found[0], found[1].roll(1, dims=0))


_REAL_VIEWS = _onednn._views


@pytest.mark.parametrize("corrupt", [_wrong_row_length, _cells_one_step_late])
def test_a_wrong_layout_falls_back_and_stays_exact(
    monkeypatch: pytest.MonkeyPatch, corrupt
) -> None:
    module, args, x, h0, c0 = build(Case(layers=2, bidirectional=True, given_state=True))
    plain, plain_grads = forward_backward(module, args)
    monkeypatch.setattr(_onednn, "_views", corrupt)
    _onednn.counts.clear()
    with explainr.record(module) as rec:
        recorded, recorded_grads = forward_backward(module, args)
    assert _onednn.counts == {"fallback": 2}  # one per layer, then recomputed
    for got, want in zip(recorded, plain, strict=True):
        assert torch.equal(got, want)
    for name, grad in plain_grads.items():
        assert torch.equal(recorded_grads[name], grad), name
    ref = rnn_reference(module, x, h0, c0)
    r = rec.trace[""]
    for layer in range(2):
        for d in range(2):
            for g in LSTM_GATES:
                torch.testing.assert_close(
                    r.gate(g, layer=layer, direction=d).double(), ref.gates[(g, layer, d)], **TOL
                )
            torch.testing.assert_close(
                r.cell(layer=layer, direction=d).double(), ref.cells[(layer, d)], **TOL
            )


def test_layout_size_matches_the_workspace() -> None:
    """The size our layout predicts is the size oneDNN allocates, over awkward shapes."""
    for steps, batch, features, hidden in [
        (1, 1, 1, 1),
        (7, 2, 3, 64),
        (5, 9, 300, 17),
        (3, 4, 8, 60),
        (2, 3, 5, 128),
    ]:
        x = torch.randn(steps, batch, features)
        h = torch.zeros(batch, hidden)
        w = [p.detach() for p in nn.LSTM(features, hidden)._flat_weights]
        with torch.enable_grad():
            *_, ws = _onednn._run(
                x,
                h,
                h,
                *w,
                reverse=False,
                has_biases=True,
                train=False,
                bidirectional=False,
                batch_first=False,
            )
        layout = _onednn.workspace_layout(steps, batch, features, hidden)
        assert ws.numel() == layout["total"], (steps, batch, features, hidden)
