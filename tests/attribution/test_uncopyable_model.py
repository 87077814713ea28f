"""A model that cannot be deep-copied (as some libraries' trained models cannot) gets a clear
ExplainrError from the methods that run a float64 copy, and explain() still reports."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr


class Uncopyable(nn.Module):
    """An LSTM forecaster that keeps a tensor of an autograd graph, like a trained library
    model keeping its last loss: ``copy.deepcopy`` refuses it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.LSTM(2, 4, batch_first=True)
        self.head = nn.Linear(4, 1)
        self.last_loss = self.head.weight.sum() * 2  # not a graph leaf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def test_memory_and_lrp_refuse_clearly() -> None:
    x = torch.randn(1, 6, 2)
    with pytest.raises(explainr.ExplainrError, match="cannot be copied"):
        explainr.memory(Uncopyable(), x)
    with pytest.raises(explainr.ExplainrError, match="cannot be copied"):
        explainr.attribute(Uncopyable(), x, "lrp")


def test_explain_reports_without_the_memory_section() -> None:
    ex = explainr.explain(Uncopyable(), torch.randn(1, 6, 2), ("occlusion",), metrics=False)
    assert "occlusion" in ex.attributions
