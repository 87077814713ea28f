"""LRP and contextual decomposition on a planted box that covers every time step.

y = sum over all steps of feature 0: the right attribution lies in feature 0's column.
(On a box of a few steps inside the window LRP does much worse: see
benchmarks/recurrent_methods.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.fixture(scope="module")
def column_model() -> tuple[nn.Module, torch.Tensor]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(256, 10, 3, generator=g)
        y = x[:, :, 0].sum(dim=1) / 10**0.5
        torch.manual_seed(0)
        model = Net()
        opt = torch.optim.Adam(model.parameters(), lr=2e-2)
        for _ in range(200):
            opt.zero_grad()
            loss = ((model(x)[:, 0] - y) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < 0.02 * y.var().item(), "the planted model did not learn the task"
        return model.eval(), torch.randn(16, 10, 3, generator=g)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("lrp", {}),
        ("lrp", {"lrp_bias": "redistributed"}),
        ("contextual_decomposition", {"group_by": "feature"}),
        ("contextual_decomposition", {"group_by": "time_feature", "window": 1}),
    ],
)
def test_mass_in_a_box_covering_every_step(column_model, method: str, kw: dict) -> None:
    model, x = column_model
    a = explainr.attribute(model, x, method, progress=False, **kw)
    mass = np.abs(a.values)
    assert mass[:, :, 0].sum() / mass.sum() > 0.6
