"""Atomic file writing: the one place explainr writes a user's output file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from explainr._core.errors import ExplainrError


def write_atomic(
    path: str | os.PathLike[str], content: str | bytes | Callable[[IO[bytes]], None], what: str
) -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder.

    A reader never sees a half-written file, and an existing file survives a failed write.
    The new file gets the mode the user's umask gives a new file, or the mode of the file it
    replaces. Missing parent folders are created.

    Args:
        path: where to write.
        content: text (UTF-8), bytes, or a function that writes into a binary file object.
        what: what is written, for the error message (e.g. ``"the report"``).

    Returns:
        The path written.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(p, "hello", "a note").read_text()
    'hello'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = _mode_for(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                if callable(content):
                    content(fh)
                else:
                    fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
    except OSError as e:
        raise ExplainrError(
            f"cannot write {what} to {str(path)!r}: {e.strerror or e}; "
            "choose a folder you can write to"
        ) from e
    return path


def _mode_for(path: Path) -> int:
    """The existing file's permission bits, else 0o666 less the process umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
