"""The command line as a user runs it: exit codes, one-line errors, files written or not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from explainr import zoo

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    def build():
        torch.manual_seed(0)
        return Net()

    def not_a_module():
        return 42

    def boom():
        raise ValueError("cannot build")

    def needs_args(size):
        return Net()
    """
)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainr", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "mymodels.py").write_text(FACTORY)
    (d / "broken.py").write_text("def build(:\n")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    df.insert(0, "day", pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d"))
    df.to_csv(d / "series.csv", index=False)
    bad = df.copy()
    bad.loc[7, "b"] = np.nan
    bad.to_csv(d / "nan.csv", index=False)
    sys.path.insert(0, str(d))
    try:
        import mymodels  # the same factory, to write weights and a pickle

        net = mymodels.build()
        torch.save(net.state_dict(), d / "weights.pt")
        torch.save(torch.nn.Linear(2, 2).state_dict(), d / "wrong.pt")
        torch.save(net, d / "whole.pt")
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodels", None)
    return d


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("explainr: error: ")
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_models_lists_every_zoo_model() -> None:
    res = run("models")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.strip().splitlines()]
    assert listed == zoo.names()


@pytest.mark.parametrize("command", ["", "demo", "explain", "record", "models"])
def test_help_has_an_example(command: str) -> None:
    res = run(*([command] if command else []), "--help")
    assert res.returncode == 0
    assert "example" in res.stdout


def test_explain_factory_with_weights_writes_report(workdir: Path) -> None:
    out = workdir / "out" / "report.html"
    res = run(
        "explain",
        "--model",
        "mymodels:build",
        "--weights",
        "weights.pt",
        "--data",
        "series.csv",
        "--time-column",
        "day",
        "--window",
        "12",
        "--methods",
        "integrated_gradients,occlusion",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert res.returncode == 0, res.stderr
    assert out.is_file() and out.stat().st_size > 100_000
    html = out.read_text()
    assert "2024-02-09" in html  # the last time label of the last window
    assert "integrated_gradients" in res.stdout and "report:" in res.stdout


def test_record_writes_npz_matching_a_plain_run(workdir: Path) -> None:
    out = workdir / "trace.npz"
    res = run(
        "record",
        "--model",
        "mymodels.py:build",
        "--random-weights",
        "--data",
        "series.csv",
        "--time-column",
        "day",
        "--window",
        "10",
        "--last",
        "3",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert res.returncode == 0, res.stderr
    arrays = np.load(out)
    hidden = arrays["rnn/hidden/l0/d0"]
    assert hidden.shape == (3, 10, 8)
    sys.path.insert(0, str(workdir))
    try:
        import mymodels
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodels", None)
    net = mymodels.build().eval()
    df = pd.read_csv(workdir / "series.csv")[["a", "b", "c"]].to_numpy(np.float32)
    x = torch.as_tensor(np.stack([df[-12:-2], df[-11:-1], df[-10:]]))
    with torch.no_grad():
        expected, _ = net.rnn(x)
    np.testing.assert_allclose(hidden, expected.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--model", "mymodels:build", "--data", "missing.csv", "--window", "5"], ["missing.csv"]),
        (["--model", "mymodels:build", "--data", "nan.csv", "--window", "5"], ["'b'", "row 8"]),
        (
            ["--model", "mymodels:build", "--data", "series.csv", "--window", "400"],
            ["400", "40 rows"],
        ),
        (
            [
                "--model",
                "mymodels:build",
                "--data",
                "series.csv",
                "--window",
                "5",
                "--methods",
                "magic",
            ],
            ["magic"],
        ),
        (["--model", "mymodels:nope", "--data", "series.csv", "--window", "5"], ["nope"]),
        (
            ["--model", "nosuchpkg.mod:build", "--data", "series.csv", "--window", "5"],
            ["nosuchpkg"],
        ),
        (
            ["--model", "mymodels:not_a_module", "--data", "series.csv", "--window", "5"],
            ["not a torch.nn.Module"],
        ),
        (
            [
                "--model",
                "mymodels:build",
                "--weights",
                "wrong.pt",
                "--data",
                "series.csv",
                "--window",
                "5",
            ],
            ["do not fit"],
        ),
        (["--model", "whole.pt", "--data", "series.csv", "--window", "5"], ["--unsafe-pickle"]),
        (
            [
                "--model",
                "mymodels:build",
                "--data",
                "series.csv",
                "--window",
                "5",
                "--features",
                "a,zz",
            ],
            ["zz"],
        ),
        (["--model", "mymodels:build", "--data", "series.csv", "--window", "0"], ["--window"]),
        (["--model", "mymodels:boom", "--data", "series.csv", "--window", "5"], ["cannot build"]),
        (
            ["--model", "mymodels:needs_args", "--data", "series.csv", "--window", "5"],
            ["no arguments"],
        ),
        (["--model", "broken.py:build", "--data", "series.csv", "--window", "5"], ["SyntaxError"]),
        (
            [
                "--model",
                "macro_lstm",
                "--weights",
                "weights.pt",
                "--data",
                "series.csv",
                "--window",
                "5",
            ],
            ["ships its own"],
        ),
        (
            [
                "--model",
                "mymodels:build",
                "--data",
                "series.csv",
                "--features",
                "a,b",
                "--window",
                "5",
            ],
            ["failed on input"],
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(
    workdir: Path, args: list[str], needles: list[str]
) -> None:
    out = workdir / "bad" / "report.html"
    if ":" in args[args.index("--model") + 1] and "--weights" not in args:
        args = [*args, "--random-weights"]  # factories need --weights or this flag
    res = run("explain", *args, "--out", str(out), cwd=workdir)
    assert_one_line_error(res, *needles)
    assert not out.exists()


def test_unsafe_pickle_flag_loads_whole_module(workdir: Path) -> None:
    out = workdir / "pickle.npz"
    res = run(
        "record",
        "--model",
        "whole.pt",
        "--unsafe-pickle",
        "--data",
        "series.csv",
        "--window",
        "6",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert res.returncode == 0, res.stderr
    assert np.load(out)["rnn/cell/l0/d0"].shape == (1, 6, 8)


def test_usage_error_is_one_line() -> None:
    assert_one_line_error(run("explain", "--window", "3"), "--model")
    assert_one_line_error(run("frobnicate"))


def test_demo_of_the_classifier_explains_the_predicted_class(tmp_path: Path) -> None:
    out = tmp_path / "el.html"
    res = run("demo", "--model", "elnino_classifier", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert out.is_file()
    entry = zoo.load("elnino_classifier")
    x, _ = entry.windows(last=1)
    with torch.no_grad():
        logits = entry.model(x)[0]
    predicted = float(logits[int(logits.argmax())])
    assert f"prediction {predicted:.4g}" in res.stdout
