"""A model that samples inside forward is refused: there is no single prediction to explain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError


class Sampling(nn.Module):
    """A forecaster that returns one draw of its predictive distribution."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(2, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_std = self.head(self.rnn(x)[0][:, -1]).unbind(-1)
        return mean + log_std.exp() * torch.randn_like(mean)


class Mean(nn.Module):
    def __init__(self, inner: Sampling) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.head(self.inner.rnn(x)[0][:, -1])[:, 0]


@pytest.mark.parametrize("method", ["kernel_shap", "integrated_gradients"])
def test_sampling_model_is_refused_and_its_mean_is_explained(method: str) -> None:
    torch.manual_seed(0)
    model, x = Sampling().eval(), torch.randn(3, 6, 2)
    with pytest.raises(ExplainrError, match="different outputs for the same input"):
        explainr.attribute(model, x, method, progress=False)
    a = explainr.attribute(Mean(model), x, method, n_samples=200, progress=False)
    assert a.completeness_error.max() < 0.01
