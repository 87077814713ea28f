"""Each way `record` can get a layer's gates, forced, with subsets of what is kept.

Complements test_fast_paths.py: the recompute path forced for both kinds and modes (it is
what CUDA and every unusual layer get), only some gates kept on every path (only those
gates' rows are computed or copied, and nothing larger is held), the kept dtype applied in
one pass, and the device check that keeps the CPU fast paths off other devices. Every row
checks the records against the step-by-step reference (1e-5), outputs and gradients
against an unrecorded call (1e-6), and that nothing is left behind.
"""

from __future__ import annotations

import pytest
import torch

from explainr.record import _gru, _onednn, _patch, _recompute

from .test_fast_paths import Case, check_path, needs_onednn

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
COUNTERS = {"onednn": _onednn.counts, "gru": _gru.counts, "recompute": _recompute.counts}
SUBSETS = {  # name -> (gates, states) as record() takes them
    "lstm": [
        (("forget",), ()),
        (("output",), ("cell",)),
        (("input", "cell"), ("hidden",)),
        (None, ("cell", "hidden")),
    ],
    "gru": [(("update",), ()), (("new",), ()), (("reset", "update"), ("hidden",)), (None, ())],
}


def _rows(kind: str) -> list:
    return [
        pytest.param(case, gates, states, id=f"{case}-{gates}-{states}")
        for grad in (True, False)
        for case in (Case(kind, grad), Case(kind, grad, layers=1, bidirectional=True))
        for gates, states in SUBSETS[kind]
    ]


def _directions(case: Case) -> int:
    return case.layers * (2 if case.bidirectional else 1)


def _kept(gates, states) -> dict:
    return {k: v for k, v in (("gates", gates), ("states", states)) if v is not None}


@pytest.mark.parametrize(("case", "gates", "states"), _rows("lstm") + _rows("gru"))
def test_recompute_forced(monkeypatch: pytest.MonkeyPatch, case: Case, gates, states) -> None:
    """No fast path usable (as on CUDA): the kernel runs, the gates are recomputed."""
    monkeypatch.setattr(_onednn, "usable", lambda *args: False)
    monkeypatch.setattr(_gru, "usable", lambda *args: False)
    want_cell = case.kind == "lstm" and "cell" in states
    recomputed = {case.kind: _directions(case)} if (gates is None or gates or want_cell) else {}
    expected = {"onednn": {}, "gru": {}, "recompute": recomputed}
    check_path(case, COUNTERS, expected, **_kept(gates, states))
    assert _patch._DEPTH == 0


@needs_onednn
@pytest.mark.parametrize(("case", "gates", "states"), _rows("lstm"))
def test_lstm_workspace_with_subsets(case: Case, gates, states) -> None:
    key = "onednn" if case.grad else "onednn_no_grad"
    expected = {"onednn": {key: _directions(case)}, "gru": {}, "recompute": {}}
    check_path(case, COUNTERS, expected, **_kept(gates, states))
    assert _patch._DEPTH == 0


@pytest.mark.parametrize(("case", "gates", "states"), _rows("gru"))
def test_gru_loop_with_subsets(case: Case, gates, states) -> None:
    """Under no_grad the gates not kept go to scratch buffers: the kept ones stay exact."""
    expected = {"onednn": {}, "gru": {"gru_steps": _directions(case)}, "recompute": {}}
    check_path(case, COUNTERS, expected, **_kept(gates, states))
    assert _patch._DEPTH == 0


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "nograd"])
def test_kept_in_float16(kind: str, grad: bool) -> None:
    """Converted once, on the copy out of the workspace or loop; float16's precision."""
    if kind == "lstm" and not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in PyTorch")
    path = {"lstm": {"onednn": {("onednn" if grad else "onednn_no_grad"): 2}}}
    path["gru"] = {"gru": {"gru_steps": 2}}
    expected = {"onednn": {}, "gru": {}, "recompute": {}} | path[kind]
    check_path(
        Case(kind, grad), COUNTERS, expected, ref_atol=1e-3, dtype=torch.float16
    )  # float16 keeps ~3 decimal digits of values in [-1, 1] (and of the states here)


def test_fast_paths_are_for_cpu_tensors_only() -> None:
    """A layer on another device (here PyTorch's shape-only "meta" device, standing in for
    CUDA, which this machine lacks) is not taken by the CPU fast paths: it gets the kernel
    and the recompute, as designed for CUDA in `_onednn`'s docstring."""
    hidden, features = 5, 4
    x = torch.empty(7, 3, features, device="meta")
    h0 = torch.empty(1, 3, hidden, device="meta")
    lstm_w = [
        torch.empty(4 * hidden, features, device="meta"),
        torch.empty(4 * hidden, hidden, device="meta"),
        torch.empty(4 * hidden, device="meta"),
        torch.empty(4 * hidden, device="meta"),
    ]
    gru_w = [torch.empty(3 * hidden, w.shape[-1], device="meta") for w in lstm_w[:2]]
    assert not _onednn.usable(x, (h0, h0), lstm_w)
    assert not _gru.usable(x, h0, gru_w)
    cpu = [torch.empty_like(t, device="cpu") for t in (x, h0)]
    assert _gru.usable(cpu[0], cpu[1], [torch.empty_like(w, device="cpu") for w in gru_w])
    if torch.backends.mkldnn.is_available():
        cpu_w = [torch.empty_like(w, device="cpu") for w in lstm_w]
        assert _onednn.usable(cpu[0], (cpu[1], cpu[1]), cpu_w)


@pytest.mark.parametrize(
    ("kind", "gates", "rows"),
    [
        ("lstm", ("forget",), 1),
        ("lstm", ("output", "cell"), 2),
        ("gru", ("update",), 1),
        ("gru", ("new",), 1),  # r (for n) and n's two halves, each one block
        ("gru", ("reset", "update"), 2),
    ],
)
def test_recompute_computes_only_the_rows_needed(
    monkeypatch: pytest.MonkeyPatch, kind: str, gates: tuple, rows: int
) -> None:
    """Gate products are restricted to the kept gates' rows (the reference check of the
    values is in test_recompute_forced)."""
    monkeypatch.setattr(_onednn, "usable", lambda *args: False)
    monkeypatch.setattr(_gru, "usable", lambda *args: False)
    widths = []
    real = _recompute._linear

    def linear(x, w, b):
        widths.append(w.shape[0])
        return real(x, w, b)

    monkeypatch.setattr(_recompute, "_linear", linear)
    case = Case(kind, False)
    expected = {"onednn": {}, "gru": {}, "recompute": {kind: 2}}
    check_path(case, COUNTERS, expected, gates=gates, states=())
    assert widths and set(widths) == {rows * case.hidden}
