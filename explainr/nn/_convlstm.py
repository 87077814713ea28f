"""`ConvLSTM`: an LSTM over feature maps whose gates are 2-D convolutions (Shi et al. 2015)."""

from __future__ import annotations

import functools
import math

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


def conv_lstm_layer(
    weight: Tensor, bias: Tensor | None, x: Tensor, h0: Tensor, c0: Tensor, keep: bool
) -> LayerRun:
    """One ConvLSTM layer over ``x`` ``(B, T, C, H, W)`` from ``h0``, ``c0`` ``(B, hidden, H, W)``.

    ``weight`` ``(4*hidden, C + hidden, kh, kw)`` convolves ``cat([x_t, h_{t-1}])``; since a
    convolution is linear in its input channels, that is the convolution of ``x_t`` with
    ``weight[:, :C]`` (done for all steps at once) plus that of ``h_{t-1}`` with
    ``weight[:, C:]``.
    """
    batch, steps, channels = x.shape[:3]
    w_x, w_h = weight[:, :channels], weight[:, channels:]
    x_part = F.conv2d(x.flatten(0, 1), w_x, bias, padding="same").unflatten(0, (batch, steps))
    return lstm_scan(x_part, h0, c0, lambda h: F.conv2d(h, w_h, padding="same"), None, keep)


def conv_lstm(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    weights: list[tuple[Tensor, Tensor | None]],
    *,
    keep: list[bool] | None = None,
) -> tuple[Tensor, Tensor, Tensor, list[LayerRun]]:
    """A stack of ConvLSTM layers; the functional form of `ConvLSTM`.

    Args:
        x: ``(batch, time, channels, height, width)``.
        h0, c0: ``(num_layers, batch, hidden, height, width)``.
        weights: ``(weight, bias)`` per layer, shapes as in `ConvLSTM`.
        keep: per layer, whether to keep every step's gates and states; default none.

    Returns:
        ``(output, h_n, c_n, runs)`` with output ``(batch, time, hidden, height, width)`` and
        h_n, c_n like h0.
    """
    layers = [functools.partial(conv_lstm_layer, w, b) for w, b in weights]
    keep = keep if keep is not None else [False] * len(layers)
    return run_layers(x, h0, c0, layers, dropout=0.0, training=False, keep=keep)


