"""``explainr explain/record --model model.keras`` (and ``.h5``), as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import explainr
from explainr.adapters.keras import load


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainr", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def series(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    df.to_csv(tmp_path / "series.csv", index=False)
    return tmp_path / "series.csv"


def test_explain_takes_a_keras_file(keras_dir: Path, tmp_path: Path) -> None:
    series(tmp_path)
    out = tmp_path / "report.html"
    res = run(
        "explain",
        "--model",
        str(keras_dir / "stacked_lstm.keras"),
        "--data",
        "series.csv",
        "--window",
        "12",
        "--methods",
        "integrated_gradients",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert out.is_file() and out.stat().st_size > 100_000
    assert "integrated_gradients" in res.stdout


def test_record_takes_an_h5_file_and_keeps_keras_names(keras_dir: Path, tmp_path: Path) -> None:
    data = series(tmp_path)
    out = tmp_path / "trace.npz"
    res = run(
        "record",
        "--model",
        str(keras_dir / "stacked_lstm.h5"),
        "--data",
        "series.csv",
        "--window",
        "12",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    saved = np.load(out)
    model = load(keras_dir / "stacked_lstm.h5")
    x = torch.tensor(pd.read_csv(data).to_numpy()[-12:], dtype=torch.float32)[None]
    with explainr.record(model) as rec, torch.no_grad():
        model(x)
    assert sorted(rec.trace.names) == ["lstm", "lstm_1"]  # the Keras layer names
    for name in rec.trace.names:
        hidden = saved[f"{name}/hidden/l0/d0"]
        np.testing.assert_allclose(hidden, rec.trace[name].hidden(), atol=1e-6)


def test_weights_with_a_keras_file_is_one_line_error(keras_dir: Path, tmp_path: Path) -> None:
    series(tmp_path)
    res = run(
        "explain",
        "--model",
        str(keras_dir / "stacked_lstm.keras"),
        "--weights",
        "w.pt",
        "--data",
        "series.csv",
        "--window",
        "12",
        "--out",
        "r.html",
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"explainr: error: --weights is for factory models; "
        f"{keras_dir / 'stacked_lstm.keras'} holds its own weights"
    ]
