"""attribute_units: captum's layer IG at the head's input; completeness; coverage; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

import explainr
from explainr import ExplainrError

from .conftest import Recurrent

CONFIGS = [  # kind, layers, use, bidirectional
    ("lstm", 1, "output", False),
    ("lstm", 2, "state", False),
    ("gru", 2, "output", False),
    ("gru", 1, "state", True),
    ("lstm", 2, "output", True),
]


@pytest.mark.parametrize(("kind", "layers", "use", "bidirectional"), CONFIGS)
def test_matches_layer_ig_at_head_input(kind, layers, use, bidirectional) -> None:
    # The head reads only top-layer hidden states: out[:, -1] ("output"), or the final
    # states h_n ("state": the reverse direction's is out[:, 0]), so captum's layer IG on
    # the head's input is the same attribution.
    torch.manual_seed(0)
    model = Recurrent(3, 4, kind=kind, layers=layers, use=use, bidirectional=bidirectional).eval()
    x = torch.randn(3, 7, 3)
    units = explainr.attribute_units(model, x, n_steps=40, progress=False)
    head = LayerIntegratedGradients(model, model.head).attribute(
        x, baselines=torch.zeros(1, 7, 3), target=0, n_steps=40, attribute_to_layer_input=True
    )
    head = head.detach().double().numpy()
    assert units.values.shape == (3, 7, 8 if bidirectional else 4)
    expected = np.zeros_like(units.values)
    if use == "state" and bidirectional:
        expected[:, -1, :4], expected[:, 0, 4:] = head[:, :4], head[:, 4:]
    else:
        expected[:, -1] = head
    np.testing.assert_allclose(units.values, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(units.uncovered, 0.0, atol=1e-7)
    assert units.completeness_error.max() < 0.01
    assert units.layer == layers - 1


class UsesCell(nn.Module):
    """Reads the LSTM's c_n and every layer's h_n: not all top-layer hidden states."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, num_layers=2, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, c) = self.rnn(x)
        return self.head(torch.cat([out[:, 3], h[0], c[0], c[1]], dim=1))


def test_uncovered_states_keep_sums() -> None:
    torch.manual_seed(0)
    model = UsesCell().eval()
    units = explainr.attribute_units(model, torch.randn(2, 6, 3), progress=False)
    assert np.abs(units.uncovered).min() > 0
    assert np.abs(units.values[:, 3]).sum() > 0 and np.abs(units.values[:, 4:]).sum() == 0
    assert units.completeness_error.max() < 0.01


def test_by_unit_and_top_units() -> None:
    torch.manual_seed(0)
    model = Recurrent(3, 6, layers=2).eval()
    units = explainr.attribute_units(model, torch.randn(4, 8, 3), module="rnn", progress=False)
    np.testing.assert_allclose(units.by_unit(), units.values.sum(1))
    top = units.top_units(3)
    strength = np.abs(units.by_unit()).mean(0)
    assert strength[top[0]] == strength.max() and list(top) == list(np.argsort(-strength)[:3])


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.rnn(x)[0][..., :3])[0][:, -1, 0]


def test_errors() -> None:
    model = Recurrent(3, 4).eval()
    with pytest.raises(ExplainrError, match=r"module='lstm' is no module.*candidates \['rnn'\]"):
        explainr.attribute_units(model, torch.randn(2, 5, 3), module="lstm", progress=False)
    with pytest.raises(ExplainrError, match=r"module='head' is a Linear"):
        explainr.attribute_units(model, torch.randn(2, 5, 3), module="head", progress=False)
    with pytest.raises(ExplainrError, match=r"ran 2 times in one forward"):
        explainr.attribute_units(Twice(), torch.randn(2, 5, 3), progress=False)
    with pytest.raises(ExplainrError, match=r"NaN/Inf"):
        explainr.attribute_units(model, torch.full((2, 5, 3), float("nan")), progress=False)


