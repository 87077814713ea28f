"""Gradient methods on models they cannot differentiate: a clear ExplainrError, nothing left changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError


class Detached(nn.Module):
    """An LSTM whose head cuts the graph: gradients cannot reach the input."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1].detach()).squeeze(-1)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_shap"])
def test_non_differentiable_model_is_an_explainr_error(method: str) -> None:
    model = Detached()
    flags = [p.requires_grad for p in model.parameters()]
    with pytest.raises(ExplainrError, match="not differentiable"):
        explainr.attribute(model, torch.randn(2, 5, 3), method=method, progress=False)
    assert [p.requires_grad for p in model.parameters()] == flags
    a = explainr.attribute(model, torch.randn(2, 5, 3), method="occlusion", progress=False)
    assert a.values.shape == (2, 5, 3)  # perturbation methods still work


def test_inference_mode_is_an_explainr_error_for_gradients() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(15, 1))
    with torch.inference_mode(), pytest.raises(ExplainrError, match="inference_mode"):
        explainr.attribute(model, torch.randn(2, 5, 3), progress=False)
