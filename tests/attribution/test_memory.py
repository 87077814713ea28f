"""`memory`: forget-gate timescales against `record`'s gates, lag shares against CD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr.report.figures.memory import lag_share_figure, timescale_figure


class Net(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        width = rnn.hidden_size * (2 if getattr(rnn, "bidirectional", False) else 1)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize(
    ("rnn", "gate"),
    [
        (lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True), "forget"),
        (lambda: nn.GRU(3, 5, num_layers=2, batch_first=True), "update"),
        (lambda: explainr.nn.PeepholeLSTM(3, 5, batch_first=True), "forget"),
    ],
)
def test_timescale_from_recorded_gates(rnn, gate: str) -> None:
    torch.manual_seed(21)
    model = Net(rnn()).double().eval()
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    m = explainr.memory(model, x)
    with explainr.record(model) as rec:
        model(x)
    trace = rec.trace["rnn"]
    assert m.gate == gate
    assert m.timescale.shape == (trace.num_layers, trace.num_directions, 5)
    for layer in range(trace.num_layers):
        for d in range(trace.num_directions):
            mean = trace.gate(gate, layer, d).mean(dim=(0, 1)).numpy()
            np.testing.assert_allclose(m.timescale[layer, d], -1 / np.log(mean), rtol=1e-9)


def test_lag_share_from_per_step_decompositions() -> None:
    torch.manual_seed(22)
    model = Net(nn.LSTM(3, 5, batch_first=True)).double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    m = explainr.memory(model, x)
    size = np.zeros((3, 6))
    for t in range(6):
        cells = torch.zeros(6, 3, dtype=torch.bool)
        cells[t] = True
        d = explainr.contextual_decomposition(model, x, cells, bias_products="irrelevant")
        size[:, 5 - t] = np.abs(d.output_relevant)  # lag 0 = the last step
    expected = (size / size.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(m.lag_share, expected, atol=1e-12)
    assert abs(m.lag_share.sum() - 1) < 1e-12
    assert 0 <= m.lag_within(0.9) < 6


def test_lag_share_finds_the_planted_lag() -> None:
    """A model that reads only the input 3 steps back: (almost) all share at lag 3."""
    torch.manual_seed(23)
    lstm = nn.LSTM(1, 4, batch_first=True).double()
    model = Net(lstm).double().eval()
    x = torch.zeros(2, 8, 1, dtype=torch.float64)
    x[:, 4] = torch.tensor([[1.5], [-2.0]], dtype=torch.float64)
    m = explainr.memory(model, x)
    assert m.lag_share.argmax() == 3 and m.lag_share[3] > 0.99


def test_figures() -> None:
    torch.manual_seed(24)
    model = Net(nn.GRU(2, 3, num_layers=2, batch_first=True, bidirectional=True)).eval()
    m = explainr.memory(model, torch.randn(2, 7, 2))
    ts, lags = timescale_figure(m), lag_share_figure(m)
    assert len(ts.data) == 4  # layers x directions
    np.testing.assert_allclose(np.sort(ts.data[0].y), np.sort(m.timescale[0, 0]))
    np.testing.assert_allclose(lags.data[0].y, m.lag_share)