class PeepholeNet(nn.Module):
    """explainr.nn.PeepholeLSTM with a head on the last step's hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = explainr.nn.PeepholeLSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def test_peephole_lstm_matches_layer_ig_at_head_input() -> None:
    torch.manual_seed(0)
    model = PeepholeNet().eval()
    x = torch.randn(3, 7, 3)
    units = explainr.attribute_units(model, x, n_steps=40, progress=False)
    head = LayerIntegratedGradients(model, model.head).attribute(
        x, baselines=torch.zeros(1, 7, 3), target=0, n_steps=40, attribute_to_layer_input=True
    )
    expected = np.zeros_like(units.values)
    expected[:, -1] = head.detach().double().numpy()
    np.testing.assert_allclose(units.values, expected, rtol=1e-4, atol=1e-6)
    assert units.completeness_error.max() < 0.01


class TwoLayer(nn.Module):
    """A 2-layer LSTM/GRU forecaster (head on the last step) and its split twin below."""

    def __init__(self, kind: type[nn.Module], batch_first: bool, bidirectional: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.rnn = kind(3, 4, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
        self.head = nn.Linear(8 if bidirectional else 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x if self.batch_first else x.transpose(0, 1))
        out = out if self.batch_first else out.transpose(0, 1)
        return self.head(out[:, -1]).squeeze(-1)


class Split(nn.Module):
    """The same network as two 1-layer modules with an identity between them for captum."""

    def __init__(self, net: TwoLayer) -> None:
        super().__init__()
        rnn = net.rnn
        kind, dirs = type(rnn), 2 if rnn.bidirectional else 1
        self.l0 = kind(3, 4, batch_first=True, bidirectional=rnn.bidirectional)
        self.l1 = kind(4 * dirs, 4, batch_first=True, bidirectional=rnn.bidirectional)
        self.mid, self.head = nn.Identity(), net.head
        for layer, module in ((0, self.l0), (1, self.l1)):
            for name, param in module.named_parameters():
                param.data.copy_(getattr(rnn, name.replace("_l0", f"_l{layer}")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.l0(x)
        out, _ = self.l1(self.mid(out))
        return self.head(out[:, -1]).squeeze(-1)


@pytest.mark.parametrize(
    ("kind", "batch_first", "bidirectional"),
    [(nn.LSTM, True, False), (nn.GRU, False, True), (nn.LSTM, False, True), (nn.GRU, True, False)],
)
def test_lower_layer_matches_layer_ig_on_a_split_model(kind, batch_first, bidirectional) -> None:
    from explainr.record import _patch

    torch.manual_seed(0)
    net = TwoLayer(kind, batch_first, bidirectional).eval()
    split = Split(net).eval()
    x = torch.randn(3, 6, 3)
    torch.testing.assert_close(net(x), split(x))
    units = explainr.attribute_units(net, x, layer=0, n_steps=40, progress=False)
    ref = LayerIntegratedGradients(split, split.mid).attribute(
        x, baselines=torch.zeros(1, 6, 3), n_steps=40
    )
    np.testing.assert_allclose(units.values, ref.detach().double().numpy(), rtol=1e-4, atol=1e-7)
    assert units.layer == 0 and units.completeness_error.max() < 0.01
    np.testing.assert_allclose(units.uncovered, 0.0, atol=1e-6)
    assert not _patch._TAPS and all(not m._forward_hooks for m in net.modules())


def test_lower_layer_state_shares_are_uncovered_and_bad_layers_rejected() -> None:
    torch.manual_seed(0)
    model = UsesCell().eval()  # reads h_n and c_n of layer 0 directly
    units = explainr.attribute_units(model, torch.randn(2, 6, 3), layer=0, progress=False)
    assert np.abs(units.uncovered).min() > 1e-4
    with pytest.raises(ExplainrError, match=r"layers 0\.\.1"):
        explainr.attribute_units(model, torch.randn(2, 6, 3), layer=2, progress=False)
