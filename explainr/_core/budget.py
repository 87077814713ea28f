"""Memory estimated before a computation starts, and refused with the figure when too large.

A request like ``n_samples=10**9`` should not run for minutes and end in a `MemoryError`
(or take the machine down): each method estimates the bytes its largest arrays need from
the sizes it was given, and `check_memory` refuses up front with the estimate, the limit
and what to lower.

The limit is ``EXPLAINR_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) when set, else
half of the machine's physical memory, at most `DEFAULT_LIMIT`.
"""

from __future__ import annotations

import os

from explainr._core.errors import ExplainrValueError

DEFAULT_LIMIT = 8 * 1024**3  # bytes
ENV = "EXPLAINR_MEMORY_LIMIT"
_SUFFIX = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def memory_limit() -> int:
    """Bytes one explainr computation may plan to hold (see the module docstring)."""
    text = os.environ.get(ENV, "").strip().upper().removesuffix("B")
    if text:
        scale = _SUFFIX.get(text[-1], 1)
        number = text[:-1] if text[-1] in _SUFFIX else text
        try:
            return max(1, int(float(number) * scale))
        except ValueError:
            raise ExplainrValueError(
                f"{ENV}={os.environ[ENV]!r} is not a size; set it to bytes, e.g. 4G or 500M"
            ) from None
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform
        return DEFAULT_LIMIT
    return min(DEFAULT_LIMIT, max(256 * 1024**2, physical // 2))


def size_text(nbytes: float) -> str:
    """``nbytes`` for people: ``'1.5 GiB'``.

    >>> size_text(3 * 1024**3 // 2), size_text(2048)
    ('1.5 GiB', '2.0 KiB')
    """
    value, unit = float(nbytes), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(value) < 1024 or unit == "EiB":
            break
        value /= 1024
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"


def fits(nbytes: float) -> bool:
    """Whether ``nbytes`` stays within `memory_limit`."""
    return nbytes <= memory_limit()


def check_memory(nbytes: float, what: str, lower: str) -> None:
    """Raise an `ExplainrValueError` when ``what`` would need more than `memory_limit`.

    Args:
        nbytes: the estimate, in bytes.
        what: the computation and its sizes, e.g. ``"lime with n_samples=1000000000"``.
        lower: what to reduce, e.g. ``"pass a smaller n_samples (default 5000)"``.
    """
    limit = memory_limit()
    if nbytes > limit:
        raise ExplainrValueError(
            f"{what} would need about {size_text(nbytes)} of memory, more than explainr's "
            f"limit of {size_text(limit)}; {lower} (or raise the limit with the environment "
            f"variable {ENV}, e.g. {ENV}=32G)"
        )
