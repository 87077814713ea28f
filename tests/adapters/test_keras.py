"""`explainr.adapters.keras.load` against Keras itself.

A session fixture runs ``make_keras_models.py`` once in a subprocess with
``KERAS_BACKEND=torch``: it builds the models, saves them as ``.keras`` and ``.h5`` and
saves Keras's own ``predict`` and per-layer outputs. This process never imports keras:
each model is loaded by explainr and compared with those saved answers, and what
``explainr.record`` records is compared with Keras's layer outputs and with Keras's
equations recomputed step by step in numpy (``keras_reference.py``).
"""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr._core.errors import ExplainrError
from explainr.adapters.keras import load
from explainr.nn import ConvLSTM, ResetBeforeGRU

from . import keras_reference as ref
from .make_keras_models import MODELS, REFUSED

ATOL = 1e-5


def saved(keras_dir: Path, name: str) -> tuple[torch.Tensor, np.ndarray]:
    x = np.load(keras_dir / f"{name}.x.npy")
    return torch.from_numpy(x), np.load(keras_dir / f"{name}.y.npy")


def children(model: nn.Module, cls: type) -> list[str]:
    return [name for name, m in model.named_children() if isinstance(m, cls)]


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("name", list(MODELS))
def test_output_equals_keras_predict(keras_dir: Path, name: str, ext: str) -> None:
    model = load(keras_dir / f"{name}.{ext}")
    x, expected = saved(keras_dir, name)
    with torch.no_grad():
        out = model(x).numpy()
    assert "keras" not in sys.modules and "tensorflow" not in sys.modules
    assert not model.training
    assert out.shape == expected.shape
    assert not np.allclose(expected, expected[:1])  # the inputs do move the output
    np.testing.assert_allclose(out, expected, rtol=0, atol=ATOL)


def test_a_loaded_model_copies_and_pickles(keras_dir: Path) -> None:
    model = load(keras_dir / "activation_leaky_relu.keras")
    x, expected = saved(keras_dir, "activation_leaky_relu")
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        with torch.no_grad():
            np.testing.assert_allclose(twin(x).numpy(), expected, rtol=0, atol=ATOL)


def test_gradients_reach_the_input(keras_dir: Path) -> None:
    model = load(keras_dir / "stacked_lstm.keras")
    x, _ = saved(keras_dir, "stacked_lstm")
    x.requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_records_stacked_lstm_like_keras_computes_it(keras_dir: Path) -> None:
    model = load(keras_dir / "stacked_lstm.keras")
    weights = np.load(keras_dir / "stacked_lstm.weights.npz")
    outputs = np.load(keras_dir / "stacked_lstm.outputs.npz")
    x, _ = saved(keras_dir, "stacked_lstm")
    names = children(model, nn.LSTM)
    assert len(names) == 2
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    layer_in = x.numpy()
    for name in names:
        expect = ref.lstm(layer_in, *(weights[f"{name}/{i}"] for i in range(3)))
        got = rec.trace[name]
        for gate in ("input", "forget", "cell", "output"):
            np.testing.assert_allclose(got.gate(gate), expect[gate], atol=ATOL)
        np.testing.assert_allclose(got.cell(), expect["c"], atol=ATOL)
        np.testing.assert_allclose(got.hidden(), expect["h"], atol=ATOL)
        layer_in = got.hidden().numpy()
    np.testing.assert_allclose(rec.trace[names[0]].hidden(), outputs[names[0]], atol=ATOL)
    np.testing.assert_allclose(rec.trace[names[1]].hidden()[:, -1], outputs[names[1]], atol=ATOL)


def test_records_gru_reset_after_like_keras_computes_it(keras_dir: Path) -> None:
    model = load(keras_dir / "gru_dropout.h5")
    weights = np.load(keras_dir / "gru_dropout.weights.npz")
    outputs = np.load(keras_dir / "gru_dropout.outputs.npz")
    x, _ = saved(keras_dir, "gru_dropout")
    first, second = children(model, nn.GRU)
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    expect = ref.gru(x.numpy(), *(weights[f"{first}/{i}"] for i in range(3)), reset_after=True)
    for gate in ("reset", "update", "new"):
        np.testing.assert_allclose(rec.trace[first].gate(gate), expect[gate], atol=ATOL)
    np.testing.assert_allclose(rec.trace[first].hidden(), expect["h"], atol=ATOL)
    np.testing.assert_allclose(rec.trace[first].hidden(), outputs[first], atol=ATOL)
    np.testing.assert_allclose(rec.trace[second].hidden()[:, -1], outputs[second], atol=ATOL)


