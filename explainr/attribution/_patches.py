"""Groups of a window of frames: square patches of cells, alone or with time blocks and channels.

A frame input's features are its ``channels x height x width`` cells (see
`explainr._core.frames`). Perturbation methods switch groups of them on and off; for frames
the groups mean something in space:

==========================  ==========================================================
``group_by``                one group is
==========================  ==========================================================
``"time"``                  one block of ``window`` steps, the whole frame
``"patch"``                 one ``patch x patch`` square, all channels, the whole window
``"time_patch"``            one square, all channels, within one block (the default)
``"channel_patch"``         one square of one channel, the whole window
``"time_channel_patch"``    one square of one channel within one block
==========================  ==========================================================

On frames ``"feature"`` means ``"patch"`` and ``"time_feature"`` ``"time_patch"`` (a
frame's "feature" is a patch); ``patch=1`` makes single pixels. Squares at the right and
bottom edges may be smaller. Groups are ordered by time block, then channel, then patch
row, then patch column; labels read ``"rows 0-3, cols 4-7 @ 2..3"``.
"""

from __future__ import annotations

import math

import numpy as np

from explainr._core.errors import ExplainrError
from explainr._core.frames import Frame
from explainr.attribution._groups import MAX_DEFAULT_GROUPS, TIME_BLOCKS, Grouping
from explainr.attribution._result import Group

PATCH_GROUP_BY = ("time", "patch", "time_patch", "channel_patch", "time_channel_patch")
ALIASES = {"feature": "patch", "time_feature": "time_patch"}
PATCHES_PER_SIDE = 4  # the default patch cuts the longer side into about this many squares


def default_patch(frame: Frame) -> int:
    """A patch side giving about 4 x 4 squares per frame."""
    return max(1, math.ceil(max(frame.height, frame.width) / PATCHES_PER_SIDE))


def make_patch_grouping(
    frame: Frame,
    time: int,
    window: int | None,
    group_by: str,
    patch: int | None,
    time_labels: list[str],
    max_groups: int | None = None,
) -> Grouping:
    """Groups of a ``(time, channels*height*width)`` window of frames (see the module doc).

    Args:
        frame: the frame shape.
        time: steps of the window.
        window: steps per time block (None: about `TIME_BLOCKS` blocks, fewer when blocks x
            squares would pass ``max_groups`` or `MAX_DEFAULT_GROUPS`).
        group_by: one of `PATCH_GROUP_BY` or an alias in `ALIASES`.
        patch: side of the squares in cells (None: `default_patch`).
        time_labels: one label per step.
        max_groups: a limit for the default window.

    Returns:
        A `Grouping` whose ``cell_group`` is ``(time, channels*height*width)``.
    """
    group_by = ALIASES.get(group_by, group_by)
    if group_by not in PATCH_GROUP_BY:
        raise ExplainrError(
            f"group_by={group_by!r} is not one for frames; choose one of "
            f"{list(PATCH_GROUP_BY)} (or 'feature' = 'patch', 'time_feature' = 'time_patch')"
        )
    patch = default_patch(frame) if patch is None else patch
    if isinstance(patch, bool) or not isinstance(patch, int | np.integer) or patch < 1:
        raise ExplainrError(f"patch must be a positive int (cells per square side), got {patch!r}")
    if patch > max(frame.height, frame.width):
        raise ExplainrError(
            f"patch={patch} is larger than the frame (height, width) = "
            f"({frame.height}, {frame.width}); pass patch <= {max(frame.height, frame.width)}"
        )
    squares = _squares(frame, int(patch))
    channels = list(range(frame.channels)) if "channel" in group_by else [None]
    per_block = len(squares) * len(channels) if group_by != "time" else 1
    window = _window(time, window, group_by, per_block, max_groups)
    cell_group = np.zeros((time, frame.channels, frame.height, frame.width), dtype=np.int64)
    groups: list[Group] = []
    for start in range(0, time, window):
        stop = min(start + window, time)
        span = _span(time_labels, start, stop)
        if group_by == "time":
            cell_group[start:stop] = len(groups)
            groups.append(Group((start, stop), None, f"frame @ {span}"))
            continue
        for channel in channels:
            for rows, cols in squares:
                cell_group[start:stop, _channel(channel), rows, cols] = len(groups)
                where = _where(rows, cols, channel, frame.channels)
                label = where if "time" not in group_by else f"{where} @ {span}"
                groups.append(Group((start, stop), None, label))
    return Grouping(groups, cell_group.reshape(time, -1), window, group_by)


def _window(time: int, window: int | None, group_by: str, per_block: int, limit: int | None) -> int:
    if "time" not in group_by:
        return time
    if window is None:
        most = limit if limit is not None else MAX_DEFAULT_GROUPS
        blocks = max(1, min(TIME_BLOCKS, time, most // per_block))
        return math.ceil(time / blocks)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ExplainrError(f"window must be a positive int (time steps per block), got {window!r}")
    if window > time:
        raise ExplainrError(
            f"window={window} is longer than the input's {time} time steps; pass window <= "
            f"{time} (or window=None for a default)"
        )
    return int(window)


def _squares(frame: Frame, patch: int) -> list[tuple[slice, slice]]:
    return [
        (slice(r, min(r + patch, frame.height)), slice(c, min(c + patch, frame.width)))
        for r in range(0, frame.height, patch)
        for c in range(0, frame.width, patch)
    ]


def _channel(channel: int | None) -> slice | int:
    return slice(None) if channel is None else channel


def _where(rows: slice, cols: slice, channel: int | None, channels: int) -> str:
    r = f"row {rows.start}" if rows.stop - rows.start == 1 else f"rows {rows.start}-{rows.stop - 1}"
    c = f"col {cols.start}" if cols.stop - cols.start == 1 else f"cols {cols.start}-{cols.stop - 1}"
    prefix = f"ch{channel} " if channel is not None and channels > 1 else ""
    return f"{prefix}{r}, {c}"


def _span(labels: list[str], start: int, stop: int) -> str:
    return labels[start] if stop - start == 1 else f"{labels[start]}..{labels[stop - 1]}"
