"""Frame inputs (batch, time, channels, height, width), patch groups and targets on a grid.

References: captum's IntegratedGradients on the 5-D model itself, the same model taking the
flattened layout, the model's own output at the pixel / region, brute-force Shapley over
patches written out cell by cell, and exact Shapley for kernel SHAP.
"""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr._core.errors import ExplainrError
from explainr.nn import ConvLSTM


class Forecaster(nn.Module):
    """ConvLSTM -> 1x1 conv: the next frame ``(batch, out_channels, H, W)``."""

    def __init__(self, channels: int = 1, hidden: int = 3, out: int = 1, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.rnn = ConvLSTM(channels, hidden, kernel_size=3)
        self.head = nn.Conv2d(hidden, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


class Classifier(nn.Module):
    """ConvLSTM -> mean over the map -> 3 class logits."""

    def __init__(self, channels: int = 2, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.rnn = ConvLSTM(channels, 3, kernel_size=3)
        self.head = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1].mean((2, 3)))


class Flat(nn.Module):
    """The same model taking each frame flattened: ``(batch, time, C*H*W)``."""

    def __init__(self, inner: nn.Module, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.inner, self.shape = inner, shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.unflatten(2, self.shape))


def test_integrated_gradients_on_frames_equals_captum_on_the_5d_model():
    from captum.attr import IntegratedGradients

    model = Classifier()
    x = torch.randn(2, 4, 2, 5, 6, generator=torch.Generator().manual_seed(0))
    a = explainr.attribute(model, x, target=2, n_steps=32)
    ref = IntegratedGradients(model).attribute(
        x, torch.zeros_like(x), target=2, n_steps=32, method="gausslegendre"
    )
    assert a.values.shape == (2, 4, 60) and a.frame_shape == [2, 5, 6]
    np.testing.assert_allclose(a.frames, ref.detach().numpy(), atol=1e-6, rtol=1e-4)
    assert a.frame_data.shape == tuple(x.shape)
    assert a.feature_names[:2] == ["ch0 (0,0)", "ch0 (0,1)"] and a.feature_names[30] == "ch1 (0,0)"


@pytest.mark.parametrize("method", ["integrated_gradients", "kernel_shap", "occlusion"])
def test_frames_and_flattened_form_give_the_same_values(method):
    model = Classifier()
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    frames = explainr.attribute(model, x, method, target=0, group_by="time")
    flat = explainr.attribute(
        Flat(model, (2, 4, 4)), x.flatten(2), method, target=0, group_by="time"
    )
    np.testing.assert_allclose(frames.values, flat.values, atol=1e-6)
    assert flat.frame_shape is None and frames.frame_shape == [2, 4, 4]


def test_one_window_of_frames_and_frame_baselines():
    model = Forecaster()
    x = torch.randn(1, 3, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    background = torch.randn(4, 3, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    a = explainr.attribute(model, x, target="mean", baselines=background)
    one = explainr.attribute(model, x, target="mean", baselines=background[0])
    with torch.no_grad():
        np.testing.assert_allclose(one.base_values, model(background[:1]).mean().item(), rtol=1e-5)
    with torch.no_grad():
        base = model(background).mean((1, 2, 3)).mean()
    np.testing.assert_allclose(a.base_values, [float(base)], rtol=1e-5)
    assert a.frames.shape == (1, 3, 1, 6, 6)


def test_targets_on_the_grid_are_the_models_own_output_there():
    model = Forecaster(channels=1, out=2)
    x = torch.randn(2, 3, 1, 6, 7, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(x)  # (2, 2, 6, 7)
    mask = np.zeros((6, 7), dtype=bool)
    mask[1:3, 4:7] = True
    cases = [
        ((1, 2, 5), out[:, 1, 2, 5], "pixel (1, 2, 5)"),
        ("mean", out.mean((1, 2, 3)), "frame mean"),
        (mask, out[:, :, 1:3, 4:7].mean((1, 2, 3)), "region of 6 cells (rows 1-2, cols 4-6)"),
        (torch.from_numpy(np.stack([mask, ~mask])), None, None),
    ]
    for target, want, label in cases:
        a = explainr.attribute(model, x, target=target)
        if want is not None:
            np.testing.assert_allclose(a.prediction, want.numpy(), rtol=1e-5, atol=1e-6)
            assert a.settings["target"] == label and a.target is None
        assert float(a.completeness_error.max()) < 0.01


def test_a_pixel_target_on_a_frame_output_of_a_3d_model():
    class Grid(nn.Module):
        def forward(self, x):  # (batch, time, 12) -> (batch, 3, 4)
            return x.sum(1).reshape(-1, 3, 4) ** 2

    x = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(5))
    a = explainr.attribute(Grid(), x, target=(2, 1))
    np.testing.assert_allclose(a.prediction, (x.sum(1)[:, 9] ** 2).numpy(), rtol=1e-6)
    assert a.frame_shape is None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ((9, 0), "outside the output frame"),
        ((0, 0, 0, 0), "(row, col) or (channel, row, col)"),
        ("median", "forecasts a frame pass target=(row, col), a boolean mask or 'mean'"),
        (np.zeros((6, 6), dtype=bool), "at least one cell set"),
        (np.ones((5, 6), dtype=bool), "must be (height, width)"),
    ],
)
def test_bad_grid_targets_raise(target, message):
    x = torch.randn(1, 2, 1, 6, 6)
    with pytest.raises(ExplainrError, match=message.replace("(", r"\(").replace(")", r"\)")):
        explainr.attribute(Forecaster(), x, target=target)


def test_frames_to_a_model_that_takes_features_say_so():
    from explainr._core.errors import ModelError

    lstm = nn.LSTM(3, 4, batch_first=True)
    with pytest.raises(ModelError, match=r"failed on frames of shape \(1, 2, 1, 1, 3\)"):
        explainr.attribute(lstm, torch.randn(1, 2, 1, 1, 3), target=0)


def test_grid_target_on_a_model_with_output_columns_raises():
    with pytest.raises(ExplainrError, match="picks a place on an output frame"):
        explainr.attribute(Classifier(), torch.randn(1, 2, 2, 4, 4), target=(0, 0))


def test_patch_errors():
    x = torch.randn(1, 2, 1, 4, 4)
    with pytest.raises(ExplainrError, match="patch=5 is larger than the frame"):
        explainr.attribute(Forecaster(), x, "kernel_shap", target="mean", patch=5)
    with pytest.raises(ExplainrError, match="patch must be a positive int"):
        explainr.attribute(Forecaster(), x, "kernel_shap", target="mean", patch=0)
    with pytest.raises(ExplainrError, match="not one for frames"):
        explainr.attribute(Forecaster(), x, "kernel_shap", target="mean", group_by="pixels")
    with pytest.raises(ExplainrError, match="groups cells of frames"):
        explainr.attribute(Flat(Classifier(1), (1, 1, 3)), torch.randn(1, 4, 3), target=0, patch=2)
    with pytest.raises(ExplainrError, match="baselines has shape"):
        explainr.attribute(Forecaster(), x, target="mean", baselines=torch.zeros(2, 1, 4, 5))


def _cells(t, c, rows, cols, shape):
    """Flat feature indices of the cells (t, c, rows x cols) of frames ``shape`` (C, H, W)."""
    _, h, w = shape
    return [(tt, cc * h * w + r * w + col) for tt in t for cc in c for r in rows for col in cols]


# (group_by, window, patch, frame shape (C, H, W), steps, groups written out by hand)
GROUPINGS = [
    (
        "patch",
        None,
        2,
        (1, 3, 4),
        2,
        [
            _cells(range(2), [0], range(0, 2), range(0, 2), (1, 3, 4)),
            _cells(range(2), [0], range(0, 2), range(2, 4), (1, 3, 4)),
            _cells(range(2), [0], [2], range(0, 2), (1, 3, 4)),
            _cells(range(2), [0], [2], range(2, 4), (1, 3, 4)),
        ],
    ),
    (
        "time_patch",
        1,
        3,
        (2, 3, 3),
        2,
        [
            _cells([0], [0, 1], range(3), range(3), (2, 3, 3)),
            _cells([1], [0, 1], range(3), range(3), (2, 3, 3)),
        ],
    ),
    (
        "channel_patch",
        None,
        3,
        (2, 3, 3),
        2,
        [
            _cells(range(2), [0], range(3), range(3), (2, 3, 3)),
            _cells(range(2), [1], range(3), range(3), (2, 3, 3)),
        ],
    ),
    (
        "time_channel_patch",
        2,
        2,
        (2, 2, 2),
        3,
        [
            _cells(range(0, 2), [0], range(2), range(2), (2, 2, 2)),
            _cells(range(0, 2), [1], range(2), range(2), (2, 2, 2)),
            _cells([2], [0], range(2), range(2), (2, 2, 2)),
            _cells([2], [1], range(2), range(2), (2, 2, 2)),
        ],
    ),
    (
        "time",
        2,
        None,
        (1, 2, 2),
        3,
        [
            _cells(range(0, 2), [0], range(2), range(2), (1, 2, 2)),
            _cells([2], [0], range(2), range(2), (1, 2, 2)),
        ],
    ),
]


@pytest.mark.parametrize(("group_by", "window", "patch", "shape", "steps", "groups"), GROUPINGS)
def test_patch_groups_hold_the_cells_written_out_by_hand(
    group_by, window, patch, shape, steps, groups
):
    from explainr._core.frames import Frame
    from explainr.attribution._patches import make_patch_grouping

    frame = Frame(*shape)
    grouping = make_patch_grouping(
        frame, steps, window, group_by, patch, [str(t) for t in range(steps)]
    )
    assert grouping.size == len(groups)
    for g, members in enumerate(groups):
        got = sorted(zip(*np.nonzero(grouping.cell_group == g), strict=True))
        assert got == sorted(members), grouping.groups[g].label


def brute_force(model, x, baseline, masks):
    """Shapley values of groups given as boolean masks of the window, by definition."""
    n = len(masks)

    def worth(coalition):
        keep = torch.zeros_like(x, dtype=torch.bool)
        for g in coalition:
            keep |= masks[g]
        with torch.no_grad():
            return float(model(torch.where(keep, x, baseline)[None]).reshape(-1)[0])

    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for s in itertools.combinations(others, size):
                phi[i] += weight * (worth((*s, i)) - worth(s))
    return phi


def test_exact_shapley_on_patches_equals_brute_force_over_the_squares():
    model = Forecaster(channels=2, hidden=2, out=1, seed=6)
    x = torch.randn(3, 2, 6, 6, generator=torch.Generator().manual_seed(7))
    a = explainr.attribute(
        model, x[None], "exact_shapley", target=(2, 3), group_by="patch", patch=3
    )
    masks = []
    for r, c in itertools.product((0, 3), (0, 3)):
        m = torch.zeros_like(x, dtype=torch.bool)
        m[:, :, r : r + 3, c : c + 3] = True
        masks.append(m)
    ref = brute_force(lambda z: model(z)[:, 0, 2, 3], x, torch.zeros_like(x), masks)
    np.testing.assert_allclose(a.group_values[0], ref, atol=1e-5)
    assert [g.label for g in a.groups][:2] == ["rows 0-2, cols 0-2", "rows 0-2, cols 3-5"]
    assert a.frames[0, :, :, :3, :3].sum() == pytest.approx(ref[0], abs=1e-5)


def test_kernel_shap_within_2_percent_of_exact_on_16_patches_and_both_sum_to_the_change():
    model = Forecaster(channels=1, hidden=2, out=1, seed=8)
    x = torch.rand(1, 2, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    kwargs = {"target": (4, 4), "group_by": "patch", "patch": 2}
    exact = explainr.attribute(model, x, "exact_shapley", **kwargs)
    kernel = explainr.attribute(model, x, "kernel_shap", **kwargs)
    assert exact.settings["groups"] == kernel.settings["groups"] == 16
    error = np.linalg.norm(kernel.group_values - exact.group_values) / np.linalg.norm(
        exact.group_values
    )
    assert error < 0.02, error
    for a in (exact, kernel):
        change = a.prediction - a.base_values
        np.testing.assert_allclose(
            a.group_values.sum(1), change, atol=1e-6 * max(1, abs(change[0]))
        )
