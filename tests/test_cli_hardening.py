"""The command line when things go wrong: the user's model fails, exits or hangs; Ctrl-C and
SIGTERM arrive mid-work, while torch loads or while the output is written; --out names an
input. Every case: one line on stderr, exit 2 (130 for Ctrl-C), no traceback unless
--debug, no temporary file, and the output file that was there before is intact."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from explainr import cli
from explainr._core.errors import ExplainrError
from explainr._load import load_model, read_table

ROOT = Path(__file__).resolve().parents[1]
ROWS, WINDOW = 40, 8  # 33 windows

FACTORY = textwrap.dedent(
    """
    import os
    import sys
    import time

    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, fail_at=None):
            super().__init__()
            self.rnn = nn.LSTM(3, 8, batch_first=True)
            self.head = nn.Linear(8, 1)
            self.fail_at = fail_at
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.fail_at is not None and self.calls >= self.fail_at:
                raise RuntimeError(f"model broke on call {self.calls}")
            out, _ = self.rnn(x)
            return self.head(out[:, -1])


    class Slow(Net):
        def forward(self, x):
            open(os.environ["EXPLAINR_TEST_MARK"], "a").close()  # the work has started
            time.sleep(0.2)
            return super().forward(x)


    class ExitsInForward(Net):
        def forward(self, x):
            if self.calls >= 2:
                sys.exit(0)
            return super().forward(x)


    class Odd(BaseException):
        pass


    class RaisesOdd(Net):
        def forward(self, x):
            raise Odd("not an Exception at all")


    class RaisesEmpty(Net):
        def forward(self, x):
            raise ValueError()


    class Pickled(dict):
        "a state dict that weights_only=True refuses: a class of this module"


    def build():
        torch.manual_seed(0)
        return Net()

    def fourth():
        torch.manual_seed(0)
        return Net(fail_at=4)

    def exits():
        sys.exit(0)

    def exits_one():
        sys.exit(1)

    def slow():
        return Slow()

    def exits_in_forward():
        return ExitsInForward()

    def raises_odd():
        return RaisesOdd()

    def raises_empty():
        return RaisesEmpty()
    """
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli_hard")
    (d / "mymodels.py").write_text(FACTORY)
    (d / "exits_on_import.py").write_text("import sys\nsys.exit(0)\ndef build():\n    pass\n")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(ROWS, 3)), columns=["a", "b", "c"])
    df.insert(0, "day", pd.date_range("2024-01-01", periods=ROWS, freq="D").strftime("%Y-%m-%d"))
    df.to_csv(d / "series.csv", index=False)
    for name, value in (("inf.csv", np.inf), ("ninf.csv", -np.inf)):
        bad = df.copy()
        bad.loc[7, "b"] = value
        bad.to_csv(d / name, index=False)
    sys.path.insert(0, str(d))
    try:
        import mymodels

        net = mymodels.build()
        torch.save(mymodels.Pickled(net.state_dict()), d / "pickled_weights.pt")
        torch.save(net.state_dict(), d / "weights.pt")
        from safetensors.torch import save_file

        save_file(net.state_dict(), str(d / "weights.safetensors"))
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodels", None)
    return d


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def explain_args(model: str, out: Path, *more: str) -> list[str]:
    return [
        "explain",
        "--model",
        model,
        "--random-weights",
        "--data",
        "series.csv",
        "--window",
        str(WINDOW),
        "--out",
        str(out),
        *more,
    ]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainr", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(),
        timeout=300,
    )


def existing_output(path: Path, text: str = "the user's old report") -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def assert_failed_cleanly(
    res: subprocess.CompletedProcess, out: Path, *needles: str, code: int = 2
) -> str:
    """One ``explainr: error:`` line (or ``explainr: interrupted``), the old output intact."""
    assert res.returncode == code, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    if code == 130:
        assert lines[0] == "explainr: interrupted"
    else:
        assert lines[0].startswith("explainr: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert out.read_text() == "the user's old report"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert leftovers(out.parent) == []
    return lines[0]


# -- the user's model or factory fails ---------------------------------------------------


def test_model_failing_on_its_fourth_call(workdir: Path) -> None:
    out = existing_output(workdir / "fourth.html")
    res = run(explain_args("mymodels:fourth", out), workdir)
    assert_failed_cleanly(res, out, "model broke on call 4")


def test_debug_shows_the_traceback_then_the_same_line(workdir: Path) -> None:
    out = existing_output(workdir / "fourth_debug.json")
    res = run(["--debug", *explain_args("mymodels:fourth", out)], workdir)
    assert res.returncode == 2
    assert "Traceback (most recent call last)" in res.stderr
    assert "mymodels.py" in res.stderr  # down to the user's own line
    last = res.stderr.splitlines()[-1]
    assert last.startswith("explainr: error: ") and "model broke on call 4" in last
    assert out.read_text() == "the user's old report" and leftovers(workdir) == []


@pytest.mark.parametrize(
    ("model", "needles"),
    [
        ("mymodels.py:exits", ["mymodels.py:exits() called sys.exit(0)"]),
        ("mymodels.py:exits_one", ["called sys.exit(1)"]),
        ("exits_on_import.py:build", ["importing 'exits_on_import.py'", "sys.exit(0)"]),
        ("mymodels.py:exits_in_forward", ["called sys.exit(0)"]),
        ("mymodels.py:raises_odd", ["Odd: not an Exception at all"]),
        ("mymodels.py:raises_empty", ["ValueError"]),
    ],
    ids=["factory_exit0", "factory_exit1", "import_exit", "forward_exit", "base_exc", "empty"],
)
def test_exits_and_odd_exceptions_are_failures(workdir: Path, model: str, needles, capsys) -> None:
    out = existing_output(workdir / "exit.json")
    args = explain_args(model, out, "--methods", "integrated_gradients")
    code, err = main_in(workdir, args, capsys)  # in-process: sys.exit must not end pytest
    res = subprocess.CompletedProcess(args, code, "", err)
    assert_failed_cleanly(res, out, *needles)


def test_factory_exit_zero_as_a_user_runs_it(workdir: Path) -> None:
    out = existing_output(workdir / "exit0.json")
    res = run(explain_args("mymodels:exits", out), workdir)
    assert_failed_cleanly(res, out, "mymodels:exits() called sys.exit(0)")


# -- signals -------------------------------------------------------------------------------


def _start(args: list[str], cwd: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "explainr", *args],
        cwd=cwd,
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"exited before {what}: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 2)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_while_the_model_runs(workdir: Path, sig: int, code: int) -> None:
    out = existing_output(workdir / f"signal_{sig}.html")
    mark = workdir / f"started_{sig}"
    mark.unlink(missing_ok=True)
    proc = _start(explain_args("mymodels:slow", out), workdir, EXPLAINR_TEST_MARK=str(mark))
    _wait_for(mark.exists, proc, "first model call")
    time.sleep(0.3)  # inside the attribution
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    line = assert_failed_cleanly(res, out, code=code)
    if sig == signal.SIGTERM:
        assert line == "explainr: error: terminated (SIGTERM)"


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 2)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_while_torch_loads(workdir: Path, sig: int, code: int) -> None:
    proc = _start(["models"], workdir)

    def torch_loading() -> bool:
        try:
            return "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
        except OSError:
            return False

    _wait_for(torch_loading, proc, "torch loading")
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.splitlines() == [
        "explainr: interrupted" if code == 130 else "explainr: error: terminated (SIGTERM)"
    ]
    assert stdout == ""


SLOW_PARQUET = textwrap.dedent(
    """
    import sys
    import time

    import pandas as pd


    def slow_parquet(self, fh, **kwargs):  # writes part of the file, then takes its time
        fh.write(b"PAR1 half a table")
        fh.flush()
        print("writing", flush=True)
        time.sleep(120)


    pd.DataFrame.to_parquet = slow_parquet
    from explainr.cli import main

    raise SystemExit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 2), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_while_the_output_is_written(workdir: Path, sig: int, code: int) -> None:
    pytest.importorskip("pyarrow")
    (workdir / "slow_parquet.py").write_text(SLOW_PARQUET)
    folder = workdir / f"write_{sig}"
    folder.mkdir(exist_ok=True)
    out = existing_output(folder / "table.parquet")
    args = explain_args("mymodels:build", out, "--methods", "integrated_gradients")
    proc = subprocess.Popen(
        [sys.executable, "slow_parquet.py", *args],
        cwd=workdir,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "writing\n", proc.communicate()
    assert len(leftovers(folder)) == 1  # the temporary file is there, half written
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=120)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, err)
    assert_failed_cleanly(res, out, code=code)


