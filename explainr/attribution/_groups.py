"""Groups of input cells that perturbation methods switch on and off together.

``window=k`` cuts time into consecutive blocks of k steps (the last may be shorter).
``group_by`` says what a group covers: ``"time"`` a block over all features, ``"feature"``
one feature over the whole window, ``"time_feature"`` one feature within one block.
Groups are ordered by time block, then feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainr._core.errors import ExplainrError
from explainr.attribution._result import Group

GROUP_BY = ("time", "feature", "time_feature")
TIME_BLOCKS = 10  # default number of time blocks
MAX_DEFAULT_GROUPS = 100  # default windows keep time_feature groups at or under this


@dataclass(frozen=True)
class Grouping:
    """The groups of one ``(time, feature)`` window and the group of every cell."""

    groups: list[Group]
    cell_group: np.ndarray  # (time, feature) int: index of the group holding each cell
    window: int
    group_by: str

    @property
    def size(self) -> int:
        """Number of groups."""
        return len(self.groups)

    @property
    def cells(self) -> np.ndarray:
        """``(groups,)``: number of cells in each group."""
        return np.bincount(self.cell_group.ravel(), minlength=self.size)

    def spread(self, group_values: np.ndarray) -> np.ndarray:
        """``(batch, groups)`` -> ``(batch, time, feature)``, each value shared evenly by its cells."""
        return (group_values / self.cells)[:, self.cell_group]

    def sum_cells(self, values: np.ndarray) -> np.ndarray:
        """``(batch, time, feature)`` -> ``(batch, groups)``: the values summed within each group."""
        flat = values.reshape(len(values), -1)
        out = np.zeros((len(values), self.size), dtype=np.float64)
        np.add.at(out.T, self.cell_group.ravel(), flat.T)
        return out


def default_window(time: int, features: int, group_by: str, max_groups: int | None) -> int:
    """A block length that keeps the number of groups moderate.

    About `TIME_BLOCKS` blocks; fewer for ``"time_feature"`` so that blocks x features stays
    under ``max_groups`` (or `MAX_DEFAULT_GROUPS`); the whole window for ``"feature"``.
    """
    if group_by == "feature":
        return time
    limit = max_groups if max_groups is not None else MAX_DEFAULT_GROUPS
    per_block = features if group_by == "time_feature" else 1
    blocks = max(1, min(TIME_BLOCKS, time, limit // per_block))
    return math.ceil(time / blocks)


def make_grouping(
    time: int,
    features: int,
    window: int | None,
    group_by: str,
    feature_names: list[str],
    time_labels: list[str],
    max_groups: int | None = None,
) -> Grouping:
    """Groups for a ``(time, feature)`` window; checks ``window`` and ``group_by``."""
    if group_by not in GROUP_BY:
        raise ExplainrError(f"group_by={group_by!r} is not one of {list(GROUP_BY)}")
    if window is None:
        window = default_window(time, features, group_by, max_groups)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ExplainrError(f"window must be a positive int (time steps per block), got {window!r}")
    if window > time:
        raise ExplainrError(
            f"window={window} is longer than the input's {time} time steps; pass window <= "
            f"{time} (or window=None for a default)"
        )
    window = time if group_by == "feature" else int(window)
    groups: list[Group] = []
    cell_group = np.zeros((time, features), dtype=np.int64)
    for start in range(0, time, window):
        stop = min(start + window, time)
        span = _span(time_labels, start, stop)
        if group_by == "time":
            cell_group[start:stop, :] = len(groups)
            groups.append(Group((start, stop), None, span))
            continue
        for f, name in enumerate(feature_names):
            cell_group[start:stop, f] = len(groups)
            label = name if group_by == "feature" else f"{name} @ {span}"
            groups.append(Group((start, stop), f, label))
    return Grouping(groups, cell_group, window, group_by)


def _span(labels: list[str], start: int, stop: int) -> str:
    return labels[start] if stop - start == 1 else f"{labels[start]}..{labels[stop - 1]}"
