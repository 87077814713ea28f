"""Each fast path of `record` is really taken, exact, and harmless.

Paths: the LSTM's gates read from oneDNN's workspace in grad mode and under no_grad (also
in time chunks), the fallback to recomputing when a workspace fails its check, the GRU run
step by step in both modes, and hidden states only (the kernel, nothing recomputed). Every
row checks the records against the step-by-step reference (rnn_reference.py, 1e-5) and the
outputs, final states and gradients against an unrecorded call of the same module (1e-6),
and that nothing of explainr is left on the model or on PyTorch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import explainr
from explainr.record import _gru, _onednn, _recompute

from .rnn_reference import GRU_GATES, LSTM_GATES, rnn_reference
from .test_safety import assert_untouched, snapshot

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
needs_onednn = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="no oneDNN in PyTorch"
)

FEATURES, HIDDEN, BATCH, STEPS = 4, 5, 3, 7
REF_TOL = {"atol": 1e-5, "rtol": 0.0}  # records vs the float64 reference
SAME_TOL = {"atol": 1e-6, "rtol": 1e-6}  # recorded vs unrecorded call


@dataclass(frozen=True)
class Case:
    kind: str  # "lstm" | "gru"
    grad: bool  # grad mode, or under no_grad
    layers: int = 2
    bidirectional: bool = False
    batch_first: bool = True
    given_state: bool = False
    bias: bool = True
    hidden: int = HIDDEN
    steps: int = STEPS

    def __str__(self) -> str:
        flags = [
            self.kind,
            "grad" if self.grad else "nograd",
            f"L{self.layers}",
            "bi" if self.bidirectional else "",
            "tf" if not self.batch_first else "",
            "h0" if self.given_state else "",
            "" if self.bias else "nobias",
            f"H{self.hidden}",
            f"T{self.steps}",
        ]
        return "-".join(f for f in flags if f)


def _cases(kind: str) -> list[Case]:
    rows = []
    for grad in (True, False):
        rows += [
            Case(kind, grad),
            Case(kind, grad, layers=3, bidirectional=True, given_state=True),
            Case(kind, grad, bidirectional=True, batch_first=False, bias=False),
            Case(kind, grad, layers=1, hidden=64, steps=40),  # whole vector registers
        ]
    return rows


def build(case: Case, seed: int = 0):
    """Module, batch-first x and initial states for the reference, and the user's call."""
    torch.manual_seed(seed)
    cls = nn.LSTM if case.kind == "lstm" else nn.GRU
    module = cls(
        FEATURES,
        case.hidden,
        num_layers=case.layers,
        bias=case.bias,
        batch_first=case.batch_first,
        bidirectional=case.bidirectional,
    ).eval()
    rows = case.layers * (2 if case.bidirectional else 1)
    x = torch.randn(BATCH, case.steps, FEATURES) * 2
    h0 = c0 = None
    if case.given_state:
        h0 = torch.randn(rows, BATCH, case.hidden)
        c0 = torch.randn(rows, BATCH, case.hidden) if case.kind == "lstm" else None
    user_x = x if case.batch_first else x.transpose(0, 1).contiguous()
    state = None if h0 is None else ((h0, c0) if case.kind == "lstm" else h0)
    return module, x, h0, c0, user_x, state


def run(module: nn.Module, user_x: torch.Tensor, state, grad: bool):
    """Outputs (and, in grad mode, gradients w.r.t. input and weights) of one call."""
    if not grad:
        with torch.no_grad():
            out, final = module(user_x, state)
        assert not out.requires_grad and out.grad_fn is None
        return _flat(out, final), {}
    x = user_x.detach().requires_grad_()
    out, final = module(x, state)
    loss = out.square().sum() + sum(s.sin().sum() for s in _flat(final))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    grads["input"] = x.grad.clone()
    module.zero_grad(set_to_none=True)
    return _flat(out, final), grads


def _flat(*parts) -> tuple[torch.Tensor, ...]:
    out = []
    for p in parts:
        out += list(p) if isinstance(p, tuple) else [p]
    return tuple(out)


def check_path(
    case: Case, counters: dict, expected: dict, ref_atol: float = REF_TOL["atol"], **record_args
) -> None:
    """Record one call; the path's counters, the records, the outputs and the cleanup."""
    module, x, h0, c0, user_x, state = build(case)
    plain, plain_grads = run(module, user_x, state, case.grad)
    before = snapshot(module)
    for c in counters.values():
        c.clear()
    with explainr.record(module, **record_args) as rec:
        recorded, recorded_grads = run(module, user_x, state, case.grad)
    assert {k: dict(c) for k, c in counters.items()} == expected
    assert torch.is_grad_enabled()  # the local enable_grad is gone
    assert_untouched(before, module)
    for got, want in zip(recorded, plain, strict=True):
        torch.testing.assert_close(got, want, **SAME_TOL)
    assert recorded_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(recorded_grads[name], grad, **SAME_TOL, msg=name)

    ref = rnn_reference(module, x, h0, c0)
    r = rec.trace[""]
    held = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in r.data.values()}
    assert r.nbytes == sum(held.values())  # nothing holds a larger buffer alive
    dirs = 2 if case.bidirectional else 1
    gates = record_args.get("gates", LSTM_GATES if case.kind == "lstm" else GRU_GATES)
    states = record_args.get("states", ("cell", "hidden"))
    for layer in range(case.layers):
        for d in range(dirs):
            pairs = [(r.gate(g, layer=layer, direction=d), ref.gates[(g, layer, d)]) for g in gates]
            if "hidden" in states:
                pairs.append((r.hidden(layer=layer, direction=d), ref.hidden[(layer, d)]))
            if "cell" in states and case.kind == "lstm":
                pairs.append((r.cell(layer=layer, direction=d), ref.cells[(layer, d)]))
            for got, want in pairs:
                assert got.dtype == record_args.get("dtype", torch.float32)
                assert not got.requires_grad
                torch.testing.assert_close(got.double(), want, atol=ref_atol, rtol=0.0)


