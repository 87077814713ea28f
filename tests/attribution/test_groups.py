"""Groups: blocks of time, order (time block, then feature), defaults, spreading and sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explainr
from explainr.attribution._groups import default_window, make_grouping

from .conftest import Recurrent

NAMES, LABELS = ["a", "b"], [str(t) for t in range(7)]


@pytest.mark.parametrize(
    ("window", "group_by", "expected"),
    [
        (3, "time", [((0, 3), None), ((3, 6), None), ((6, 7), None)]),
        (3, "feature", [((0, 7), 0), ((0, 7), 1)]),
        (4, "time_feature", [((0, 4), 0), ((0, 4), 1), ((4, 7), 0), ((4, 7), 1)]),
    ],
)
def test_groups_in_order(window, group_by, expected) -> None:
    grouping = make_grouping(7, 2, window, group_by, NAMES, LABELS)
    assert [(g.time, g.feature) for g in grouping.groups] == expected
    for index, g in enumerate(grouping.groups):  # every cell belongs to the group covering it
        features = [g.feature] if g.feature is not None else [0, 1]
        assert (grouping.cell_group[slice(*g.time)][:, features] == index).all()


def test_spread_and_sum_are_consistent() -> None:
    grouping = make_grouping(7, 2, 3, "time_feature", NAMES, LABELS)
    group_values = np.arange(1.0, grouping.size + 1)[None]
    values = grouping.spread(group_values)
    assert values.shape == (1, 7, 2)
    np.testing.assert_allclose(grouping.sum_cells(values), group_values)
    np.testing.assert_allclose(values[0, 0:3, 0], 1 / 3)  # group 0 = 3 cells
    np.testing.assert_allclose(values[0, 6, 1], 6.0)  # the last, 1-step block


@pytest.mark.parametrize(
    ("time", "features", "group_by", "limit", "window"),
    [
        (100, 8, "time", None, 10),
        (100, 8, "time_feature", None, 10),
        (100, 8, "feature", None, 100),
        (100, 8, "time_feature", 12, 100),
        (100, 1, "time", 12, 10),
        (5, 3, "time", None, 1),
        (100, 30, "time_feature", None, 34),
    ],
)
def test_default_window(time, features, group_by, limit, window) -> None:
    assert default_window(time, features, group_by, limit) == window


def test_result_records_default_window_and_labels() -> None:
    model = Recurrent(2, 3).eval()
    a = explainr.attribute(
        model,
        torch.randn(1, 40, 2),
        "kernel_shap",
        group_by="time_feature",
        n_samples=50,
        progress=False,
    )
    assert a.window == 4 and a.group_by == "time_feature" and len(a.groups) == 20
    assert a.groups[3].label == "f1 @ 4..7"
    assert a.group_values.shape == (1, 20)