class ConvLSTM(nn.Module):
    r"""A multi-layer convolutional LSTM (Shi et al. 2015) without peephole connections.

    For each layer and step, one convolution with "same" padding over the channels of
    ``cat([x_t, h_{t-1}])`` gives ``4*hidden_channels`` maps, split in the order i, f, g, o::

        i, f, o = σ(conv_i), σ(conv_f), σ(conv_o);  g = tanh(conv_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

    The paper's peephole terms (Hadamard weights of shape ``(hidden, height, width)``) are
    left out: they would tie the module to one frame size. Inside an ``explainr.record``
    block it reports every gate, cell and hidden state, each ``(batch, time, hidden,
    height, width)`` (kind ``"conv_lstm"``).

    Args:
        input_channels: channels of each input frame.
        hidden_channels: channels of the hidden and cell state maps, per layer.
        kernel_size: int or ``(kh, kw)``; the maps keep their size ("same" padding).
        num_layers: stacked layers.
        bias: whether to use ``bias_l{k}``.
        batch_first: input and output as ``(batch, time, ...)`` (default) instead of
            ``(time, batch, ...)``.

    Parameters (for layer ``k``), initialised uniform on ±1/sqrt(fan_in) like ``nn.Conv2d``:
        ``weight_l{k}`` ``(4*hidden, in_channels + hidden, kh, kw)`` where ``in_channels`` is
        ``input_channels`` for layer 0 and ``hidden_channels`` after; ``bias_l{k}``
        ``(4*hidden,)``.

    Shapes of ``forward(input, hx=None) -> (output, (h_n, c_n))``:
        input ``(batch, time, channels, height, width)`` (batch_first) or
        ``(time, batch, channels, height, width)``, or ``(time, channels, height, width)``
        unbatched; hx ``(h0, c0)`` each ``(num_layers, batch, hidden, height, width)``,
        default zeros; output ``(batch, time, hidden, height, width)`` in the input's layout;
        h_n, c_n like h0.

    >>> import torch
    >>> from explainr.nn import ConvLSTM
    >>> conv = ConvLSTM(1, 4, kernel_size=3, num_layers=2)
    >>> output, (h_n, c_n) = conv(torch.randn(2, 5, 1, 8, 8))
    >>> output.shape, h_n.shape
    (torch.Size([2, 5, 4, 8, 8]), torch.Size([2, 2, 4, 8, 8]))
    """

    def __init__(
        self,
        input_channels: int,
        hidden_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        check_sizes(
            "ConvLSTM",
            input_channels=input_channels,
            hidden_channels=hidden_channels,
            kernel_height=kh,
            kernel_width=kw,
            num_layers=num_layers,
        )
        self.input_channels = input_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = (kh, kw)
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        for k in range(num_layers):
            layer_in = input_channels if k == 0 else hidden_channels
            shape = (4 * hidden_channels, layer_in + hidden_channels, kh, kw)
            self.register_parameter(f"weight_l{k}", nn.Parameter(torch.empty(shape)))
            if bias:
                self.register_parameter(
                    f"bias_l{k}", nn.Parameter(torch.empty(4 * hidden_channels))
                )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw each layer's weight and bias uniform on ±1/sqrt(fan_in), like ``nn.Conv2d``."""
        for weight, bias in self.layer_weights():
            bound = 1.0 / math.sqrt(weight[0].numel())
            nn.init.uniform_(weight, -bound, bound)
            if bias is not None:
                nn.init.uniform_(bias, -bound, bound)

    def layer_weights(self) -> list[tuple[Tensor, Tensor | None]]:
        """Each layer's ``(weight, bias)``, as `conv_lstm` takes them."""
        return [
            (getattr(self, f"weight_l{k}"), getattr(self, f"bias_l{k}", None))
            for k in range(self.num_layers)
        ]

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run every layer over ``input``; shapes as in the class docstring."""
        layout = "(batch, time, channels, height, width)"
        if not self.batch_first:
            layout = "(time, batch, channels, height, width)"
        x, unbatched = batch_first_input(
            "ConvLSTM", input, batch_first=self.batch_first, unit_dims=3, layout=layout
        )
        if x.shape[2] != self.input_channels:
            raise ExplainrError(
                f"ConvLSTM was built for input_channels={self.input_channels} but the input "
                f"has {x.shape[2]} channels (shape {tuple(input.shape)}, layout {layout})"
            )
        shape = (self.num_layers, x.shape[0], self.hidden_channels, *x.shape[3:])
        h0, c0 = initial_states("ConvLSTM", hx, shape, unbatched, x)
        sink = sink_for(self)
        output, h_n, c_n, runs = conv_lstm(
            x, h0, c0, self.layer_weights(), keep=layers_to_keep(sink, self.num_layers)
        )
        if sink is not None:
            report(self, sink, CONV_LSTM.name, runs)
        return restore_layout(output, h_n, c_n, batch_first=self.batch_first, unbatched=unbatched)

    def extra_repr(self) -> str:
        s = (
            f"{self.input_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}, "
            f"num_layers={self.num_layers}"
        )
        if not self.bias:
            s += ", bias=False"
        if not self.batch_first:
            s += ", batch_first=False"
        return s


CONV_LSTM = register_cell(
    CellKind(
        "conv_lstm",
        GATES,
        tanh_gates=("cell",),
        has_cell=True,
        modules=(ConvLSTM,),
        recording="self",
        label="ConvLSTM",
    )
)
