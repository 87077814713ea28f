"""Tiny models shared by the hardening tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class Tiny(nn.Module):
    """A 1-layer LSTM (2 features, 4 hidden) and a linear head on the last step."""

    def __init__(self, outputs: int = 1) -> None:
        super().__init__()
        self.rnn = nn.LSTM(2, 4, batch_first=True)
        self.head = nn.Linear(4, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny() -> nn.Module:
    torch.manual_seed(1)
    return Tiny().eval()


@pytest.fixture
def tiny_x() -> torch.Tensor:
    return torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(2))
