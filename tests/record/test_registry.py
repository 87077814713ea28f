"""The cell registry: nn.RNN recorded by its declaration alone, a user's cell by one call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError
from explainr._core.cells import cell_kind, kind_of


def _single_layer(rnn: nn.RNN, layer: int, input_size: int) -> nn.RNN:
    """An nn.RNN holding layer ``layer`` of ``rnn``'s weights: PyTorch's own reference."""
    one = nn.RNN(
        input_size,
        rnn.hidden_size,
        nonlinearity=rnn.nonlinearity,
        bidirectional=rnn.bidirectional,
        batch_first=True,
    )
    for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{name}_l0{suffix}").data.copy_(getattr(rnn, f"{name}_l{layer}{suffix}"))
    return one


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_hidden_states_equal_pytorch_per_layer_and_direction(
    nonlinearity: str, bidirectional: bool, batch_first: bool
) -> None:
    torch.manual_seed(0)
    rnn = nn.RNN(
        3, 6, num_layers=3, nonlinearity=nonlinearity, bidirectional=bidirectional,
        batch_first=batch_first,
    )  # fmt: skip
    x = torch.randn(4, 9, 3)
    with torch.no_grad(), explainr.record(rnn) as rec:
        out, _ = rnn(x if batch_first else x.transpose(0, 1))
    expected_out, _ = rnn(x if batch_first else x.transpose(0, 1))
    torch.testing.assert_close(out, expected_out, rtol=0, atol=0)  # recording changes nothing
    r = rec.trace[""]
    assert r.kind == "rnn" and r.gate_names == () and not r.has_cell
    dirs = 2 if bidirectional else 1
    layer_in = x
    for layer in range(3):
        ref, _ = _single_layer(rnn, layer, layer_in.shape[-1])(layer_in)
        for d in range(dirs):
            torch.testing.assert_close(r.hidden(layer, d), ref[..., d * 6 : (d + 1) * 6])
        layer_in = ref.detach()


def test_rnn_cell_steps_are_joined() -> None:
    cell = nn.RNNCell(2, 4)
    xs, h = torch.randn(5, 3, 2), None
    outs = []
    with torch.no_grad(), explainr.record(cell) as rec:
        for x_t in xs:
            h = cell(x_t, h)
            outs.append(h)
    torch.testing.assert_close(rec.trace[""].hidden(), torch.stack(outs, dim=1))


class TwoGate(nn.Module):
    """A user's cell: h' = z * h + (1 - z) * tanh(W_n x + U_n h), z = σ(W_z x + U_z h)."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(torch.randn(2 * hidden, features))
        self.weight_hh = nn.Parameter(torch.randn(2 * hidden, hidden))

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.weight_hh.shape[1]) if h is None else h
        z, n = (x @ self.weight_ih.T + h @ self.weight_hh.T).chunk(2, dim=-1)
        z, n = torch.sigmoid(z), torch.tanh(n)
        return z * h + (1 - z) * n


def _two_gate_values(x, h, state0, weights, *, reverse, lengths, gates, want_cell):
    h_prev = torch.cat([state0[0].unsqueeze(1), h[:, :-1]], dim=1)
    z, n = (x @ weights[0].T + h_prev @ weights[1].T).chunk(2, dim=-1)
    return {"update": torch.sigmoid(z), "new": torch.tanh(n)}


def test_a_registered_user_cell_is_recorded_and_drawn() -> None:
    kind = explainr.CellKind(
        "two_gate_test", ("update", "new"), tanh_gates=("new",), modules=(TwoGate,),
        recording="step", gate_values=_two_gate_values,
    )  # fmt: skip
    explainr.register_cell(kind)
    assert kind_of(TwoGate(1, 1)) is kind and cell_kind("two_gate_test") is kind
    torch.manual_seed(1)
    cell = TwoGate(3, 4)
    xs, h, expected = torch.randn(6, 2, 3), None, []
    with torch.no_grad(), explainr.record(cell, gates=("update",)) as rec:
        for x_t in xs:
            prev = torch.zeros(2, 4) if h is None else h
            expected.append(torch.sigmoid(x_t @ cell.weight_ih[:4].T + prev @ cell.weight_hh[:4].T))
            h = cell(x_t, h)
    r = rec.trace[""]
    torch.testing.assert_close(r.gate("update"), torch.stack(expected, dim=1))
    assert "forward" not in TwoGate.__dict__ or TwoGate.forward.__qualname__ == "TwoGate.forward"
    fig = explainr.plots.gate_heatmap(r)
    assert "full scale 0 to 1" in fig.data[0].colorbar.title.text  # drawn as a sigmoid gate


def test_registry_refuses_bad_declarations() -> None:
    with pytest.raises(ExplainrError, match="tanh_gates"):
        explainr.CellKind("bad", ("a",), tanh_gates=("b",))
    with pytest.raises(ExplainrError, match="gate_values"):
        explainr.CellKind("bad", ("a",), modules=(TwoGate,), recording="step")
    with pytest.raises(ExplainrError, match="registered already"):
        explainr.register_cell(explainr.CellKind("lstm", ("x",)))
    with pytest.raises(ExplainrError, match="no cell kind named"):
        cell_kind("nope")
