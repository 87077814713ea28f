"""The LSTM step shared by `PeepholeLSTM` and `ConvLSTM`: one layer scanned over time.

Both modules compute the input's share of the pre-activations for every step at once and
hand `lstm_scan` a function for the recurrent share, so the equations live in one place:

    i = σ(z_i + w_ci ⊙ c_{t-1})    f = σ(z_f + w_cf ⊙ c_{t-1})    g = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g      o = σ(z_o + w_co ⊙ c_t)         h_t = o ⊙ tanh(c_t)

where ``z = x_part_t + recurrent(h_{t-1})`` is split along dim 1 in the order i, f, g, o.
Without peepholes the ``w_c*`` terms are left out. Tensors are batch-first: ``(B, T, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

GATES = ("input", "forget", "cell", "output")


@dataclass
class LayerRun:
    """One layer's result: ``output`` ``(B, T, *unit)``, final ``h_n``/``c_n`` ``(B, *unit)``.

    ``steps`` is None unless the scan was asked to keep them; then it maps ``"gate:<name>"``,
    ``"cell"`` and ``"hidden"`` to detached ``(B, T, *unit)`` tensors.
    """

    output: Tensor
    h_n: Tensor
    c_n: Tensor
    steps: dict[str, Tensor] | None = None


def lstm_scan(
    x_part: Tensor,
    h0: Tensor,
    c0: Tensor,
    recurrent: Callable[[Tensor], Tensor],
    peepholes: tuple[Tensor, Tensor, Tensor] | None,
    keep: bool,
) -> LayerRun:
    """Run one LSTM layer over time.

    Args:
        x_part: ``(B, T, 4*units, ...)`` the input's share of the pre-activations (biases in).
        h0, c0: ``(B, units, ...)`` initial states.
        recurrent: maps h_{t-1} ``(B, units, ...)`` to its share ``(B, 4*units, ...)``.
        peepholes: ``(w_ci, w_cf, w_co)`` broadcastable to ``(B, units, ...)``, or None.
        keep: also return every step's gates and cell state (detached).

    The sequence must have at least one step (callers check).
    """
    h, c = h0, c0
    outputs: list[Tensor] = []
    kept: dict[str, list[Tensor]] | None = (
        {f"gate:{g}": [] for g in GATES} | {"cell": []} if keep else None
    )
    for t in range(x_part.shape[1]):
        z_i, z_f, z_g, z_o = (x_part[:, t] + recurrent(h)).chunk(4, dim=1)
        if peepholes is not None:
            z_i = z_i + peepholes[0] * c
            z_f = z_f + peepholes[1] * c
        i, f, g = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g)
        c = f * c + i * g
        if peepholes is not None:
            z_o = z_o + peepholes[2] * c
        o = torch.sigmoid(z_o)
        h = o * torch.tanh(c)
        outputs.append(h)
        if kept is not None:
            for name, value in zip(GATES, (i, f, g, o), strict=True):
                kept[f"gate:{name}"].append(value.detach())
            kept["cell"].append(c.detach())
    output = torch.stack(outputs, dim=1)
    steps = None
    if kept is not None:
        steps = {k: torch.stack(v, dim=1) for k, v in kept.items()}
        steps["hidden"] = output.detach()
    return LayerRun(output=output, h_n=h, c_n=c, steps=steps)


def run_layers(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    layers: list[Callable[[Tensor, Tensor, Tensor, bool], LayerRun]],
    *,
    dropout: float,
    training: bool,
    keep: list[bool],
) -> tuple[Tensor, Tensor, Tensor, list[LayerRun]]:
    """Stack layers: each one's output (dropped out between layers in training) feeds the next.

    Args:
        x: ``(B, T, ...)`` input of the first layer.
        h0, c0: ``(num_layers, B, units, ...)`` initial states.
        layers: one ``layer(x, h0, c0, keep) -> LayerRun`` per layer.
        dropout: probability applied to every layer's output except the last's.
        training: whether dropout is active.
        keep: per layer, whether to keep every step's gates and states.

    Returns:
        ``(output, h_n, c_n, runs)``: the last layer's output ``(B, T, units, ...)``, final
        states ``(num_layers, B, units, ...)`` and each layer's `LayerRun`.
    """
    runs: list[LayerRun] = []
    layer_in = x
    for k, layer in enumerate(layers):
        run = layer(layer_in, h0[k], c0[k], keep[k])
        runs.append(run)
        layer_in = run.output
        if dropout > 0 and training and k < len(layers) - 1:
            layer_in = torch.nn.functional.dropout(layer_in, dropout, training=True)
    h_n = torch.stack([r.h_n for r in runs])
    c_n = torch.stack([r.c_n for r in runs])
    return runs[-1].output, h_n, c_n, runs
