"""Bad stores give a clear error and lose nothing: other settings, other data, foreign files,
read-only folders; the CLI writes and resumes a run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import explainr
from tests.dataset import models

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {"methods": ("integrated_gradients",), "chunk": 4, "n_steps": 8}


def _snapshot(path: Path) -> dict[str, str]:
    """Every file under ``path`` with its content's hash and mode."""
    found = {}
    for folder, _, files in os.walk(path):
        for name in files:
            f = Path(folder) / name
            found[str(f.relative_to(path))] = hashlib.sha256(f.read_bytes()).hexdigest() + oct(
                f.stat().st_mode
            )
    return found


@pytest.fixture
def stored(tmp_path) -> Path:
    store = tmp_path / "run.zarr"
    explainr.explain_dataset(models.model(), models.windows(10), store=store, **OPTIONS)
    return store


def test_other_settings_are_named_and_the_store_is_untouched(stored):
    before = _snapshot(stored)
    with pytest.raises(explainr.ExplainrError) as error:
        explainr.explain_dataset(
            models.model(),
            models.windows(10),
            store=stored,
            **{**OPTIONS, "n_steps": 9, "chunk": 5},
        )
    message = str(error.value)
    assert "n_steps: 8 (store) vs 9 (now)" in message and "chunk: 4 (store) vs 5 (now)" in message
    with pytest.raises(explainr.ExplainrError, match="model: '"):
        explainr.explain_dataset(models.model("gru"), models.windows(10), store=stored, **OPTIONS)
    with pytest.raises(explainr.ExplainrError, match=r"windows 0\.\.3 differ"):
        explainr.explain_dataset(
            models.model(), models.windows(10, seed=5), store=stored, **OPTIONS
        )
    with pytest.raises(explainr.ExplainrError, match=r"windows: 10 \(store\) vs 12"):
        explainr.explain_dataset(models.model(), models.windows(12), store=stored, **OPTIONS)
    assert _snapshot(stored) == before


