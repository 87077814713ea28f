"""The model zoo: every card, its data and weights, checked by recomputing from the CSVs."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import explainr
from explainr import ExplainrError, zoo

KINDS = {
    "co2_peephole": "peephole_lstm",
    "elnino_classifier": "lstm",
    "macro_lstm": "lstm",
    "moving_convlstm": "conv_lstm",
    "planted_lstm": "lstm",
    "sunspots_gru": "gru",
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def model(request) -> zoo.ZooModel:
    return zoo.load(request.param)


def test_names_are_the_six_models():
    # and the two frame models, checked in tests/test_zoo_frames.py
    assert zoo.names() == sorted([*KINDS, "moving_digits", "planted_convlstm"])


def test_unknown_name_lists_the_models():
    with pytest.raises(ExplainrError, match="sunspots_gru"):
        zoo.load("sunspot_gru")


def test_models_dir_follows_environment(tmp_path, monkeypatch):
    shutil.copytree(zoo.models_dir() / "sunspots_gru", tmp_path / "sunspots_gru")
    shutil.copytree(zoo.models_dir() / "data", tmp_path / "data")
    monkeypatch.setenv("EXPLAINR_MODELS", str(tmp_path))
    assert zoo.models_dir() == tmp_path
    assert zoo.names() == ["sunspots_gru"]
    assert len(zoo.load("sunspots_gru").data()) == 309


def test_card_describes_model_and_data(model):
    card = model.card
    keys = {"name", "description", "task", "architecture", "data", "window", "scaling", "split"}
    assert keys | {"metrics", "trained_with"} <= set(card)
    assert card["name"] == model.name
    assert card["task"] in ("forecast", "classify")
    assert set(card["data"]) >= {"file", "source", "time_column", "features", "target"}
    assert model.feature_names == card["data"]["features"]
    assert (zoo.models_dir() / card["data"]["file"]).is_file()
    assert (zoo.models_dir() / model.name / "train.py").is_file()
    weights = zoo.models_dir() / model.name / "model.safetensors"
    assert weights.stat().st_size < 1_000_000
    assert not model.model.training
    shipped = load_file(weights)
    state = model.model.state_dict()
    assert shipped.keys() == state.keys()
    assert all(torch.equal(shipped[k], state[k]) for k in shipped)


def test_model_runs_on_windows_and_raw_windows_are_the_data(model):
    x, raw = model.windows(last=3)
    frame = model.data()
    assert x.dtype == torch.float32
    assert x.shape == (3, model.window, len(model.feature_names))
    assert raw[-1].index[-1] == frame.index[-1]
    assert list(raw[0].columns) == model.feature_names
    for k, window in enumerate(raw):
        expected = frame[model.feature_names].iloc[len(frame) - 3 + k - model.window + 1 :][
            : model.window
        ]
        pd.testing.assert_frame_equal(window, expected)
        np.testing.assert_allclose(model.unscale(x[k].numpy()), window.to_numpy(), atol=1e-4)
    with torch.no_grad():
        out = model.model(x)
    n_classes = model.card["architecture"]["kwargs"].get("n_classes")
    assert out.shape == ((3,) if model.task == "forecast" else (3, n_classes))
    assert torch.isfinite(out).all()


def test_time_index_is_dates_or_ints(model):
    index = model.data().index
    assert isinstance(index, pd.DatetimeIndex) or pd.api.types.is_integer_dtype(index)
    assert index.is_monotonic_increasing and index.is_unique


def test_scaling_matches_the_training_rows(model):
    scaling = model.card["scaling"]
    values = model.data()[model.feature_names].to_numpy(dtype=float)
    start, stop = scaling["fit_rows"]
    if scaling["method"] == "none":
        assert scaling["mean"] == [0.0] * len(model.feature_names)
        assert scaling["std"] == [1.0] * len(model.feature_names)
        assert values.min() >= 0 and values.max() <= 1
        return
    assert scaling["method"] == "standard"
    np.testing.assert_allclose(scaling["mean"], values[start:stop].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaling["std"], values[start:stop].std(axis=0), rtol=1e-12)
    # fitted on exactly the rows the training windows cover
    assert (start, stop) == (0, sample_ends(model)[model.card["split"]["train"] - 1] + 1)
    x = (values[:10] - np.array(scaling["mean"])) / np.array(scaling["std"])
    np.testing.assert_allclose(model.scale(values[:10]), x)


def test_samples_split_in_time_order(model):
    split = model.card["split"]
    sizes = {name: len(model.samples(name)[1]) for name in ("train", "validation", "test", "all")}
    assert sizes == {**split, "all": sum(split.values())}
    assert split["test"] == round(0.2 * sizes["all"])


def sample_ends(model: zoo.ZooModel) -> list[int]:
    """Row of each sample's last window step: every window whose target is in the data."""
    target = model.data()[model.target_name].to_numpy(dtype=float)
    horizon = model.card.get("horizon", 1)
    return [
        end
        for end in range(model.window - 1, len(target) - horizon)
        if np.isfinite(target[end + horizon])
    ]


