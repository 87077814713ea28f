"""Shared by the frame models' ``train.py``: train a zoo model on frames made from its card
(`explainr._zoo_frames`) deterministically and write ``model.safetensors`` and ``card.json``.

The sequences are independent, in the generator's seeded order: the last 20% are the test
split, the 15% before them the validation split (the epoch with the lowest validation loss
is kept), the rest train. Frames are not rescaled (pixels in 0..1, or standard normal).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import Recipe, _fit, deterministic, finish, split_counts
from torch import nn

from explainr import _zoo_frames, _zoo_models

log = logging.getLogger("explainr.models")


def train_frames(folder: Path, spec: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """Train the frame model ``spec`` describes; write its weights and card into ``folder``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    deterministic(recipe.seed)
    card = copy.deepcopy(spec)
    x_np, y_np = _zoo_frames.sequences(card["data"], card.get("box"))
    counts = split_counts(len(y_np), recipe)
    card["split"] = counts
    classify = card["task"] == "classify"
    n_train, n_val = counts["train"], counts["validation"]
    model: nn.Module = getattr(_zoo_models, card["architecture"]["class"])(
        **card["architecture"]["kwargs"]
    )
    x = torch.as_tensor(x_np)
    if classify:
        y = torch.as_tensor(y_np, dtype=torch.int64)
    else:
        y = torch.as_tensor(y_np, dtype=torch.float32)
        model.target_mean.fill_(float(y_np[:n_train].mean()))
        model.target_std.fill_(float(y_np[:n_train].std()))

    def loss_of(x_part: torch.Tensor, y_part: torch.Tensor) -> torch.Tensor:
        out = model(x_part)
        if classify:
            return F.cross_entropy(out, y_part)
        return F.mse_loss((out - y_part) / model.target_std, torch.zeros_like(y_part))

    best_epoch = _fit(model, loss_of, x, y, n_train, n_val, recipe)
    test = slice(len(y_np) - counts["test"], len(y_np))
    with torch.no_grad():
        out = model(x[test]).numpy().astype(float)
    if classify:
        majority = np.bincount(y_np[:n_train]).argmax()
        card["metrics"] = {
            "test_accuracy": float((out.argmax(1) == y_np[test]).mean()),
            "naive_majority_accuracy": float((y_np[test] == majority).mean()),
        }
    else:
        card["metrics"] = {
            "test_rmse": float(np.sqrt(np.mean((out - y_np[test]) ** 2))),
            "naive_mean_rmse": float(np.sqrt(np.mean((y_np[:n_train].mean() - y_np[test]) ** 2))),
        }
    return finish(folder, model, card, recipe, best_epoch, started)
