"""`PeepholeLSTM`: an LSTM whose gates also look at the cell state (Gers & Schmidhuber)."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explainr._core.cells import CellKind, register_cell
from explainr._core.errors import ExplainrError
from explainr._core.sinks import sink_for
from explainr.nn._layout import (
    batch_first_input,
    check_sizes,
    initial_states,
    layers_to_keep,
    report,
    restore_layout,
)
from explainr.nn._scan import GATES, LayerRun, lstm_scan, run_layers


class PeepholeWeights(NamedTuple):
    """One layer's parameters, shapes as in `PeepholeLSTM`."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    w_ci: Tensor
    w_cf: Tensor
    w_co: Tensor


def peephole_layer(
    weights: PeepholeWeights, x: Tensor, h0: Tensor, c0: Tensor, keep: bool
) -> LayerRun:
    """One peephole LSTM layer over ``x`` ``(B, T, in)`` from ``h0``, ``c0`` ``(B, H)``."""
    w = weights
    return lstm_scan(
        F.linear(x, w.w_ih, w.b_ih),
        h0,
        c0,
        lambda h: F.linear(h, w.w_hh, w.b_hh),
        (w.w_ci, w.w_cf, w.w_co),
        keep,
    )


def peephole_lstm(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    weights: list[PeepholeWeights],
    *,
    dropout: float = 0.0,
    training: bool = False,
    keep: list[bool] | None = None,
) -> tuple[Tensor, Tensor, Tensor, list[LayerRun]]:
    """A stack of peephole LSTM layers; the functional form of `PeepholeLSTM`.

    Args:
        x: ``(batch, time, input_size)``.
        h0, c0: ``(num_layers, batch, hidden_size)``.
        weights: one `PeepholeWeights` per layer.
        dropout: dropout on each layer's output but the last, when ``training``.
        training: whether dropout is active.
        keep: per layer, whether to keep every step's gates and states; default none.

    Returns:
        ``(output, h_n, c_n, runs)`` with output ``(batch, time, hidden_size)`` and
        h_n, c_n ``(num_layers, batch, hidden_size)``.
    """
    layers = [functools.partial(peephole_layer, w) for w in weights]
    keep = keep if keep is not None else [False] * len(layers)
    return run_layers(x, h0, c0, layers, dropout=dropout, training=training, keep=keep)


class PeepholeLSTM(nn.Module):
    r"""A multi-layer LSTM with peephole connections, a drop-in for ``torch.nn.LSTM``.

    For each layer and step (gate order i, f, g, o as in ``nn.LSTM``)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + w_ci ⊙ c_{t-1})
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf + w_cf ⊙ c_{t-1})
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho + w_co ⊙ c_t)
        h_t = o_t ⊙ tanh(c_t)

    With the peephole weights at zero it computes exactly what ``nn.LSTM`` computes.
    Unidirectional only. Inside an ``explainr.record`` block it reports every gate, cell
    and hidden state (kind ``"peephole_lstm"``).

    Args:
        input_size: features per step of the input.
        hidden_size: units per layer.
        num_layers: stacked layers.
        bias: whether to use ``bias_ih_l{k}`` and ``bias_hh_l{k}``.
        batch_first: input and output as ``(batch, time, feature)`` instead of
            ``(time, batch, feature)``.
        dropout: dropout on each layer's output but the last, in training mode.

    Parameters (for layer ``k``), all initialised uniform on ±1/sqrt(hidden_size):
        ``weight_ih_l{k}`` ``(4*hidden, input_size or hidden)``,
        ``weight_hh_l{k}`` ``(4*hidden, hidden)``, ``bias_ih_l{k}``, ``bias_hh_l{k}``
        ``(4*hidden,)``, ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` ``(hidden,)``.

    Shapes of ``forward(input, hx=None) -> (output, (h_n, c_n))``, as in ``nn.LSTM``:
        input ``(batch, time, input_size)`` if ``batch_first`` else ``(time, batch,
        input_size)``, or ``(time, input_size)`` unbatched; hx ``(h0, c0)`` each
        ``(num_layers, batch, hidden)`` (``(num_layers, hidden)`` unbatched), default zeros;
        output like input with ``hidden_size`` features; h_n, c_n like h0.

    >>> import torch
    >>> from explainr.nn import PeepholeLSTM
    >>> lstm = PeepholeLSTM(3, 8, num_layers=2, batch_first=True)
    >>> output, (h_n, c_n) = lstm(torch.randn(4, 10, 3))
    >>> output.shape, h_n.shape
    (torch.Size([4, 10, 8]), torch.Size([2, 4, 8]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_sizes(
            "PeepholeLSTM", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers
        )
        if not 0.0 <= dropout <= 1.0:
            raise ExplainrError(f"PeepholeLSTM: dropout must be in [0, 1], got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        for k in range(num_layers):
            layer_in = input_size if k == 0 else hidden_size
            self._add(f"weight_ih_l{k}", 4 * hidden_size, layer_in)
            self._add(f"weight_hh_l{k}", 4 * hidden_size, hidden_size)
            if bias:
                self._add(f"bias_ih_l{k}", 4 * hidden_size)
                self._add(f"bias_hh_l{k}", 4 * hidden_size)
            for gate in ("ci", "cf", "co"):
                self._add(f"weight_{gate}_l{k}", hidden_size)
        self.reset_parameters()

    def _add(self, name: str, *shape: int) -> None:
        self.register_parameter(name, nn.Parameter(torch.empty(shape)))

    def reset_parameters(self) -> None:
        """Draw every parameter uniform on ±1/sqrt(hidden_size), like ``nn.LSTM``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_weights(self) -> list[PeepholeWeights]:
        """Each layer's parameters, in the order `peephole_lstm` takes them."""
        names = (
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "weight_ci",
            "weight_cf",
            "weight_co",
        )
        return [
            PeepholeWeights(*(getattr(self, f"{n}_l{k}", None) for n in names))
            for k in range(self.num_layers)
        ]

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run every layer over ``input``; shapes as in the class docstring."""
        layout = "(batch, time, feature)" if self.batch_first else "(time, batch, feature)"
        x, unbatched = batch_first_input(
            "PeepholeLSTM", input, batch_first=self.batch_first, unit_dims=1, layout=layout
        )
        if x.shape[-1] != self.input_size:
            raise ExplainrError(
                f"PeepholeLSTM was built for input_size={self.input_size} but the input has "
                f"{x.shape[-1]} features (shape {tuple(input.shape)})"
            )
        shape = (self.num_layers, x.shape[0], self.hidden_size)
        h0, c0 = initial_states("PeepholeLSTM", hx, shape, unbatched, x)
        sink = sink_for(self)
        output, h_n, c_n, runs = peephole_lstm(
            x,
            h0,
            c0,
            self.layer_weights(),
            dropout=self.dropout,
            training=self.training,
            keep=layers_to_keep(sink, self.num_layers),
        )
        if sink is not None:
            report(self, sink, PEEPHOLE_LSTM.name, runs)
        return restore_layout(output, h_n, c_n, batch_first=self.batch_first, unbatched=unbatched)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s


PEEPHOLE_LSTM = register_cell(
    CellKind(
        "peephole_lstm",
        GATES,
        tanh_gates=("cell",),
        has_cell=True,
        modules=(PeepholeLSTM,),
        recording="self",
        label="peephole LSTM",
    )
)
