"""Atomic file writing: the one place explainr writes a user's output file."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from explainr._core.errors import ExplainrError

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


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
        tmp = None
        try:
            # the name is known before the file exists, so an interrupt (Ctrl-C, SIGTERM turned
            # into an exception) at any point, even right after creating it, removes it
            for _ in range(100):
                tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
                    break
                except FileExistsError:
                    tmp = None  # someone else's file: never removed below
            else:
                raise FileExistsError(f"no free temporary name in {path.parent}")
            with os.fdopen(fd, "wb") as fh:
                if callable(content):
                    content(fh)
                else:
                    fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
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