def test_records_simple_rnn_like_keras_computes_it(keras_dir: Path) -> None:
    """SimpleRNN becomes nn.RNN, which the cell registry makes recordable."""
    model = load(keras_dir / "simple_rnn.keras")
    outputs = np.load(keras_dir / "simple_rnn.outputs.npz")
    x, _ = saved(keras_dir, "simple_rnn")
    first, second = children(model, nn.RNN)
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    assert rec.trace[first].kind == "rnn"
    np.testing.assert_allclose(rec.trace[first].hidden(), outputs[first], atol=ATOL)
    # go_backwards: the nn.RNN runs over the reversed input, so its steps are in the order
    # Keras returns them (processing order, the last input first).
    np.testing.assert_allclose(rec.trace[second].hidden(), outputs[second], atol=ATOL)


def test_records_reset_before_gru_like_keras_computes_it(keras_dir: Path) -> None:
    model = load(keras_dir / "gru_reset_before.keras")
    weights = np.load(keras_dir / "gru_reset_before.weights.npz")
    outputs = np.load(keras_dir / "gru_reset_before.outputs.npz")
    x, _ = saved(keras_dir, "gru_reset_before")
    first, backwards = children(model, ResetBeforeGRU)
    pair = children(model, nn.ModuleDict)[0]
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    assert rec.trace.kind(first) == "reset_before_gru"
    layer_in = x.numpy()
    for name in (first, backwards):
        if name == backwards:  # go_backwards: Keras reads the sequence reversed
            layer_in = layer_in[:, ::-1]
        w = [weights[f"{name}/{i}"] for i in range(3)]
        expect = ref.gru(layer_in, *w, reset_after=False)
        for gate in ("reset", "update", "new"):
            np.testing.assert_allclose(rec.trace[name].gate(gate), expect[gate], atol=ATOL)
        np.testing.assert_allclose(rec.trace[name].hidden(), outputs[name], atol=ATOL)
        layer_in = outputs[name]
    w = [weights[f"{pair}/{i}"] for i in range(4)]  # no bias: forward (2), backward (2)
    fwd = ref.gru(layer_in, w[0], w[1], None, reset_after=False)
    bwd = ref.gru(layer_in[:, ::-1], w[2], w[3], None, reset_after=False)
    got_fwd = rec.trace[f"{pair}.forward_layer"]
    got_bwd = rec.trace[f"{pair}.backward_layer"]
    np.testing.assert_allclose(got_fwd.gate("reset"), fwd["reset"], atol=ATOL)
    np.testing.assert_allclose(got_bwd.gate("update"), bwd["update"], atol=ATOL)
    merged = np.concatenate([got_fwd.hidden()[:, -1], got_bwd.hidden()[:, -1]], axis=-1)
    np.testing.assert_allclose(merged, outputs[pair], atol=ATOL)


def test_reset_before_gru_honours_keras_activations(keras_dir: Path) -> None:
    name = "gru_reset_before_activations"
    model = load(keras_dir / f"{name}.keras")
    weights = np.load(keras_dir / f"{name}.weights.npz")
    x, _ = saved(keras_dir, name)
    (gru,) = children(model, ResetBeforeGRU)
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    expect = ref.gru(
        x.numpy(),
        *(weights[f"{gru}/{i}"] for i in range(3)),
        reset_after=False,
        activation=lambda z: np.maximum(z, 0.0),
        recurrent_activation=lambda z: np.clip(z / 6 + 0.5, 0.0, 1.0),
    )
    np.testing.assert_allclose(rec.trace[gru].gate("update"), expect["update"], atol=ATOL)
    np.testing.assert_allclose(rec.trace[gru].hidden(), expect["h"], atol=ATOL)


def test_records_bidirectional_lstm_per_direction(keras_dir: Path) -> None:
    model = load(keras_dir / "bidirectional.keras")
    weights = np.load(keras_dir / "bidirectional.weights.npz")
    outputs = np.load(keras_dir / "bidirectional.outputs.npz")
    x, _ = saved(keras_dir, "bidirectional")
    name = children(model, nn.LSTM)[0]
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    got = rec.trace[name]
    assert got.num_directions == 2
    w = [weights[f"{name}/{i}"] for i in range(6)]
    fwd = ref.lstm(x.numpy(), *w[:3])
    bwd = ref.lstm(x.numpy()[:, ::-1], *w[3:])
    np.testing.assert_allclose(got.gate("forget", direction=0), fwd["forget"], atol=ATOL)
    np.testing.assert_allclose(got.gate("forget", direction=1), bwd["forget"][:, ::-1], atol=ATOL)
    both = np.concatenate([got.hidden(direction=0), got.hidden(direction=1)], axis=-1)
    np.testing.assert_allclose(both, outputs[name], atol=ATOL)


