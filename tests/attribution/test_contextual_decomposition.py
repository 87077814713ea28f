"""Contextual decomposition: exact against `record`'s states, and the bias-only convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr.nn import PeepholeLSTM


class Net(nn.Module):
    def __init__(self, rnn: nn.Module, use: str = "output") -> None:
        super().__init__()
        self.rnn = rnn
        width = rnn.hidden_size * (2 if getattr(rnn, "bidirectional", False) else 1)
        self.head = nn.Linear(width, 2)
        self.use = use

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, state = self.rnn(x)
        if self.use == "h_n":
            h_n = state if isinstance(self.rnn, nn.GRU) else state[0]
            return self.head(h_n[-1])
        return self.head(out[:, -1])


RNNS = {
    "lstm 2 layers bidirectional": lambda: nn.LSTM(
        3, 4, num_layers=2, batch_first=True, bidirectional=True
    ),
    "gru 2 layers bidirectional": lambda: nn.GRU(
        3, 4, num_layers=2, batch_first=True, bidirectional=True
    ),
    "peephole 2 layers": lambda: PeepholeLSTM(3, 4, num_layers=2, batch_first=True),
    "lstm h_n": lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True),
}


def _model(case: str) -> nn.Module:
    torch.manual_seed(11)
    return Net(RNNS[case](), use="h_n" if "h_n" in case else "output").double().eval()


@pytest.mark.parametrize("bias_products", ["share", "irrelevant"])
@pytest.mark.parametrize("case", list(RNNS))
def test_parts_sum_to_recorded_states(case: str, bias_products: str) -> None:
    model = _model(case)
    g = torch.Generator().manual_seed(12)
    x = torch.randn(3, 7, 3, dtype=torch.float64, generator=g)
    cells = torch.rand(7, 3, generator=g) < 0.4
    d = explainr.contextual_decomposition(model, x, cells, target=1, bias_products=bias_products)
    with explainr.record(model) as rec:
        out = model(x)
    trace = rec.trace["rnn"]
    keys = [k for k in trace.data if not k[0].startswith("gate")]
    assert sorted(keys) == sorted(d.relevant)
    for key in keys:
        total = d.relevant[key] + d.irrelevant[key]
        torch.testing.assert_close(total, trace.data[key], atol=1e-6, rtol=0)
        assert d.relevant[key].abs().max() > 1e-3  # both parts are real
        assert d.irrelevant[key].abs().max() > 1e-3
    np.testing.assert_allclose(d.prediction, out[:, 1].detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("case", list(RNNS))
def test_every_cell_chosen_leaves_only_the_bias(case: str) -> None:
    """All cells relevant: the irrelevant states are zero, the output's is the head's bias."""
    model = _model(case)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    d = explainr.contextual_decomposition(model, x, torch.ones(6, 3, dtype=torch.bool), target=0)
    for key, part in d.irrelevant.items():
        assert part.abs().max() < 1e-12, key
    np.testing.assert_allclose(d.output_irrelevant, model.head.bias[0].item(), atol=1e-12)
    none = explainr.contextual_decomposition(
        model, x, torch.zeros(6, 3, dtype=torch.bool), target=0
    )
    for part in none.relevant.values():
        assert part.abs().max() < 1e-12
    np.testing.assert_allclose(none.output_relevant, 0.0, atol=1e-12)


def test_murdoch_convention_for_whole_steps() -> None:
    """Whole steps chosen: bias x bias products at those steps are relevant, elsewhere not.

    With a zero input, only biases act: the relevant cell state is then exactly the bias
    recursion run over the chosen steps, c_t = f c_{t-1} + [t chosen] sigma(b_i) tanh(b_g).
    """
    torch.manual_seed(13)
    lstm = nn.LSTM(2, 3, batch_first=True).double()
    model = Net(lstm).double().eval()
    x = torch.zeros(1, 5, 2, dtype=torch.float64)
    cells = torch.zeros(5, 2, dtype=torch.bool)
    cells[1:3] = True
    d = explainr.contextual_decomposition(model, x, cells, target=0)
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
    gates = [b.chunk(4)[k] for k in range(4)]
    f = torch.sigmoid(gates[1])
    new = torch.sigmoid(gates[0]) * torch.tanh(gates[2])
    c = torch.zeros(3, dtype=torch.float64)
    # with zero input and zero states the bias-only gate values are exact: f, i, g constant
    # only while h stays 0 -- so compare the first two steps, before h can move the gates
    for t in range(3):
        c = f * c + (new if cells[t, 0] else 0)
        if t < 2:
            torch.testing.assert_close(d.relevant[("cell", 0, 0)][0, t], c, atol=1e-12, rtol=0)


def test_attribution_groups_and_shapes() -> None:
    model = _model("gru 2 layers bidirectional")
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    a = explainr.attribute(
        model,
        x,
        "contextual_decomposition",
        target=0,
        window=2,
        group_by="time",
        progress=False,
    )
    assert a.values.shape == (2, 8, 3) and a.group_values.shape == (2, 4)
    for g, group in enumerate(a.groups):
        cells = torch.zeros(8, 3, dtype=torch.bool)
        cells[group.time[0] : group.time[1]] = True
        d = explainr.contextual_decomposition(model, x, cells, target=0, bias_products="irrelevant")
        np.testing.assert_allclose(a.group_values[:, g], d.output_relevant, atol=1e-12)


def test_bad_cells() -> None:
    model = _model("lstm h_n")
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with pytest.raises(explainr.ExplainrError, match="cells has shape"):
        explainr.contextual_decomposition(model, x, torch.ones(5, 3, dtype=torch.bool), target=0)
    with pytest.raises(explainr.ExplainrError, match="bool mask"):
        explainr.contextual_decomposition(model, x, torch.ones(6, 3), target=0)
