"""Bad arguments to `record` and to the trace's getters: typed, clear errors, never a silent
wrong record; and a recorder closed twice leaves `record` working."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError
from explainr.record import _patch
from tests.record.rnn_reference import rnn_reference

FEATURES, HIDDEN, STEPS, BATCH = 3, 5, 7, 2


class LstmThenGru(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
        self.gru = nn.GRU(HIDDEN, HIDDEN, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        out, _ = self.gru(out)
        return out


def _gru() -> nn.GRU:
    torch.manual_seed(0)
    return nn.GRU(FEATURES, HIDDEN, num_layers=2, batch_first=True)


def _lstm() -> nn.LSTM:
    torch.manual_seed(0)
    return nn.LSTM(FEATURES, HIDDEN, num_layers=2, batch_first=True)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int8, torch.bool, torch.complex64])
def test_non_floating_dtype_is_refused(dtype: torch.dtype) -> None:
    with pytest.raises(ExplainrValueError, match=rf"dtype={dtype}.*floating dtype"):
        explainr.record(_lstm(), dtype=dtype)


@pytest.mark.parametrize("dtype", ["float16", np.float16, 16])
def test_dtype_that_is_not_a_torch_dtype_is_a_type_error(dtype: object) -> None:
    with pytest.raises(ExplainrTypeError, match=r"dtype must be a floating torch\.dtype"):
        explainr.record(_lstm(), dtype=dtype)  # type: ignore[arg-type]


def test_half_precision_storage_still_works_and_matches_the_reference() -> None:
    lstm, x = _lstm(), torch.randn(BATCH, STEPS, FEATURES)
    with torch.no_grad(), explainr.record(lstm, dtype=torch.float16) as rec:
        lstm(x)
    ref = rnn_reference(lstm, x)
    forget = rec.trace[""].gate("forget", layer=1)
    assert forget.dtype == torch.float16
    torch.testing.assert_close(forget.double(), ref.gates[("forget", 1, 0)], atol=1e-3, rtol=0)


def test_gate_no_recorded_module_has_names_the_module_kind_and_gates() -> None:
    with pytest.raises(ExplainrValueError) as info:
        explainr.record(_gru(), gates="forget")
    message = str(info.value)
    assert "['forget']" in message and "'' (gru): reset, update, new" in message
    assert isinstance(info.value, ValueError)


def test_a_gate_of_one_recorded_module_is_fine_and_each_keeps_its_own() -> None:
    torch.manual_seed(1)
    model, x = LstmThenGru().eval(), torch.randn(BATCH, STEPS, FEATURES)
    with torch.no_grad(), explainr.record(model, gates=("forget", "update")) as rec:
        model(x)
        lstm_out, _ = model.lstm(x)
    kept_lstm, kept_gru = rec.trace["lstm"].keys(), rec.trace["gru"].keys()
    assert [k for k in kept_lstm if k.startswith("gate")] == ["gate/forget/l0/d0"]
    assert [k for k in kept_gru if k.startswith("gate")] == ["gate/update/l0/d0"]
    ref_lstm, ref_gru = rnn_reference(model.lstm, x), rnn_reference(model.gru, lstm_out)
    torch.testing.assert_close(
        rec.trace["lstm"].gate("forget").double(),
        ref_lstm.gates[("forget", 0, 0)],
        atol=1e-5,
        rtol=0,
    )
    torch.testing.assert_close(
        rec.trace["gru"].gate("update").double(), ref_gru.gates[("update", 0, 0)], atol=1e-5, rtol=0
    )
    # a gate of the GRU asked only of the LSTM: the module list in the message says why not
    with pytest.raises(ExplainrValueError, match=r"'lstm' \(lstm\): input, forget, cell, output"):
        explainr.record(model, modules="lstm", gates="update")


@pytest.mark.parametrize("states", ["cell", ("cell",), ["cell"]])
def test_cell_state_of_a_gru_is_refused(states: object) -> None:
    with pytest.raises(ExplainrValueError, match=r"no recorded module has a cell state.*gru"):
        explainr.record(_gru(), states=states)  # type: ignore[arg-type]


def test_both_states_on_a_gru_keep_its_hidden_state() -> None:
    gru, x = _gru(), torch.randn(BATCH, STEPS, FEATURES)
    for states in (("cell", "hidden"), None):
        with torch.no_grad(), explainr.record(gru, gates=(), states=states) as rec:
            out, _ = gru(x)
        assert rec.trace[""].keys() == ["hidden/l0/d0", "hidden/l1/d0"]
        torch.testing.assert_close(rec.trace[""].hidden(layer=1), out, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("layers", "error", "shown"),
    [
        (True, ExplainrTypeError, "got bool True"),
        (1.0, ExplainrTypeError, "got float 1.0"),
        ([0, True], ExplainrTypeError, r"\[True\]"),
        ([0.0], ExplainrTypeError, r"\[0.0\]"),
        ("1", ExplainrTypeError, "got str '1'"),
        (None.__class__, ExplainrTypeError, "got type"),
        (2, ExplainrValueError, r"layers \[2\] do not exist"),
        ([-1], ExplainrValueError, r"layers \[-1\] do not exist"),
    ],
)
def test_layers_must_be_ints_in_range(layers: object, error: type, shown: str) -> None:
    with pytest.raises(error, match=shown):
        explainr.record(_lstm(), layers=layers)  # type: ignore[arg-type]


def test_numpy_integer_layers_are_ints() -> None:
    lstm = _lstm()
    with torch.no_grad(), explainr.record(lstm, gates=(), layers=np.int64(1)) as rec:
        out, _ = lstm(torch.randn(BATCH, STEPS, FEATURES))
    assert sorted(rec.trace[""].keys()) == ["cell/l1/d0", "hidden/l1/d0"]
    torch.testing.assert_close(rec.trace[""].hidden(layer=1), out, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("argument", "value", "shown"),
    [
        ("modules", 5, "modules must be a str or a list of str.*got int 5"),
        ("modules", [5], r"modules must be a str or a list of str.*got \[5\]"),
        ("gates", 5, "gates must be a str or a list of str.*got int 5"),
        ("gates", b"forget", "gates must be a str or a list of str.*got bytes"),
        ("states", 0, "states must be a str or a list of str.*got int 0"),
        ("states", {"cell": 1}, "states must be a str or a list of str.*got dict"),
    ],
)
def test_name_arguments_of_the_wrong_type(argument: str, value: object, shown: str) -> None:
    with pytest.raises(ExplainrTypeError, match=shown) as info:
        explainr.record(_lstm(), **{argument: value})
    assert isinstance(info.value, TypeError) and isinstance(info.value, ExplainrError)


@pytest.fixture(scope="module")
def lstm_record() -> explainr.ModuleRecord:
    lstm = _lstm()
    with torch.no_grad(), explainr.record(lstm) as rec:
        lstm(torch.randn(BATCH, STEPS, FEATURES))
    return rec.trace[""]


@pytest.mark.parametrize(
    ("get", "shown"),
    [
        (lambda r: r.hidden(layer="0"), r"layer must be an int, 0..1 .*got str '0'"),
        (lambda r: r.hidden(layer=True), "layer must be an int.*got bool True"),
        (lambda r: r.gate("forget", layer=1.0), "layer must be an int.*got float 1.0"),
        (lambda r: r.cell(direction=None), "direction must be an int.*got NoneType None"),
        (lambda r: r.gate(0), r"gate name must be a str, one of \['input'.*got int 0"),
    ],
)
def test_getters_check_argument_types(lstm_record, get, shown: str) -> None:
    with pytest.raises(ExplainrTypeError, match=shown):
        get(lstm_record)


def test_getters_accept_numpy_integers(lstm_record) -> None:
    assert torch.equal(lstm_record.hidden(layer=np.int64(1)), lstm_record.hidden(layer=1))


def test_trace_module_name_must_be_a_str() -> None:
    lstm = _lstm()
    with torch.no_grad(), explainr.record(lstm) as rec:
        lstm(torch.randn(BATCH, STEPS, FEATURES))
    with pytest.raises(ExplainrTypeError, match=r"module name must be a str, one of \[''\]"):
        rec.trace.calls(["x"])  # type: ignore[arg-type]


def _records_the_output(lstm: nn.LSTM) -> None:
    """A fresh block records, and its hidden state is PyTorch's own output."""
    x = torch.randn(BATCH, STEPS, FEATURES)
    with torch.no_grad(), explainr.record(lstm) as rec:
        out, _ = lstm(x)
    torch.testing.assert_close(rec.trace[""].hidden(layer=1), out, atol=1e-6, rtol=0)