def test_records_conv_lstm_frames(keras_dir: Path) -> None:
    model = load(keras_dir / "conv_lstm.h5")
    outputs = np.load(keras_dir / "conv_lstm.outputs.npz")
    x, _ = saved(keras_dir, "conv_lstm")
    first, second = children(model, ConvLSTM)
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    hidden = rec.trace[first].hidden()  # (batch, time, filters, height, width)
    assert rec.trace[first].gate("output").shape == hidden.shape
    np.testing.assert_allclose(hidden.permute(0, 1, 3, 4, 2), outputs[first], atol=ATOL)
    last = rec.trace[second].hidden()[:, -1].permute(0, 2, 3, 1)
    np.testing.assert_allclose(last, outputs[second], atol=ATOL)


def test_loading_never_imports_keras_or_tensorflow(keras_dir: Path) -> None:
    code = (
        "import sys, numpy as np, torch\n"
        "import explainr.adapters\n"
        "assert 'h5py' not in sys.modules, 'explainr.adapters imports h5py eagerly'\n"
        "from explainr.adapters.keras import load\n"
        f"m = load({str(keras_dir / 'bidirectional.keras')!r})\n"
        f"m(torch.from_numpy(np.load({str(keras_dir / 'bidirectional.x.npy')!r})))\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('keras', 'tensorflow')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


REFUSALS = {
    "lambda_layer": ["'lambda'", "Lambda layer", "never runs"],
    "unknown_layer": ["'layer_normalization'", "LayerNormalization", "supported layers"],
    "branching": ["'add'", "branching graph"],
    "hard_sigmoid_lstm": ["LSTM", "recurrent_activation='hard_sigmoid'"],
    "valid_conv_lstm": ["ConvLSTM2D", "padding='valid'"],
    "return_state": ["LSTM", "return_state=True"],
}


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("name", list(REFUSED))
def test_unsupported_models_are_refused_by_name(keras_dir: Path, name: str, ext: str) -> None:
    with pytest.raises(ExplainrError) as info:
        load(keras_dir / f"{name}.{ext}")
    for needle in REFUSALS[name]:
        assert needle in str(info.value)


def _rewrite(src: Path, dst: Path, **replace: bytes) -> Path:
    """A copy of the archive ``src`` with some members replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, replace.get(item.replace(".", "_"), zin.read(item)))
    return dst


def test_broken_files_are_explainr_errors(keras_dir: Path, tmp_path: Path) -> None:
    good = keras_dir / "stacked_lstm.keras"
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a model at all" * 10)
    other_zip = tmp_path / "other.keras"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    bad_json = _rewrite(good, tmp_path / "bad_json.keras", config_json=b"{not json")
    bad_h5 = _rewrite(good, tmp_path / "bad_h5.keras", model_weights_h5=b"\x89HDF\r\n junk")
    config = json.loads(zipfile.ZipFile(good).read("config.json"))
    config["config"]["layers"][1]["config"]["units"] = 49
    wrong_units = _rewrite(good, tmp_path / "units.keras", config_json=json.dumps(config).encode())
    cases = {
        truncated: "truncated.keras",
        junk: "neither a .keras archive",
        other_zip: "not a Keras model",
        bad_json: "not valid JSON",
        bad_h5: "cannot read the weights",
        wrong_units: "'lstm",
        tmp_path / "missing.keras": "does not exist",
    }
    for path, needle in cases.items():
        with pytest.raises(ExplainrError, match=needle.replace(".", r"\.")):
            load(path)


def test_a_weights_only_file_is_refused(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "model.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.zeros((2, 2)))
    with pytest.raises(ExplainrError, match="model_config"):
        load(path)


def test_adapt_takes_a_keras_path(keras_dir: Path) -> None:
    """explainr.adapt(path, windows): Keras's own predict, and explain() on its windows."""
    x, expected = saved(keras_dir, "stacked_lstm")
    ad = explainr.adapt(keras_dir / "stacked_lstm.keras", x)
    assert ad.library == "keras" and "keras" not in sys.modules
    w = ad.windows()
    np.testing.assert_allclose(ad.predict(w), expected.reshape(len(x), -1), rtol=0, atol=ATOL)
    ex = explainr.explain(ad, w[0], ("integrated_gradients",), metrics=False, memory=False)
    assert ex.attributions["integrated_gradients"].completeness_error.max() < 0.01
    assert any(name.startswith("model.") for name in ex.trace)
