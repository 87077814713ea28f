"""Small seeded models and data for the dataset tests (importable by Dask workers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from explainr._zoo_models import Forecaster


def model(cell: str = "lstm", features: int = 3, hidden: int = 6, layers: int = 1) -> Forecaster:
    torch.manual_seed(0)
    m = Forecaster(features, hidden, num_layers=layers, cell=cell)
    with torch.no_grad():  # larger weights: gates away from 0.5, some saturated
        for p in m.rnn.parameters():
            p.mul_(4.0)
    return m


def windows(n: int = 10, steps: int = 8, features: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, steps, features, generator=torch.Generator().manual_seed(seed))


def frame(rows: int = 40, features: int = 3, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.normal(size=(rows, features)),
        columns=[f"c{i}" for i in range(features)],
        index=pd.date_range("2001-01-01", periods=rows, freq="D"),
    )


class Slow(Forecaster):
    """`model()` that sleeps in every forward: a run long enough to be killed half-way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(0.01)
        return super().forward(x)


def slow() -> Slow:
    torch.manual_seed(0)
    m = Slow(3, 6)
    m.load_state_dict(model().state_dict())
    return m