def independent_test_split(model: zoo.ZooModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test windows (scaled), targets and last values, cut from data() in a plain loop."""
    card = model.card
    frame = model.data()
    values = frame[model.feature_names].to_numpy(dtype=float)
    target = frame[model.target_name].to_numpy(dtype=float)
    window, horizon = card["window"], card.get("horizon", 1)
    ends = sample_ends(model)
    assert len(ends) == sum(card["split"].values())
    ends = ends[-card["split"]["test"] :]
    x = np.stack([values[end - window + 1 : end + 1] for end in ends])
    x = (x - np.array(card["scaling"]["mean"])) / np.array(card["scaling"]["std"])
    y = np.array([target[end + horizon] for end in ends])
    last = np.array([target[end + horizon - 1] for end in ends])
    return x, y, last


def test_test_metric_recomputed_beats_naive_baseline(model):
    x, y, last = independent_test_split(model)
    with torch.no_grad():
        out = model.model(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(float)
    metrics = model.card["metrics"]
    if model.task == "forecast":
        rmse = np.sqrt(np.mean((out - y) ** 2))
        naive = np.sqrt(np.mean((last - y) ** 2))
        assert rmse == pytest.approx(metrics["test_rmse"], rel=1e-5)
        assert naive == pytest.approx(metrics["naive_last_value_rmse"], rel=1e-9)
        assert rmse <= naive
        return
    threshold = model.card["data"]["threshold"]
    labels = (y > threshold).astype(int)
    accuracy = np.mean(out.argmax(axis=1) == labels)
    train_labels = model.samples("train")[1].numpy()
    majority = np.mean(labels == np.bincount(train_labels).argmax())
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert majority == pytest.approx(metrics["naive_majority_accuracy"], abs=1e-12)
    assert np.mean((last > threshold) == labels) == pytest.approx(
        metrics["naive_last_value_accuracy"], abs=1e-12
    )
    assert accuracy >= majority


def test_samples_agree_with_windows(model):
    x_test, y_test = model.samples("test")
    x_ind, y_ind, _ = independent_test_split(model)
    np.testing.assert_allclose(x_test.numpy(), x_ind, atol=1e-6)
    if model.task == "classify":
        y_ind = (y_ind > model.card["data"]["threshold"]).astype(int)
    np.testing.assert_array_equal(y_test.numpy(), y_ind)


def test_record_finds_the_recurrent_module(model):
    x, _ = model.windows(last=2)
    with torch.no_grad():
        plain = model.model(x)
        with explainr.record(model.model) as rec:
            recorded = model.model(x)
        # Within 1e-6, not bitwise: under no_grad a recorded nn.LSTM runs oneDNN's training
        # primitive (to read its gates) where PyTorch runs the inference one.
        torch.testing.assert_close(recorded, plain, atol=1e-6, rtol=0)
        rnn_in = x
        if KINDS[model.name] == "conv_lstm":  # frames flattened row by row
            rnn_in = x.reshape(*x.shape[:2], 1, *model.card["data"]["frame_shape"])
        rnn_out = model.model.rnn(rnn_in)[0]
    assert rec.trace.names == ["rnn"]
    assert rec.trace.kind("rnn") == KINDS[model.name]
    got = rec.trace["rnn"]
    torch.testing.assert_close(got.hidden(got.num_layers - 1), rnn_out, atol=1e-5, rtol=0)


def test_planted_model_reads_the_box():
    model = zoo.load("planted_lstm")
    box = model.card["box"]
    x, y = model.samples("test")
    raw = model.unscale(x.numpy())
    box_sum = raw[:, box["steps"]][:, :, box["features"]].sum(axis=(1, 2))
    np.testing.assert_allclose(box_sum, y.numpy(), atol=1e-3)  # the card's box is the target's
    x = x[:64].clone().requires_grad_(True)
    model.model(x).sum().backward()
    saliency = x.grad.abs().mean(dim=0)
    inside = torch.zeros_like(saliency, dtype=torch.bool)
    inside[np.ix_(box["steps"], box["features"])] = True
    assert saliency[inside].mean() > 5 * saliency[~inside].mean()


def test_bad_arguments_raise_explainr_error():
    model = zoo.load("sunspots_gru")
    with pytest.raises(ExplainrError, match="1 to 280 windows"):
        model.windows(last=281)
    with pytest.raises(ExplainrError, match="1 features"):
        model.scale(np.zeros((3, 2)))
    with pytest.raises(ExplainrError, match="split"):
        model.samples("valid")
    with pytest.raises(ExplainrError, match="takes windows"):
        model.model(torch.zeros(2, 30, 3))


def test_data_files_are_what_export_writes(tmp_path):
    pytest.importorskip("statsmodels")
    path = zoo.models_dir() / "data" / "export.py"
    spec = importlib.util.spec_from_file_location("zoo_export", path)
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    for file, make in export.EXPORTS.items():
        make().to_csv(tmp_path / file)
        assert (tmp_path / file).read_text() == (zoo.models_dir() / "data" / file).read_text()