COUNTERS = {"onednn": _onednn.counts, "gru": _gru.counts}


@needs_onednn
@pytest.mark.parametrize("case", _cases("lstm"), ids=str)
def test_lstm_gates_from_the_workspace_in_both_modes(case: Case) -> None:
    dirs = 2 if case.bidirectional else 1
    key = "onednn" if case.grad else "onednn_no_grad"
    check_path(case, COUNTERS, {"onednn": {key: case.layers * dirs}, "gru": {}})


@pytest.mark.parametrize("case", _cases("gru"), ids=str)
def test_gru_run_step_by_step_in_both_modes(case: Case) -> None:
    dirs = 2 if case.bidirectional else 1
    check_path(case, COUNTERS, {"onednn": {}, "gru": {"gru_steps": case.layers * dirs}})


@needs_onednn
@pytest.mark.parametrize(
    "case",
    [
        Case("lstm", False, steps=23),
        Case("lstm", False, layers=2, bidirectional=True, given_state=True, steps=23),
        Case("lstm", True, steps=23),  # grad mode: one call (autograd keeps it all anyway)
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_long_sequences_in_time_chunks(
    monkeypatch: pytest.MonkeyPatch, case: Case, dtype: torch.dtype
) -> None:
    """Under no_grad the workspace is read chunk by chunk (state carried across chunks,
    backwards for the reverse direction); 23 steps in chunks of 5 leave a short last one."""
    monkeypatch.setattr(_onednn, "_CHUNK_BYTES", 5 * _per_step_bytes(BATCH, FEATURES, HIDDEN))
    assert _onednn.chunk_steps(BATCH, FEATURES, HIDDEN) == 5
    calls = []
    real_run = _onednn._run

    def counted_run(x, *args, **kwargs):
        calls.append(len(x))
        return real_run(x, *args, **kwargs)

    monkeypatch.setattr(_onednn, "_run", counted_run)
    dirs = 2 if case.bidirectional else 1
    key = "onednn" if case.grad else "onednn_no_grad"
    check_path(
        case,
        COUNTERS,
        {"onednn": {key: case.layers * dirs}, "gru": {}},
        ref_atol=1e-5 if dtype == torch.float32 else 1e-3,  # float16 storage: its precision
        states=("cell",),
        dtype=dtype,
    )
    if case.grad:
        assert calls == [23] * case.layers * dirs
    else:
        assert sorted(calls) == sorted([5, 5, 5, 5, 3] * case.layers * dirs)


def _per_step_bytes(batch: int, features: int, hidden: int) -> int:
    """Workspace bytes per step, from the layout: one step more costs this much."""
    ld = _onednn._good_ld
    return 4 * batch * (ld(4 * hidden) + ld(hidden) + 6 * ld(max(features, hidden)) + 6 * hidden)


def _corrupt_views(ws, steps, batch, features, hidden):
    """The right gates with the cell states shifted by one step: must fail the check."""
    found = _REAL_VIEWS(ws, steps, batch, features, hidden)
    return None if found is None else (found[0], found[1].roll(1, dims=0))


_REAL_VIEWS = _onednn._views


@needs_onednn
@pytest.mark.parametrize(
    "case",
    [Case("lstm", False, bidirectional=True, given_state=True), Case("lstm", True)],
    ids=str,
)
def test_a_workspace_failing_its_check_falls_back_to_recomputing(
    monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.setattr(_onednn, "_views", _corrupt_views)
    check_path(case, COUNTERS, {"onednn": {"fallback": case.layers}, "gru": {}})


@pytest.mark.parametrize(
    "case",
    [Case("lstm", False), Case("lstm", True), Case("gru", False), Case("gru", True)],
    ids=str,
)
def test_hidden_states_only_cost_the_kernel_runs(monkeypatch: pytest.MonkeyPatch, case) -> None:
    """Nothing asked beyond hidden states: no workspace read, no GRU loop, no product."""

    def no_product(*args, **kwargs):
        raise AssertionError("a gate product was computed for hidden states only")

    monkeypatch.setattr(_recompute, "_linear", no_product)
    check_path(case, COUNTERS, {"onednn": {}, "gru": {}}, gates=(), states=("hidden",))


@needs_onednn
def test_lstm_under_inference_mode_reads_the_workspace() -> None:
    module, x, *_, user_x, _ = build(Case("lstm", False, bidirectional=True))
    with torch.no_grad():
        plain, _ = module(user_x)
    _onednn.counts.clear()
    with torch.inference_mode(), explainr.record(module) as rec:
        out, _ = module(user_x)
    assert _onednn.counts == {"onednn_no_grad": 4}
    assert torch.is_inference_mode_enabled() is False
    torch.testing.assert_close(out, plain, **SAME_TOL)
    ref = rnn_reference(module, x)
    for g in LSTM_GATES:
        got = rec.trace[""].gate(g, layer=1, direction=1)
        torch.testing.assert_close(got.double(), ref.gates[(g, 1, 1)], **REF_TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_nothing_left_when_the_model_raises_after_a_fast_path(kind: str) -> None:
    module, _, _, _, user_x, _ = build(Case(kind, False))
    before = snapshot(module)
    with contextlib.suppress(RuntimeError), torch.no_grad(), explainr.record(module):
        module(user_x)
        raise RuntimeError("after the recorded call")
    assert_untouched(before, module)
    assert torch.is_grad_enabled()
