"""Shared by ``models/*/train.py``: train one zoo model deterministically and write its
``model.safetensors`` and ``card.json``.

The samples are every window of the model's CSV in time order (`explainr.zoo.cut_samples`);
the last 20% are the test split, the 15% before them the validation split (the epoch with
the lowest validation loss is kept), the rest train. Scaling is fitted on the rows the
training windows cover.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from explainr import ExplainrError, _zoo_models
from explainr.zoo import cut_samples, models_dir, read_data

log = logging.getLogger("explainr.models")


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser settings, seed, split fractions and input scaling.

    ``scaling`` is ``"standard"`` (per-feature mean and std of the training rows) or
    ``"none"`` (mean 0, std 1: for inputs already in a fixed range, such as pixels).
    """

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 0.0
    seed: int = 0
    test: float = 0.2
    validation: float = 0.15
    scaling: str = "standard"


def deterministic(seed: int) -> None:
    """Seed every generator, one thread, deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def split_counts(n: int, recipe: Recipe) -> dict[str, int]:
    """Sizes of the train, validation and test splits of ``n`` samples in time order."""
    test = round(recipe.test * n)
    validation = round(recipe.validation * (n - test))
    return {"train": n - test - validation, "validation": validation, "test": test}


def fit_scaling(frame: pd.DataFrame, features: list[str], rows: int, method: str) -> dict[str, Any]:
    """The card's ``scaling``: per-feature mean and std (ddof 0) of the first ``rows`` rows."""
    values = frame[features].to_numpy(dtype=float)[:rows]
    if method == "none":
        mean, std = np.zeros(len(features)), np.ones(len(features))
    else:
        mean, std = values.mean(axis=0), values.std(axis=0)
        if (std == 0).any():
            constant = [f for f, s in zip(features, std, strict=True) if s == 0]
            raise ExplainrError(f"features {constant} are constant in the training rows")
    return {
        "method": method,
        "fit_rows": [0, rows],
        "mean": mean.tolist(),
        "std": std.tolist(),
    }


def train_and_save(folder: Path, spec: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """Train the model ``spec`` describes; write its weights and card into ``folder``.

    Args:
        folder: ``models/<name>/``.
        spec: the card without ``split``, ``scaling``, ``metrics`` and ``trained_with``.
        recipe: how to train.

    Returns:
        The card written.
    """
    started = time.perf_counter()
    deterministic(recipe.seed)
    card = copy.deepcopy(spec)
    frame = read_data(models_dir() / card["data"]["file"], card["data"]["time_column"])
    classify = card["task"] == "classify"

    _, raw_y, ends = cut_samples(frame, {**card, "task": "forecast"})
    counts = split_counts(len(raw_y), recipe)
    n_train, n_val = counts["train"], counts["validation"]
    if classify:
        card["data"]["threshold"] = float(np.median(raw_y[:n_train]))
    x, y, ends = cut_samples(frame, card)
    card["split"] = counts
    scaling = fit_scaling(
        frame, card["data"]["features"], int(ends[n_train - 1]) + 1, recipe.scaling
    )
    x = (x - np.array(scaling["mean"])) / np.array(scaling["std"])
    if not classify:
        scaling["target_mean"] = float(y[:n_train].mean())
        scaling["target_std"] = float(y[:n_train].std())
    card["scaling"] = scaling
    x = torch.as_tensor(x, dtype=torch.float32)
    y_units = y  # float64 (or class ids), for the metrics
    y = torch.as_tensor(y, dtype=torch.int64 if classify else torch.float32)

    model: nn.Module = getattr(_zoo_models, card["architecture"]["class"])(
        **card["architecture"]["kwargs"]
    )
    if not classify:
        model.target_mean.fill_(scaling["target_mean"])
        model.target_std.fill_(scaling["target_std"])

    def loss_of(x_part: torch.Tensor, y_part: torch.Tensor) -> torch.Tensor:
        out = model(x_part)
        if classify:
            return F.cross_entropy(out, y_part)
        return F.mse_loss((out - y_part) / model.target_std, torch.zeros_like(y_part))

    best_epoch = _fit(model, loss_of, x, y, n_train, n_val, recipe)
    card["metrics"] = _metrics(model, frame, card, x, y_units, ends, counts)
    return finish(folder, model, card, recipe, best_epoch, started)


def finish(
    folder: Path,
    model: nn.Module,
    card: dict[str, Any],
    recipe: Recipe,
    best_epoch: int,
    started: float,
) -> dict[str, Any]:
    """Record how the model was trained in its card, write both, log the metrics."""
    card["trained_with"] = {
        "torch": torch.__version__,
        "seed": recipe.seed,
        **{
            k: v
            for k, v in asdict(recipe).items()
            if k not in ("seed", "test", "validation", "scaling")
        },
        "best_epoch": best_epoch,
    }
    _write(folder, model, card)
    log.info(
        "%s: %s in %.1f s", card["name"], json.dumps(card["metrics"]), time.perf_counter() - started
    )
    return card


def _fit(
    model: nn.Module,
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    n_train: int,
    n_val: int,
    recipe: Recipe,
) -> int:
    """Adam over shuffled mini-batches; keeps the weights of the best validation epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    order = torch.Generator().manual_seed(recipe.seed)
    x_val, y_val = x[n_train : n_train + n_val], y[n_train : n_train + n_val]
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        for batch in torch.randperm(n_train, generator=order).split(recipe.batch_size):
            opt.zero_grad()
            loss = loss_of(x[batch], y[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        model.eval()
        with torch.no_grad():
            val = loss_of(x_val, y_val).item()
        log.debug("epoch %d: validation loss %.4f", epoch, val)
        if val < best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    model.eval()
    return best[1]


def _metrics(
    model: nn.Module,
    frame: pd.DataFrame,
    card: dict[str, Any],
    x: torch.Tensor,
    y: np.ndarray,
    ends: np.ndarray,
    counts: dict[str, int],
) -> dict[str, float]:
    """Test metric next to the naive baselines, in the target's original units (float64)."""
    test = slice(len(y) - counts["test"], len(y))
    with torch.no_grad():
        out = model(x[test]).numpy().astype(float)
    horizon = int(card.get("horizon", 1))
    last_value = frame[card["data"]["target"]].to_numpy(dtype=float)[ends[test] + horizon - 1]
    y_test = y[test]
    if card["task"] == "classify":
        majority = np.bincount(y[: counts["train"]]).argmax()
        return {
            "test_accuracy": float((out.argmax(1) == y_test).mean()),
            "naive_majority_accuracy": float((y_test == majority).mean()),
            "naive_last_value_accuracy": float(
                ((last_value > card["data"]["threshold"]) == y_test).mean()
            ),
        }
    return {
        "test_rmse": float(np.sqrt(np.mean((out - y_test) ** 2))),
        "naive_last_value_rmse": float(np.sqrt(np.mean((last_value - y_test) ** 2))),
    }


def _write(folder: Path, model: nn.Module, card: dict[str, Any]) -> None:
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, folder / "model.safetensors", metadata={"name": card["name"]})
    (folder / "card.json").write_text(dumps(card) + "\n")


def dumps(card: dict[str, Any]) -> str:
    """JSON with two-space indents, lists of numbers and names kept on one line."""
    text = json.dumps(card, indent=2)
    return re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m[1]) + "]", text
    )


def main(folder: Path, spec: dict[str, Any], recipe: Recipe) -> None:
    """Entry point of a train.py: log to stderr and train."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train_and_save(folder, spec, recipe)
