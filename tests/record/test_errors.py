"""Every mistake is an ExplainrError whose message says what was found and what to do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError

FEATURES, HIDDEN, BATCH, STEPS = 4, 5, 3, 6


def recorded(module: nn.Module, **selection) -> explainr.Trace:
    with torch.no_grad(), explainr.record(module, **selection) as rec:
        module(torch.randn(STEPS, BATCH, FEATURES))
    return rec.trace


@pytest.mark.parametrize(
    ("model", "found"),
    [
        (nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU()), r"Linear.*ReLU.*Sequential"),
        (nn.Conv1d(FEATURES, HIDDEN, 3), r"\['Conv1d'\]"),
    ],
    ids=["mlp", "conv"],
)
def test_no_recurrent_module_names_what_was_found(model: nn.Module, found: str) -> None:
    with pytest.raises(ExplainrError, match=found) as info:
        explainr.record(model)
    assert "nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell" in str(info.value)


def test_record_needs_a_module() -> None:
    with pytest.raises(ExplainrError, match=r"needs a torch\.nn\.Module, got Tensor"):
        explainr.record(torch.zeros(3))


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"gates": ("forgot",)}, r"unknown gate name\(s\) \['forgot'\]; choose from .*'forget'"),
        (
            {"states": ("cells",)},
            r"unknown state name\(s\) \['cells'\]; choose from \['cell', 'hidden'\]",
        ),
        (
            {"modules": ["encoder"]},
            r"modules \['encoder'\] are not recurrent modules.*recordable modules: \['rnn'\]",
        ),
    ],
    ids=["gate", "state", "module"],
)
def test_unknown_names_in_record(selection: dict, message: str) -> None:
    model = nn.ModuleDict({"rnn": nn.LSTM(FEATURES, HIDDEN), "encoder": nn.Linear(2, 2)})
    with pytest.raises(ExplainrError, match=message):
        explainr.record(model, **selection)


@pytest.mark.parametrize(
    ("get", "message"),
    [
        (lambda r: r.gate("reset"), r"lstm module '' has no gate 'reset'; its gates are \['input'"),
        (lambda r: r.gate("forget", layer=2), r"has 2 layer\(s\); layer=2 is out of range"),
        (lambda r: r.hidden(layer=-1), r"has 2 layer\(s\); layer=-1 is out of range"),
        (lambda r: r.cell(direction=1), r"has 1 direction\(s\); direction=1 is out of range"),
    ],
    ids=["gate", "layer", "negative_layer", "direction"],
)
def test_bad_gate_layer_direction(get, message: str) -> None:
    trace = recorded(nn.LSTM(FEATURES, HIDDEN, num_layers=2))
    with pytest.raises(ExplainrError, match=message):
        get(trace[""])


def test_direction_out_of_range_for_a_bidirectional_module() -> None:
    r = recorded(nn.GRU(FEATURES, HIDDEN, bidirectional=True))[""]
    assert r.gate("new", direction=1).shape == (BATCH, STEPS, HIDDEN)
    with pytest.raises(ExplainrError, match=r"has 2 direction\(s\); direction=2"):
        r.gate("new", direction=2)


def test_gru_has_no_cell_state() -> None:
    r = recorded(nn.GRU(FEATURES, HIDDEN))[""]
    with pytest.raises(ExplainrError, match=r"GRU and has no cell state; use \.hidden\(\)"):
        r.cell()


def test_unknown_and_never_run_module_names_in_the_trace() -> None:
    model = nn.ModuleDict({"ran": nn.GRU(FEATURES, HIDDEN), "idle": nn.LSTM(FEATURES, HIDDEN)})
    with torch.no_grad(), explainr.record(model) as rec:
        model["ran"](torch.randn(STEPS, BATCH, FEATURES))
    for get in (
        lambda: rec.trace["nope"],
        lambda: rec.trace.calls("nope"),
        lambda: rec.trace.kind("nope"),
    ):
        with pytest.raises(ExplainrError, match=r"no recorded module named 'nope'; recorded: \["):
            get()
    with pytest.raises(ExplainrError, match=r"'idle' was recorded but never ran; .*\['ran'\]"):
        rec.trace["idle"]
    assert rec.trace.calls("idle") == []
    assert "idle" not in rec.trace and "ran" in rec.trace


def test_a_block_cannot_be_opened_twice() -> None:
    lstm = nn.LSTM(FEATURES, HIDDEN)
    rec = explainr.record(lstm)
    with rec, pytest.raises(ExplainrError, match="already open; make a new one"), rec:
        pass
    assert nn.LSTM.forward is nn.LSTM.__dict__["forward"]
