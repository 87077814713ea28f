"""The zoo's frame data sets, made on the fly from their card (no file, no download).

- ``moving_digits``: scikit-learn's bundled 8x8 handwritten digits (``load_digits``, 1797
  real images shipped inside scikit-learn) drifting across a larger canvas, bouncing off
  its edges; the label is the digit.
- ``planted_box``: frames of Gaussian noise whose target is the mean of the cells inside a
  known box during known steps (``card["box"]``): the right attribution is known.

Both are deterministic functions of the card's ``data`` entry (seed included), so a zoo
model's samples are the same on every machine.

>>> x, y = sequences({"generator": "planted_box", "count": 4, "steps": 5,
...     "frame_shape": [1, 6, 6], "seed": 0}, {"steps": [1, 3], "rows": [0, 2], "cols": [2, 4]})
>>> x.shape, bool(np.allclose(y, x[:, 1:3, 0, 0:2, 2:4].mean(axis=(1, 2, 3))))
((4, 5, 1, 6, 6), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError

GENERATORS = ("moving_digits", "planted_box")


def sequences(
    data: dict[str, Any], box: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The data set a card's ``data`` entry describes.

    Args:
        data: ``generator`` (one of `GENERATORS`), ``count`` sequences, ``steps`` per
            sequence, ``frame_shape`` ``[channels, height, width]`` and ``seed``.
        box: for ``planted_box``, ``{"steps": [start, stop], "rows": [...], "cols": [...]}``
            (half-open ranges).

    Returns:
        ``(x, y)``: ``x`` float32 ``(count, steps, channels, height, width)``; ``y``
        int64 class ids (digits) or float64 targets (planted box) ``(count,)``.
    """
    generator = data.get("generator")
    if generator == "moving_digits":
        return moving_digits(
            int(data["count"]), int(data["steps"]), data["frame_shape"], int(data["seed"])
        )
    if generator == "planted_box":
        if box is None:
            raise ExplainrError("a planted_box card needs a 'box' entry (steps, rows, cols)")
        return planted_box(
            int(data["count"]), int(data["steps"]), data["frame_shape"], box, int(data["seed"])
        )
    raise ExplainrError(f"unknown frame data generator {generator!r}; known: {list(GENERATORS)}")


def moving_digits(
    count: int, steps: int, frame_shape: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sequences of a real 8x8 digit moving one cell per step across the canvas.

    Each sequence takes the next digit of a seeded shuffle of ``load_digits`` (values 0..16
    scaled to 0..1), a random start and a random non-zero velocity in {-1, 0, 1}^2, and
    bounces off the canvas edges.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images.astype(np.float32) / 16.0, digits.target.astype(np.int64)
    _, height, width = (int(n) for n in frame_shape)
    size = images.shape[1]
    if height < size or width < size:
        raise ExplainrError(f"moving_digits needs a canvas of at least 8x8, got {frame_shape}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))[:count]
    x = np.zeros((len(order), steps, 1, height, width), dtype=np.float32)
    moves = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    for n, index in enumerate(order):
        row, col = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        dr, dc = moves[int(rng.integers(len(moves)))]
        for t in range(steps):
            x[n, t, 0, row : row + size, col : col + size] = images[index]
            row, dr = _bounce(row, dr, height - size)
            col, dc = _bounce(col, dc, width - size)
    return x, labels[order]


def planted_box(
    count: int, steps: int, frame_shape: list[int], box: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal frames; the target is the mean of ``x`` inside ``box``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, *(int(n) for n in frame_shape))).astype(np.float32)
    t, r, c = (slice(*box[k]) for k in ("steps", "rows", "cols"))
    y = x[:, t, :, r, c].astype(np.float64).mean(axis=(1, 2, 3, 4))
    return x, y


def _bounce(position: int, step: int, last: int) -> tuple[int, int]:
    if not 0 <= position + step <= last:
        step = -step
    return position + step, step
