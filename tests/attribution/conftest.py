"""Models shared by the attribution tests: closed-form, tiny random, and a trained planted task."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn


class Linear(nn.Module):
    """f(x) = sum(w * x) + c, whose attributions are known in closed form: w * (x - baseline)."""

    def __init__(self, time: int, features: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(time, features, generator=g))
        self.c = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x).sum(dim=(1, 2)) + self.c


class Recurrent(nn.Module):
    """LSTM/GRU + linear head on the last step; ``outputs`` columns."""

    def __init__(
        self,
        features: int,
        hidden: int,
        outputs: int = 1,
        kind: str = "lstm",
        layers: int = 1,
        use: str = "output",
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = cls(
            features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), outputs)
        self.use = use

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, state = self.rnn(x)
        if self.use == "output":
            last = out[:, -1]
        else:  # the top layer's final state
            h = state[0] if isinstance(state, tuple) else state
            last = (
                h[-1]
                if h.shape[0] == 1 or not self.rnn.bidirectional
                else torch.cat([h[-2], h[-1]], 1)
            )
        return self.head(last)


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread, and the machine is shared: restore after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Planted:
    """A trained LSTM whose target is the sum of a box of (time, feature) cells."""

    model: nn.Module
    x: torch.Tensor  # (16, 10, 3) test windows
    box: tuple[slice, slice]


@pytest.fixture(scope="session")
def planted() -> Planted:
    """Ismail et al. (2020)-style planted signal: y = sum of x[:, 4:8, 0:2] / 2."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_planted()
    finally:
        torch.set_num_threads(threads)


def _train_planted() -> Planted:
    g = torch.Generator().manual_seed(0)
    box = (slice(4, 8), slice(0, 2))
    x = torch.randn(1024, 10, 3, generator=g)
    y = x[:, box[0], box[1]].sum(dim=(1, 2)) / 2
    torch.manual_seed(0)
    model = Recurrent(3, 16)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 300)
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(x).squeeze(1) - y) ** 2).mean()
        loss.backward()
        opt.step()
        schedule.step()
    assert loss.item() < 0.05 * y.var().item(), "the planted model did not learn the task"
    model.eval()
    return Planted(model, torch.randn(16, 10, 3, generator=g), box)


@pytest.fixture
def tiny() -> nn.Module:
    """A random 1-layer LSTM (2 features, 4 hidden) in eval mode."""
    torch.manual_seed(1)
    return Recurrent(2, 4).eval()


@pytest.fixture
def tiny_x() -> torch.Tensor:
    return torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(2))
