"""explain() computes the model's memory where it can, and the report shows it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import explainr


class LastStep(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def test_memory_section_matches_explainr_memory() -> None:
    torch.manual_seed(0)
    model = LastStep(nn.LSTM(2, 6, batch_first=True)).eval()
    x = torch.randn(1, 12, 2)
    ex = explainr.explain(model, x, ("integrated_gradients",), metrics=False)
    direct = explainr.memory(model, x)
    assert ex.memory is not None
    np.testing.assert_array_equal(ex.memory.timescale, direct.timescale)
    np.testing.assert_allclose(ex.memory.lag_share.sum(), 1.0)
    page = ex.to_html()
    assert 'id="memory"' in page and "Memory: rnn" in page


def test_unsupported_model_has_no_memory_section() -> None:
    torch.manual_seed(0)
    model = LastStep(nn.RNN(2, 6, batch_first=True)).eval()  # Elman RNN: no forget gate
    ex = explainr.explain(model, torch.randn(1, 8, 2), ("integrated_gradients",), metrics=False)
    assert ex.memory is None and 'id="memory"' not in ex.to_html()
    off = explainr.explain(
        LastStep(nn.GRU(2, 3, batch_first=True)).eval(),
        torch.randn(1, 8, 2),
        ("integrated_gradients",),
        metrics=False,
        memory=False,
    )
    assert off.memory is None
