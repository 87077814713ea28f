"""What record(..., modules, gates, states, layers, dtype) keeps, what it costs, how it is saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import explainr

from .rnn_reference import rnn_reference

FEATURES, HIDDEN, PROJ, BATCH, STEPS = 4, 5, 3, 3, 6
FLOAT32 = 4  # bytes

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


class EncoderDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.ModuleDict(
            {
                "rnn": nn.LSTM(
                    FEATURES,
                    HIDDEN,
                    num_layers=2,
                    bidirectional=True,
                    proj_size=PROJ,
                    batch_first=True,
                )
            }
        )
        self.decoder = nn.GRU(2 * PROJ, HIDDEN, num_layers=2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc, _ = self.encoder["rnn"](x)
        return self.decoder(enc)[0]


MODULES = {  # name: (gates, states, units of the hidden state, directions)
    "encoder.rnn": (("input", "forget", "cell", "output"), ("cell", "hidden"), PROJ, 2),
    "decoder": (("reset", "update", "new"), ("hidden",), HIDDEN, 1),
}
SELECTIONS = [  # (gates, states, layers) passed to record()
    (("forget",), (), (1,)),
    (None, ("cell", "hidden"), None),
    ((), ("hidden",), None),
    (None, ("cell",), (0,)),
    (("input", "output", "update"), ("cell", "hidden"), (0, 1)),
    ("forget", (), None),  # a single name
    ((), (), None),  # nothing kept: calls are still listed, with their sizes
]


def expected_keys(name: str, gates, states, layers) -> dict[tuple[str, int, int], int]:
    """The (what, layer, direction) kept for one module, with the element count of each."""
    module_gates, module_states, units, dirs = MODULES[name]
    gates = module_gates if gates is None else [gates] if isinstance(gates, str) else gates
    out = {}
    for layer in range(2) if layers is None else layers:
        for d in range(dirs):
            for g in module_gates:
                if g in gates:
                    out[(f"gate:{g}", layer, d)] = BATCH * STEPS * HIDDEN
            if "cell" in states and "cell" in module_states:
                out[("cell", layer, d)] = BATCH * STEPS * HIDDEN
            if "hidden" in states:
                out[("hidden", layer, d)] = BATCH * STEPS * units
    return out


def run(model: EncoderDecoder, x: torch.Tensor, **selection) -> explainr.Recorder:
    with torch.no_grad(), explainr.record(model, **selection) as rec:
        model(x)
    return rec


def held_bytes(trace: explainr.Trace) -> int:
    """Bytes of the storages behind every kept tensor (catches views into larger buffers)."""
    storages = {}
    for name in trace:
        for call in trace.calls(name):
            for t in call.data.values():
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


@pytest.mark.parametrize("selection", SELECTIONS, ids=str)
def test_selection_keeps_exactly_what_was_asked(selection: tuple) -> None:
    gates, states, layers = selection
    torch.manual_seed(13)
    model, x = EncoderDecoder().eval(), torch.randn(BATCH, STEPS, FEATURES)
    rec = run(model, x, gates=gates, states=states, layers=layers)
    with torch.no_grad():
        enc, _ = model.encoder["rnn"](x)
    refs = {
        "encoder.rnn": rnn_reference(model.encoder["rnn"], x),
        "decoder": rnn_reference(model.decoder, enc),
    }
    total = 0
    for name in MODULES:
        r = rec.trace[name]
        assert (r.batch_size, r.time_steps) == (BATCH, STEPS)
        expected = expected_keys(name, gates, states, layers)
        assert set(r.data) == set(expected)
        assert r.nbytes == sum(expected.values()) * FLOAT32
        total += sum(expected.values()) * FLOAT32
        ref = refs[name]
        for (what, layer, d), value in r.data.items():
            want = (
                ref.gates[(what[5:], layer, d)]
                if what.startswith("gate:")
                else ref.cells[(layer, d)]
                if what == "cell"
                else ref.hidden[(layer, d)]
            )
            torch.testing.assert_close(value.double(), want, atol=1e-5, rtol=0)
    assert rec.trace.nbytes == total
    assert held_bytes(rec.trace) == total


def test_not_kept_is_an_error_that_says_how_to_keep_it() -> None:
    torch.manual_seed(13)
    rec = run(
        EncoderDecoder(),
        torch.randn(BATCH, STEPS, FEATURES),
        gates=("forget",),
        states=(),
        layers=(1,),
    )
    r = rec.trace["encoder.rnn"]
    assert r.gate("forget", layer=1, direction=1).shape == (BATCH, STEPS, HIDDEN)
    for get in (
        lambda: r.gate("forget", layer=0),
        lambda: r.gate("input", layer=1),
        lambda: r.hidden(layer=1),
        lambda: r.cell(layer=1),
    ):
        with pytest.raises(explainr.ExplainrError, match=r"was not kept.*gates=None"):
            get()


def test_modules_selects_by_name() -> None:
    torch.manual_seed(13)
    rec = run(EncoderDecoder(), torch.randn(BATCH, STEPS, FEATURES), modules=["decoder"])
    assert rec.trace.names == ["decoder"]
    assert list(rec.trace) == ["decoder"]
    with pytest.raises(explainr.ExplainrError, match=r"'encoder\.rnn'.*recorded: \['decoder'\]"):
        rec.trace["encoder.rnn"]


def test_float16_storage_halves_the_trace() -> None:
    torch.manual_seed(13)
    model, x = EncoderDecoder().eval(), torch.randn(BATCH, STEPS, FEATURES)
    full, half = run(model, x), run(model, x, dtype=torch.float16)
    assert half.trace.nbytes * 2 == full.trace.nbytes
    assert held_bytes(half.trace) == half.trace.nbytes
    for name in MODULES:
        assert half.trace[name].data.keys() == full.trace[name].data.keys()
        for key, value in half.trace[name].data.items():
            assert value.dtype == torch.float16
            torch.testing.assert_close(
                value.float(), full.trace[name].data[key], atol=2e-3, rtol=1e-3
            )


@pytest.mark.parametrize("layers", [None, (1,)], ids=["both_layers", "layer1"])
def test_long_sequence_holds_only_the_kept_gate(layers: tuple | None) -> None:
    """2-layer H=128 LSTM over 10,000 steps keeping one gate: the trace is that gate only."""
    steps, hidden, kept_layers = 10_000, 128, 2 if layers is None else len(layers)
    torch.manual_seed(14)
    lstm = nn.LSTM(8, hidden, num_layers=2, batch_first=True)
    x = torch.randn(1, steps, 8)
    with torch.no_grad(), explainr.record(lstm, gates=("forget",), states=(), layers=layers) as rec:
        lstm(x)
    expected = 1 * kept_layers * steps * hidden * FLOAT32
    assert rec.trace.nbytes == expected
    assert held_bytes(rec.trace) == expected
    r = rec.trace[""]
    assert (r.batch_size, r.time_steps) == (1, steps)
    if layers is not None:  # one full check against the reference is enough
        ref = rnn_reference(lstm, x)
        torch.testing.assert_close(
            r.gate("forget", layer=1).double(), ref.gates[("forget", 1, 0)], atol=1e-5, rtol=0
        )


def _packed_model_trace() -> tuple[explainr.Trace, nn.Module]:
    torch.manual_seed(15)
    model = nn.ModuleDict(
        {
            "encoder": nn.ModuleDict(
                {"rnn": nn.LSTM(FEATURES, HIDDEN, bidirectional=True, batch_first=True)}
            ),
            "cell": nn.GRUCell(FEATURES, HIDDEN),
        }
    )
    x = torch.randn(BATCH, STEPS, FEATURES)
    with torch.no_grad(), explainr.record(model) as rec:
        model["encoder"]["rnn"](
            pack_padded_sequence(
                x, torch.tensor([5, STEPS, 2]), batch_first=True, enforce_sorted=False
            )
        )
        h = None
        for t in range(STEPS):
            h = model["cell"](x[:, t], h)
    return rec.trace, model


def test_to_dict_and_save_round_trip(tmp_path) -> None:
    trace, _ = _packed_model_trace()
    arrays = trace.to_dict()
    lstm = trace["encoder.rnn"]
    lstm_parts = ["gate/input", "gate/forget", "gate/cell", "gate/output", "cell", "hidden"]
    expected = {f"encoder.rnn/{p}/l0/d{d}" for p in lstm_parts for d in (0, 1)}
    expected |= {f"cell/{p}/l0/d0" for p in ["gate/reset", "gate/update", "gate/new", "hidden"]}
    assert set(arrays) == expected | {"encoder.rnn/lengths"}
    np.testing.assert_array_equal(arrays["encoder.rnn/lengths"], [5, STEPS, 2])
    np.testing.assert_array_equal(
        arrays["encoder.rnn/gate/forget/l0/d1"], lstm.gate("forget", direction=1).numpy()
    )
    assert np.isnan(arrays["encoder.rnn/cell/l0/d0"][2, 2:]).all()
    assert arrays["cell/gate/new/l0/d0"].shape == (BATCH, STEPS, HIDDEN)  # steps joined

    path = trace.save(tmp_path / "out" / "trace.npz")  # makes the folder
    assert path == tmp_path / "out" / "trace.npz"
    assert [p.name for p in path.parent.iterdir()] == ["trace.npz"]  # no temporary left
    with np.load(path) as loaded:
        assert set(loaded.files) == set(arrays)
        for key, value in arrays.items():
            assert loaded[key].dtype == value.dtype
            np.testing.assert_array_equal(loaded[key], value)


def test_save_of_a_root_module_round_trips(tmp_path) -> None:
    gru = nn.GRU(FEATURES, HIDDEN, num_layers=2)
    with torch.no_grad(), explainr.record(gru, dtype=torch.float16) as rec:
        gru(torch.randn(STEPS, BATCH, FEATURES))
    arrays = rec.trace.to_dict()
    assert len(arrays) == 2 * 4  # 3 gates + hidden, 2 layers
    with np.load(rec.trace.save(tmp_path / "root.npz")) as loaded:
        assert set(loaded.files) == set(arrays)
        for key, value in arrays.items():
            assert loaded[key].dtype == np.float16
            np.testing.assert_array_equal(loaded[key], value)


def test_save_to_an_unwritable_place_is_an_explainr_error(tmp_path) -> None:
    trace, _ = _packed_model_trace()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(explainr.ExplainrError, match="cannot write trace to"):
        trace.save(blocker / "trace.npz")
