"""Frames and grids: inputs ``(batch, time, channels, height, width)`` and targets on a grid.

Every attribution method works on windows ``(batch, time, feature)``. A window of frames is
the same thing with each step's ``channels x height x width`` cells laid out as features
(channel, then row, then column: ``x.flatten(2)``); `FrameInput` puts the frames back
together before the user's model sees them, so the model always gets the layout it was
built for and gradients flow through the reshape unchanged.

A model that forecasts a frame (output ``(batch, channels, height, width)`` or ``(batch,
height, width)``) is explained for one number per window chosen by ``target``: a pixel
``(row, col)`` or ``(channel, row, col)``, a region (a boolean mask ``(height, width)`` or
``(channels, height, width)``: the mean over it) or ``"mean"`` (the frame's mean).
`GridTarget` does that reduction.

>>> import torch
>>> from explainr._core.frames import adapt
>>> class Next(torch.nn.Module):  # the next frame = the last frame, doubled
...     def forward(self, x):
...         return 2 * x[:, -1]
>>> a = adapt(Next(), torch.ones(2, 3, 1, 4, 5), None, (1, 2))
>>> a.x.shape, a.frame.shape, a.target_label, a.model(a.x).shape
(torch.Size([2, 3, 20]), (1, 4, 5), 'pixel (1, 2)', torch.Size([2]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from explainr._core.errors import ExplainrError, ModelError, first_line


@dataclass(frozen=True)
class Frame:
    """The shape of one step of a frame input: ``channels x height x width`` cells."""

    channels: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)``."""
        return (self.channels, self.height, self.width)

    @property
    def size(self) -> int:
        """Cells per frame: the feature count of the flattened window."""
        return self.channels * self.height * self.width

    def names(self) -> list[str]:
        """One name per cell in ``x.flatten(2)`` order: ``"(row,col)"``, or ``"ch1 (row,col)"``
        when there are several channels."""
        cells = [f"({r},{c})" for r in range(self.height) for c in range(self.width)]
        if self.channels == 1:
            return cells
        return [f"ch{k} {cell}" for k in range(self.channels) for cell in cells]


def frame_of(model: Any) -> Frame | None:
    """The `Frame` a model prepared by `adapt` takes, or None for a plain model."""
    return model.frame if isinstance(model, FrameInput) else None


def target_label_of(model: Any) -> str | None:
    """The readable grid target of a model prepared by `adapt` (``"pixel (3, 5)"``), or None."""
    while isinstance(model, FrameInput | GridTarget):
        if isinstance(model, GridTarget):
            return model.label
        model = model.model
    return None


def as_frames(x: Any, one_window: bool = False) -> Tensor | None:
    """``x`` as a float tensor ``(batch, time, channels, height, width)``, or None if it is
    not frames (another rank, a DataFrame, ...).

    With ``one_window`` a 4-D ``(time, channels, height, width)`` is one window (baselines);
    inputs ``x`` must be 5-D, since a 4-D ``x`` is more often a mistake than one window.
    """
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.number):
        x = torch.from_numpy(np.ascontiguousarray(x))
    ranks = (4, 5) if one_window else (5,)
    if not isinstance(x, Tensor) or x.ndim not in ranks or x.is_complex():
        if isinstance(x, Tensor) and x.ndim > 5:
            raise ExplainrError(
                f"x has shape {tuple(x.shape)}; frames are (batch, time, channels, height, width)"
            )
        return None
    x = x.detach()
    x = x if x.is_floating_point() else x.float()
    return x.unsqueeze(0) if x.ndim == 4 else x


class FrameInput(nn.Module):
    """The user's model on flattened windows: ``(rows, time, C*H*W)`` -> ``model(frames)``."""

    def __init__(self, model: nn.Module, frame: Frame) -> None:
        super().__init__()
        self.model = model
        self.frame = frame

    def forward(self, x: Tensor) -> Any:
        """Put the frames back together and call the model on ``(rows, time, C, H, W)``."""
        frames = x.unflatten(2, self.frame.shape)
        try:
            return self.model(frames)
        except ExplainrError:
            raise
        except Exception as error:
            raise ModelError(
                f"the model failed on frames of shape {tuple(frames.shape)} (batch, time, "
                f"channels, height, width): {first_line(error)}. Check that the "
                "model takes frames in this layout (batch first), or pass (batch, time, "
                "feature) windows to a model that takes those"
            ) from error


def is_grid_target(target: Any) -> bool:
    """Whether ``target`` names a place on an output grid rather than an output column."""
    if isinstance(target, str):
        return target == "mean"
    if isinstance(target, tuple | list):
        return True
    if isinstance(target, np.ndarray | Tensor):
        return target.dtype in (np.bool_, torch.bool)
    return False


class GridTarget(nn.Module):
    """The user's model reduced to one number per window at a place of its output frame."""

    def __init__(self, model: nn.Module, target: Any) -> None:
        super().__init__()
        self.model = model
        self.target = target
        self.label = target_label(target)

    def forward(self, x: Any) -> Tensor:
        """``(rows,)``: the model's output frame at the target (pixel, region mean, mean)."""
        out = self.model(x)
        if isinstance(out, tuple | list) and out:
            out = out[0]
        if not isinstance(out, Tensor) or out.ndim not in (3, 4):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ExplainrError(
                f"target={self.label!r} picks a place on an output frame, but the model "
                f"returned {shape}; a frame target needs an output (batch, channels, height, "
                "width) or (batch, height, width); for a model with output columns pass "
                "target=<int>"
            )
        frames = out if out.ndim == 4 else out.unsqueeze(1)
        return _reduce(frames, self.target, self.label)