def test_foreign_folders_and_files_are_refused_and_kept(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    file = tmp_path / "file.zarr"
    file.write_text("not a store")
    other = tmp_path / "other.zarr"
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_zarr(other, consolidated=False)
    for path, message in (
        (folder, r"not an explainr run \(it holds \['notes.txt'"),
        (file, "is a file, not a run store"),
        (other, "not an explainr run"),
    ):
        before = _snapshot(path) if path.is_dir() else path.read_bytes()
        with pytest.raises(explainr.ExplainrError, match=message):
            explainr.explain_dataset(models.model(), models.windows(4), store=path, **OPTIONS)
        assert (_snapshot(path) if path.is_dir() else path.read_bytes()) == before
    with pytest.raises(explainr.ExplainrError, match="not an explainr run store"):
        explainr.open_run(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert explainr.explain_dataset(
        models.model(), models.windows(4), store=empty, **OPTIONS
    ).complete


READ_ONLY = """
import sys, numpy as np, explainr
from tests.dataset import models
store, parent = sys.argv[1], sys.argv[2]
for path, expected in ((store, "is read-only"), (parent + "/new.zarr", "permission denied")):
    try:
        explainr.explain_dataset(models.model(), models.windows(10), store=path, **{options})
    except explainr.ExplainrError as e:
        assert expected in str(e), str(e)
    else:
        raise SystemExit("no error for " + path)
run = explainr.open_run(store)
print(int(run.done.sum()), np.isnan(run.attributions["integrated_gradients"].values).any())
"""


def test_read_only_stores_and_folders_are_refused_and_kept(stored, tmp_path):
    (stored / "done" / "c" / "1").unlink()  # as a run killed before chunk 1's flag
    parent = tmp_path / "locked"
    parent.mkdir()
    for folder, _, files in os.walk(stored):
        for name in files:
            os.chmod(Path(folder) / name, 0o444)
        os.chmod(folder, 0o555)
    os.chmod(parent, 0o555)
    before = _snapshot(stored)
    # root writes anywhere: run without the capabilities that override file permissions
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root needs util-linux setpriv to test read-only folders"
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = READ_ONLY.format(options=OPTIONS)
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(stored), str(parent)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        for folder, _, _ in os.walk(stored):
            os.chmod(folder, 0o755)
        os.chmod(parent, 0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "True"]  # chunks 0 and 2 done, chunk 1 missing
    assert _snapshot(stored) == before and os.listdir(parent) == []


def test_cli_writes_resumes_and_reports_a_run(tmp_path, capsys):
    from explainr import report
    from explainr.cli import main

    data = ROOT / "models" / "data" / "macro.csv"
    store, out = tmp_path / "macro.zarr", tmp_path / "summary.csv"
    args = [
        "explain",
        "--model",
        "macro_lstm",
        "--data",
        str(data),
        "--stride",
        "40",
        "--methods",
        "integrated_gradients",
        "--n-steps",
        "8",
        "--store",
        str(store),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert main(args) == 2 and "pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert "0 chunk(s) computed now" in capsys.readouterr().out
    run = explainr.open_run(store)
    assert run.complete and run.dataset.sizes["window"] == 5  # 202 rows, window 16, stride 40
    np.testing.assert_allclose(pd.read_csv(out)["mean_abs"], run.summary()["mean_abs"])
    code = main(["report", str(store), "--out", str(tmp_path / "g.html")])
    if hasattr(report, "global_report"):  # the global report's own tests check the page
        assert code == 0 and (tmp_path / "g.html").is_file()
    else:
        assert code == 2 and "no global report" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "message"), [("--stride", "--stride must be at least 1"), ("--workers", "--workers")]
)
def test_cli_zero_stride_or_workers_is_an_error_not_a_single_window(
    flag, message, tmp_path, capsys
):
    """0 is falsy: it once slipped past the dataset mode into a one-window explanation."""
    from explainr.cli import main

    data = ROOT / "models" / "data" / "macro.csv"
    out = tmp_path / "z.html"
    args = ["explain", "--model", "macro_lstm", "--data", str(data), flag, "0", "--out", str(out)]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("given", ["new path", "empty folder"])
def test_a_run_that_fails_before_any_chunk_leaves_no_store_behind(tmp_path, given):
    """Bad options found at the first chunk: the error, and the next call on the same path
    starts afresh (no "exists: pass --resume" for a store with nothing in it)."""
    store = tmp_path / "run.zarr"
    if given == "empty folder":
        store.mkdir()
    bad = {"methods": ("kernel_shap",), "chunk": 4, "group_window": 1, "n_samples": 3}
    with pytest.raises(explainr.ExplainrError, match=r"24 groups needs n_samples >= 24"):
        explainr.explain_dataset(models.model(), models.windows(10), store=store, **bad)
    assert (
        (store.is_dir() and not os.listdir(store))
        if given == "empty folder"
        else not (store.exists())
    )
    run = explainr.explain_dataset(
        models.model(), models.windows(10), store=store, **{**bad, "n_samples": 64}
    )
    assert run.complete


def test_a_run_that_fails_after_a_chunk_keeps_its_store_for_resume(tmp_path, monkeypatch):
    store = tmp_path / "run.zarr"
    x = models.windows(10)
    x[5, 0, 0] = 123.0  # in chunk 1 (windows 4-7): the model refuses it
    forward = models.Forecaster.forward

    def failing(self, batch):
        if (batch == 123.0).any():
            raise RuntimeError("planted failure")
        return forward(self, batch)

    monkeypatch.setattr(models.Forecaster, "forward", failing)
    with pytest.raises(RuntimeError, match="planted failure"):
        explainr.explain_dataset(models.model(), x, store=store, gates=False, **OPTIONS)
    monkeypatch.undo()
    assert explainr.open_run(store).done.tolist() == [True, False, False]  # kept to resume
    again = explainr.explain_dataset(models.model(), x, store=store, gates=False, **OPTIONS)
    assert again.complete and again.computed == [1, 2]