# -- arguments checked before any work (in-process: fast) -----------------------------------


def main_in(cwd: Path, args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = cli.main(args)
    finally:
        os.chdir(old)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("explainr: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "out",
    ["series.csv", "./series.csv", "sub/../series.csv", "link.csv", "hardlink.csv", "ABSOLUTE"],
)
def test_out_may_not_be_the_data_file(workdir: Path, out: str, capsys) -> None:
    (workdir / "sub").mkdir(exist_ok=True)
    if not (workdir / "link.csv").exists():
        (workdir / "link.csv").symlink_to("series.csv")
        os.link(workdir / "series.csv", workdir / "hardlink.csv")
    before = (workdir / "series.csv").read_bytes()
    out = str(workdir / "series.csv") if out == "ABSOLUTE" else out
    args = explain_args("mymodels.py:build", Path(out))
    args[args.index("--out") + 1] = out  # as typed
    code, err = main_in(workdir, args, capsys)
    assert code == 2
    line = one_line(err)
    assert f"--out {out} is the --data file series.csv" in line
    assert (workdir / "series.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--baseline", "series.csv"), ("--weights", "weights.json"), ("--card", "card.json")],
)
def test_out_may_not_be_another_input(workdir: Path, flag: str, value: str, capsys) -> None:
    (workdir / "card.json").write_text(json.dumps({"data": {"features": ["a", "b", "c"]}}))
    (workdir / "weights.json").write_bytes((workdir / "weights.pt").read_bytes())  # torch file
    data = workdir / "series2.csv"
    data.write_bytes((workdir / "series.csv").read_bytes())
    target = workdir / value
    before = target.read_bytes()
    args = ["explain", "--model", "mymodels.py:build", "--data", "series2.csv", "--window", "8"]
    args += [flag, value, "--out", value]
    if flag != "--weights":
        args.append("--random-weights")
    code, err = main_in(workdir, args, capsys)
    assert code == 2, err
    assert f"is the {flag} file {value}" in one_line(err)
    assert target.read_bytes() == before