def test_exit_twice_is_harmless_and_record_still_works() -> None:
    lstm = _lstm()
    depth = _patch._DEPTH
    rec = explainr.record(lstm)
    rec.__enter__()
    rec.__exit__(None, None, None)
    rec.__exit__(None, None, None)
    rec.__exit__(ValueError, ValueError("x"), None)
    assert depth == _patch._DEPTH
    _records_the_output(lstm)


def test_exit_twice_inside_another_block_keeps_that_block_recording() -> None:
    lstm, x = _lstm(), torch.randn(BATCH, STEPS, FEATURES)
    with torch.no_grad(), explainr.record(lstm) as outer:
        inner = explainr.record(lstm, gates=())
        inner.__enter__()
        inner.__exit__(None, None, None)
        inner.__exit__(None, None, None)  # must not close the outer block's install
        out, _ = lstm(x)
    torch.testing.assert_close(outer.trace[""].hidden(layer=1), out, atol=1e-6, rtol=0)
    kept = outer.trace[""].keys()
    assert "gate/forget/l1/d0" in kept
    assert "" not in inner.trace  # the inner block was closed before the call
    assert _patch._DEPTH == 0
    _records_the_output(lstm)


def test_exit_without_enter_is_harmless() -> None:
    lstm = _lstm()
    explainr.record(lstm).__exit__(None, None, None)
    assert _patch._DEPTH == 0
    _records_the_output(lstm)
