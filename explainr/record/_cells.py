"""PyTorch's recurrent modules, declared in the cell registry.

Each declaration says how `record` sees the module run; adding a fused kind is a
declaration here, not a branch in the recording code (``nn.RNN`` is recorded this way).
"""

from __future__ import annotations

from torch import Tensor, nn

from explainr._core.cells import CellKind, register_cell
from explainr.record._recompute import GRU_GATES, LSTM_GATES, gru_layer, lstm_layer


def _lstm_gates(
    x: Tensor,
    h: Tensor,
    state0: tuple[Tensor, ...],
    weights: list[Tensor],
    *,
    reverse: bool,
    lengths: Tensor | None,
    gates: tuple[str, ...],
    want_cell: bool,
) -> dict[str, Tensor]:
    h0, c0 = state0
    return lstm_layer(
        x, h, h0, c0, weights, reverse=reverse, lengths=lengths, gates=gates, want_cell=want_cell
    )


def _gru_gates(
    x: Tensor,
    h: Tensor,
    state0: tuple[Tensor, ...],
    weights: list[Tensor],
    *,
    reverse: bool,
    lengths: Tensor | None,
    gates: tuple[str, ...],
    want_cell: bool,
) -> dict[str, Tensor]:
    return gru_layer(x, h, state0[0], weights, reverse=reverse, lengths=lengths, gates=gates)


LSTM = register_cell(
    CellKind(
        "lstm",
        LSTM_GATES,
        tanh_gates=("cell",),
        has_cell=True,
        modules=(nn.LSTM,),
        recording="kernel",
        kernels=("lstm",),
        gate_values=_lstm_gates,
    )
)
GRU = register_cell(
    CellKind(
        "gru",
        GRU_GATES,
        tanh_gates=("new",),
        modules=(nn.GRU,),
        recording="kernel",
        kernels=("gru",),
        gate_values=_gru_gates,
    )
)
LSTM_CELL = register_cell(
    CellKind(
        "lstm_cell",
        LSTM_GATES,
        tanh_gates=("cell",),
        has_cell=True,
        modules=(nn.LSTMCell,),
        recording="step",
        gate_values=_lstm_gates,
        label="LSTM cell",
    )
)
GRU_CELL = register_cell(
    CellKind(
        "gru_cell",
        GRU_GATES,
        tanh_gates=("new",),
        modules=(nn.GRUCell,),
        recording="step",
        gate_values=_gru_gates,
        label="GRU cell",
    )
)
RNN = register_cell(
    CellKind("rnn", (), modules=(nn.RNN,), recording="kernel", kernels=("rnn_tanh", "rnn_relu"))
)
RNN_CELL = register_cell(
    CellKind("rnn_cell", (), modules=(nn.RNNCell,), recording="step", label="RNN cell")
)