def test_last_beyond_the_windows_names_the_count(workdir: Path, capsys) -> None:
    out = workdir / "last.json"
    code, err = main_in(workdir, explain_args("mymodels.py:build", out, "--last", "1000"), capsys)
    assert code == 2
    # 40 rows, windows of 8: 33 windows, counted here independently of explainr
    assert f"only {ROWS - WINDOW + 1} window(s)" in one_line(err)
    assert "--last 1000" in err and "40 rows" in err and not out.exists()


@pytest.mark.parametrize(("file", "shown"), [("inf.csv", "(inf)"), ("ninf.csv", "(-inf)")])
def test_infinite_value_named_by_column_and_row(workdir: Path, file: str, shown: str) -> None:
    with pytest.raises(ExplainrError) as info:
        read_table(str(workdir / file), "day")
    message = str(info.value)
    # the value was planted at row index 7: the 8th data row, dated 2024-01-08
    assert f"infinite value {shown} in column 'b' at row 8 (time 2024-01-08" in message


def test_unsafe_pickle_is_honoured_for_torch_weights(workdir: Path) -> None:
    spec = str(workdir / "mymodels.py") + ":build"
    pickled = str(workdir / "pickled_weights.pt")
    with pytest.raises(ExplainrError, match="--unsafe-pickle reads it with weights_only=False"):
        load_model(spec, pickled)
    sys.path.insert(0, str(workdir))  # the pickle names mymodels.Pickled
    try:
        model = load_model(spec, pickled, unsafe_pickle=True)
        import mymodels

        reference = mymodels.build().eval()
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodels", None)
    x = torch.randn(2, WINDOW, 3)
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=0, rtol=0)


@pytest.mark.parametrize(
    ("spec", "weights", "random", "needle"),
    [
        ("mymodels.py:build", "weights.safetensors", False, "read without pickle"),
        ("mymodels.py:build", None, True, "no --weights file"),
        ("sunspots_gru", None, False, "zoo model 'sunspots_gru'"),
        ("model.keras", None, False, "Keras file"),
    ],
    ids=["safetensors", "random", "zoo", "keras"],
)
def test_unsafe_pickle_with_nothing_to_unpickle(workdir, spec, weights, random, needle) -> None:
    spec = str(workdir / spec) if spec.endswith((":build", ".keras")) else spec
    weights = None if weights is None else str(workdir / weights)
    with pytest.raises(ExplainrError, match="--unsafe-pickle has nothing to unpickle") as info:
        load_model(spec, weights, unsafe_pickle=True, random_weights=random)
    assert needle in str(info.value)


def test_zoo_model_with_unsafe_pickle_on_the_command_line(workdir: Path, capsys) -> None:
    args = ["explain", "--model", "sunspots_gru", "--unsafe-pickle", "--data", "series.csv"]
    code, err = main_in(workdir, [*args, "--out", "x.json"], capsys)
    assert code == 2 and "--unsafe-pickle has nothing to unpickle" in one_line(err)


def test_help_documents_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "130  interrupted (Ctrl-C)" in text and "--debug" in text


def test_success_over_an_existing_file_keeps_its_mode(workdir: Path, capsys) -> None:
    out = existing_output(workdir / "kept.json")
    inode = out.stat().st_ino
    args = explain_args("mymodels.py:build", out, "--methods", "integrated_gradients", "-q")
    code, err = main_in(workdir, args, capsys)
    assert code == 0, err
    summary = json.loads(out.read_text())
    assert summary["windows"] == 1 and "integrated_gradients" in summary["methods"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.stat().st_ino != inode  # replaced by a rename, never rewritten in place
    assert leftovers(workdir) == []
