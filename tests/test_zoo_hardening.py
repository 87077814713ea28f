"""The zoo under bad input: broken cards and weights, missing folders, names that are paths.

Every case is an `ExplainrError` naming the file or the name; ``explainr models`` turns a
broken zoo into one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explainr import zoo
from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def own_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of two zoo models (and the data) that a test may break, as EXPLAINR_MODELS."""
    shipped = zoo.models_dir()
    root = tmp_path / "zoo"
    for name in ("sunspots_gru", "macro_lstm", "data"):
        shutil.copytree(shipped / name, root / name)
    monkeypatch.setenv("EXPLAINR_MODELS", str(root))
    return root


def run_models(env_models: Path | str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EXPLAINR_MODELS": str(env_models), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "explainr", "models"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("explainr: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_broken_card_json_names_the_file(own_zoo: Path) -> None:
    card = own_zoo / "macro_lstm" / "card.json"
    card.write_text('{"architecture": ')
    with pytest.raises(ExplainrError, match=f"cannot read zoo card {card}"):
        zoo.catalogue()
    with pytest.raises(ExplainrError, match=f"cannot read zoo card {card}"):
        zoo.load("macro_lstm")
    assert zoo.load("sunspots_gru").window == 30  # the other model is untouched
    assert_one_line_error(run_models(own_zoo), str(card), "fix or remove it")


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "null"])
def test_card_that_is_not_an_object(own_zoo: Path, content: str) -> None:
    card = own_zoo / "macro_lstm" / "card.json"
    card.write_text(content)
    with pytest.raises(ExplainrError, match=f"zoo card {card} holds a .*not a JSON object"):
        zoo.load("macro_lstm")


def test_card_not_utf8(own_zoo: Path) -> None:
    card = own_zoo / "macro_lstm" / "card.json"
    card.write_bytes(b'{"name": "\xff\xfe"}')
    with pytest.raises(ExplainrError, match=f"cannot read zoo card {card}"):
        zoo.load("macro_lstm")


@pytest.mark.parametrize(
    ("edit", "shown"),
    [
        (lambda c: c.pop("architecture"), "'architecture'"),
        (lambda c: c["architecture"].pop("kwargs"), "'kwargs'"),
        (lambda c: c["data"].pop("features"), "'features'"),
        (lambda c: c.update(window="16"), "window must be a positive int, got '16'"),
        (lambda c: c["architecture"].update({"class": "os.system"}), "names class 'os.system'"),
        (lambda c: c["architecture"]["kwargs"].update(hidden_size=3), "cannot build Forecaster"),
        (lambda c: c["architecture"]["kwargs"].update(colour=3), "cannot build Forecaster"),
    ],
    ids=["architecture", "kwargs", "features", "window", "class", "shape", "keyword"],
)
def test_card_with_missing_or_wrong_keys(own_zoo: Path, edit, shown: str) -> None:
    path = own_zoo / "macro_lstm" / "card.json"
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card))
    with pytest.raises(ExplainrError, match="macro_lstm") as info:
        zoo.load("macro_lstm")
    assert shown in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not safetensors at all", None])
def test_broken_or_missing_weights_name_the_file(own_zoo: Path, content: bytes | None) -> None:
    weights = own_zoo / "macro_lstm" / "model.safetensors"
    if content is None:
        weights.unlink()
    else:
        weights.write_bytes(content)
    with pytest.raises(ExplainrError, match=f"with the weights in {weights}"):
        zoo.load("macro_lstm")


def test_missing_zoo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nonexistent"
    monkeypatch.setenv("EXPLAINR_MODELS", str(missing))
    assert zoo.names() == []
    with pytest.raises(ExplainrError, match=f"EXPLAINR_MODELS='{missing}' is not a folder"):
        zoo.catalogue()
    with pytest.raises(ExplainrValueError, match="no zoo model named 'sunspots_gru'"):
        zoo.load("sunspots_gru")
    assert_one_line_error(run_models("/nonexistent"), "EXPLAINR_MODELS='/nonexistent'")


def test_empty_zoo_folder_and_a_file_as_the_zoo(tmp_path: Path) -> None:
    assert_one_line_error(run_models(tmp_path), "no models in EXPLAINR_MODELS=")
    a_file = tmp_path / "zoo.txt"
    a_file.write_text("x")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLAINR_MODELS", str(a_file))
        with pytest.raises(ExplainrError, match="is not a folder"):
            zoo.catalogue()


@pytest.mark.parametrize(
    "name",
    [
        "macro_lstm/../sunspots_gru",
        "../zoo/sunspots_gru",
        "../outside/evil",
        "sunspots_gru/",
        "./sunspots_gru",
        "..",
        ".",
        "",
        "data",
    ],
)
def test_names_are_folder_names_never_paths(own_zoo: Path, name: str) -> None:
    # a complete model next to the zoo: a path name must not reach it
    shutil.copytree(own_zoo / "sunspots_gru", own_zoo.parent / "outside" / "evil")
    with pytest.raises(ExplainrValueError, match="no zoo model named") as info:
        zoo.load(name)
    assert "sunspots_gru" in str(info.value)  # the models that exist are listed
    if "/" in name or name in (".", ".."):
        assert "not a path" in str(info.value)
    with pytest.raises(ExplainrValueError):
        zoo.card(name)


def test_absolute_path_of_a_real_zoo_model_is_refused(own_zoo: Path) -> None:
    absolute = str(own_zoo / "sunspots_gru")
    with pytest.raises(ExplainrValueError, match="not a path"):
        zoo.load(absolute)


@pytest.mark.parametrize("name", [None, 5, ["sunspots_gru"], Path("sunspots_gru")])
def test_name_that_is_not_a_str(name: object) -> None:
    with pytest.raises(ExplainrTypeError, match="a zoo model name must be a str") as info:
        zoo.load(name)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    with pytest.raises(ExplainrTypeError):
        zoo.card(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("last", ["2", 2.0, True, None])
def test_windows_last_must_be_an_int(last: object) -> None:
    model = zoo.load("sunspots_gru")
    with pytest.raises(ExplainrTypeError, match="last must be an int"):
        model.windows(last=last)  # type: ignore[arg-type]


def test_windows_last_numpy_int_equals_python_int() -> None:
    model = zoo.load("sunspots_gru")
    x_np, _ = model.windows(last=np.int64(2))
    x, _ = model.windows(last=2)
    assert torch.equal(x_np, x)
    # the last window is the data's last rows, scaled with the card (independent of windows())
    frame = model.data()[model.feature_names].to_numpy(dtype=float)
    scaling = model.card["scaling"]
    expected = (frame[-model.window :] - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])
    np.testing.assert_allclose(x[-1].numpy(), expected, atol=1e-6)
