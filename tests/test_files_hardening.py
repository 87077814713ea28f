"""Every file explainr writes goes through `write_atomic`: the user's umask for a new file,
the old mode for a replaced one, a rename (never a rewrite in place), and no temporary file
after any failure, Ctrl-C included."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr._core.errors import ExplainrError
from explainr._core.files import write_atomic


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_new_file_follows_the_umask(tmp_path: Path, mask: int, expected: int) -> None:
    with umask(mask):
        path = write_atomic(tmp_path / "new.txt", "hello", "a note")
    assert mode(path) == expected and path.read_text() == "hello"


@pytest.mark.parametrize("old_mode", [0o600, 0o640, 0o755])
def test_replaced_file_keeps_its_mode(tmp_path: Path, old_mode: int) -> None:
    path = tmp_path / "old.txt"
    path.write_text("old")
    path.chmod(old_mode)
    inode = path.stat().st_ino
    with umask(0o022):
        write_atomic(path, b"new", "a note")
    assert path.read_bytes() == b"new" and mode(path) == old_mode
    assert path.stat().st_ino != inode  # a rename: a reader never saw a half-written file
    assert temporaries(tmp_path) == []


def _fails_midway(error: BaseException) -> Callable:
    def write(fh) -> None:
        fh.write(b"half of the new ")
        fh.flush()
        raise error

    return write


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt(), SystemExit(0), ValueError("bad value"), MemoryError()],
    ids=["KeyboardInterrupt", "SystemExit", "ValueError", "MemoryError"],
)
def test_failure_midway_keeps_the_old_file_and_no_temporary(tmp_path: Path, error) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"the old file")
    path.chmod(0o600)
    with pytest.raises(type(error)):
        write_atomic(path, _fails_midway(error), "a table")
    assert path.read_bytes() == b"the old file" and mode(path) == 0o600
    assert temporaries(tmp_path) == []


def test_disk_full_is_an_explainr_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"the old file")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(ExplainrError, match=f"cannot write the table to '{path}': No space left"):
        write_atomic(path, _fails_midway(full), "the table")
    assert path.read_bytes() == b"the old file" and temporaries(tmp_path) == []


def test_a_folder_that_cannot_exist_and_a_folder_as_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ExplainrError, match="cannot write the report to"):
        write_atomic(blocker / "sub" / "report.html", "<html>", "the report")
    folder = tmp_path / "folder.html"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(ExplainrError, match="cannot write the report to"):
        write_atomic(folder, "<html>", "the report")
    assert (folder / "inside").is_dir() and temporaries(tmp_path) == []


def test_temporary_names_never_collide_with_a_users_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    for i in range(20):
        write_atomic(path, str(i), "a note")
    assert path.read_text() == "19" and sorted(os.listdir(tmp_path)) == ["out.txt"]


# -- every writer of the library goes through write_atomic --------------------------------


@pytest.fixture(scope="module")
def lstm_and_x() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(2, 4, batch_first=True)
            self.head = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.head(out[:, -1]).squeeze(-1)

    return Net().eval(), torch.randn(2, 6, 2)


def _over_an_old_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` replaces a 0600 file by a rename, keeping its mode, and leaves no temporary."""
    path.write_text("old")
    path.chmod(0o600)
    inode = path.stat().st_ino
    with umask(0o022):
        write(path)
    assert mode(path) == 0o600 and path.stat().st_ino != inode
    assert temporaries(path.parent) == []


def test_trace_save(tmp_path: Path, lstm_and_x) -> None:
    model, x = lstm_and_x
    with torch.no_grad(), explainr.record(model) as rec:
        out = model.rnn(x)[0]
    path = tmp_path / "trace.npz"
    _over_an_old_file(path, rec.trace.save)
    with np.load(path) as arrays:  # PyTorch's own output, read back
        np.testing.assert_allclose(arrays["rnn/hidden/l0/d0"], out.numpy(), atol=1e-6)
    with umask(0o077):
        assert mode(rec.trace.save(tmp_path / "private.npz")) == 0o600


def test_trace_save_interrupted_midway_keeps_the_old_file(
    tmp_path: Path, lstm_and_x, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = lstm_and_x
    with torch.no_grad(), explainr.record(model) as rec:
        model(x)
    path = tmp_path / "trace.npz"
    path.write_bytes(b"the old trace")

    def interrupted(fh, **arrays) -> None:  # numpy's writer, stopped by Ctrl-C halfway
        fh.write(b"PK half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rec.trace.save(path)
    assert path.read_bytes() == b"the old trace" and temporaries(tmp_path) == []


def test_attribution_save(tmp_path: Path, lstm_and_x) -> None:
    pytest.importorskip("scipy")
    model, x = lstm_and_x
    a = explainr.attribute(model, x, "integrated_gradients", n_steps=8)
    path = tmp_path / "ig.nc"
    _over_an_old_file(path, a.save)
    assert np.array_equal(explainr.load(path).values, a.values)


def test_report_save_and_explanation_save_html(tmp_path: Path, lstm_and_x) -> None:
    model, x = lstm_and_x
    ex = explainr.explain(model, x[:1], methods=("integrated_gradients",), n_steps=8)
    for name, write in (("report.html", ex.report().save), ("explained.html", ex.save_html)):
        path = tmp_path / name
        _over_an_old_file(path, write)
        assert path.read_text().lstrip().lower().startswith("<!doctype html")