def _reduce(frames: Tensor, target: Any, label: str) -> Tensor:
    """``frames`` ``(rows, C, H, W)`` -> ``(rows,)`` at ``target``."""
    shape = tuple(frames.shape[1:])
    if isinstance(target, str):
        if target != "mean":
            raise ExplainrError(
                f"target={target!r}: the only named frame target is 'mean' (the mean over "
                "the output frame); pass (row, col), (channel, row, col) or a boolean mask"
            )
        return frames.flatten(1).mean(1)
    if isinstance(target, tuple | list):
        index = [int(i) for i in target] if _all_ints(target) else None
        if index is None or len(index) not in (2, 3):
            raise ExplainrError(
                f"target={target!r}: a pixel target is (row, col) or (channel, row, col) ints"
            )
        if len(index) == 2:
            if shape[0] != 1:
                raise ExplainrError(
                    f"target={tuple(index)} names a pixel but the output frame has {shape[0]} "
                    f"channels {shape}; pass (channel, row, col)"
                )
            index = [0, *index]
        if not all(0 <= i < n for i, n in zip(index, shape, strict=True)):
            raise ExplainrError(
                f"target={tuple(target)} is outside the output frame (channels, height, "
                f"width) = {shape}"
            )
        c, r, col = index
        return frames[:, c, r, col]
    mask = torch.as_tensor(np.asarray(target.cpu() if isinstance(target, Tensor) else target))
    if tuple(mask.shape) == shape[1:]:
        mask = mask.expand(shape)
    if tuple(mask.shape) != shape or not bool(mask.any()):
        raise ExplainrError(
            f"target is a boolean mask of shape {tuple(mask.shape)} with {int(mask.sum())} "
            f"cells set; it must be (height, width) = {shape[1:]} or (channels, height, width)"
            f" = {shape} with at least one cell set ({label})"
        )
    mask = mask.to(frames.device)
    return (frames * mask).flatten(1).sum(1) / mask.sum()


def _all_ints(items: Any) -> bool:
    return all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in items)


def target_label(target: Any) -> str:
    """A readable name of a grid target: ``"pixel (3, 5)"``, ``"region of 6 cells (...)"``."""
    if isinstance(target, str):
        return "frame mean" if target == "mean" else target
    if isinstance(target, tuple | list):
        return f"pixel {tuple(int(i) if _all_ints([i]) else i for i in target)}"
    mask = np.asarray(target.cpu() if isinstance(target, Tensor) else target)
    if mask.ndim < 2 or not mask.any():
        return f"region of {int(mask.sum())} cells"
    rows = np.flatnonzero(mask.reshape(-1, *mask.shape[-2:]).any(axis=(0, 2)))
    cols = np.flatnonzero(mask.reshape(-1, *mask.shape[-2:]).any(axis=(0, 1)))
    return (
        f"region of {int(mask.sum())} cells (rows {rows[0]}-{rows[-1]}, cols {cols[0]}-{cols[-1]})"
    )


@dataclass(frozen=True)
class Adapted:
    """A model and its inputs in the flat layout every method takes.

    ``x`` is ``(batch, time, feature)`` (frames flattened), ``baselines`` likewise (or as
    given: None or a number), ``target`` what is left for an output column (None for a
    grid target), ``frame`` the frame shape or None, ``target_label`` a readable grid target.
    """

    model: nn.Module
    x: Any
    baselines: Any
    target: Any
    frame: Frame | None
    target_label: str | None


def adapt(model: nn.Module, x: Any, baselines: Any, target: Any) -> Adapted:
    """Wrap ``model`` for frame inputs and grid targets; flatten ``x`` and ``baselines``.

    Args:
        model: the user's model.
        x: ``(batch, time, channels, height, width)`` frames, or anything
            `explainr._core.inputs.to_inputs` takes (left as it is).
        baselines: None, a number, one window of frames or a background set ``(n, time,
            channels, height, width)`` (for frame inputs), else as `to_baselines` takes.
        target: an output column, or a grid target (see the module docstring).

    Returns:
        An `Adapted`; plain inputs and column targets come back unchanged.
    """
    label = None
    if is_grid_target(target):
        model = GridTarget(model, target)
        label, target = model.label, None
    frames = as_frames(x)
    if frames is None:
        return Adapted(model, x, baselines, target, None, label)
    frame = Frame(*(int(n) for n in frames.shape[2:]))
    if 0 in frames.shape:
        raise ExplainrError(
            f"x has shape {tuple(frames.shape)} (batch, time, channels, height, width): "
            "nothing to explain; pass at least one window with one step of a non-empty frame"
        )
    return Adapted(
        FrameInput(model, frame),
        frames.flatten(2),
        _flat_baselines(baselines, frames.shape[1:]),
        target,
        frame,
        label,
    )


def _flat_baselines(baselines: Any, window: tuple[int, ...]) -> Any:
    """Frame baselines ``(time, C, H, W)`` or ``(n, time, C, H, W)`` flattened to features."""
    if baselines is None or isinstance(baselines, int | float):
        return baselines
    tensor = as_frames(baselines, one_window=True)
    if tensor is None or tuple(tensor.shape[1:]) != tuple(window):
        shape = tuple(getattr(baselines, "shape", ())) or type(baselines).__name__
        raise ExplainrError(
            f"baselines has shape {shape} but the windows are (time, channels, height, width)"
            f" = {tuple(window)}; pass one window of that shape, a background set (n, "
            f"{', '.join(str(n) for n in window)}), a number, or None for zeros"
        )
    return tensor.flatten(2)
