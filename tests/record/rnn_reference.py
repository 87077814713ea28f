"""A step-by-step LSTM / GRU written from the equations in PyTorch's nn.LSTM and nn.GRU docs.

Independent of explainr: one sequence and one time step at a time, in float64, from the
module's named parameters (``weight_ih_l1_reverse``, ``bias_hh_l0``, ``weight_hr_l0``, ...).
The reverse direction runs a sequence backwards from its last valid step and its results are
put back at the input time of each step. Steps past a sequence's length are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

LSTM_GATES = ("input", "forget", "cell", "output")
GRU_GATES = ("reset", "update", "new")


def lstm_step(x: Tensor, h: Tensor, c: Tensor, p: dict[str, Tensor | None]):
    """One nn.LSTM step: gates by name, h', c'."""
    w_ii, w_if, w_ig, w_io = p["w_ih"].chunk(4)
    w_hi, w_hf, w_hg, w_ho = p["w_hh"].chunk(4)
    b_ii, b_if, b_ig, b_io = _bias_chunks(p["b_ih"], 4)
    b_hi, b_hf, b_hg, b_ho = _bias_chunks(p["b_hh"], 4)
    i = torch.sigmoid(w_ii @ x + b_ii + w_hi @ h + b_hi)
    f = torch.sigmoid(w_if @ x + b_if + w_hf @ h + b_hf)
    g = torch.tanh(w_ig @ x + b_ig + w_hg @ h + b_hg)
    o = torch.sigmoid(w_io @ x + b_io + w_ho @ h + b_ho)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if p["w_hr"] is not None:
        h_new = p["w_hr"] @ h_new
    return {"input": i, "forget": f, "cell": g, "output": o}, h_new, c_new


def gru_step(x: Tensor, h: Tensor, p: dict[str, Tensor | None]):
    """One nn.GRU step: gates by name, h'."""
    w_ir, w_iz, w_in = p["w_ih"].chunk(3)
    w_hr, w_hz, w_hn = p["w_hh"].chunk(3)
    b_ir, b_iz, b_in = _bias_chunks(p["b_ih"], 3)
    b_hr, b_hz, b_hn = _bias_chunks(p["b_hh"], 3)
    r = torch.sigmoid(w_ir @ x + b_ir + w_hr @ h + b_hr)
    z = torch.sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz)
    n = torch.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn))
    h_new = (1 - z) * n + z * h
    return {"reset": r, "update": z, "new": n}, h_new


def _bias_chunks(b: Tensor | None, n: int) -> tuple:
    return (0.0,) * n if b is None else b.chunk(n)


def _params(module: nn.Module, suffix: str) -> dict[str, Tensor | None]:
    def get(name: str) -> Tensor | None:
        t = getattr(module, name + suffix, None)
        return None if t is None else t.detach().double()

    return {
        n: get(w)
        for n, w in [
            ("w_ih", "weight_ih"),
            ("w_hh", "weight_hh"),
            ("b_ih", "bias_ih"),
            ("b_hh", "bias_hh"),
            ("w_hr", "weight_hr"),
        ]
    }


@dataclass
class Reference:
    """Reference results, batch-first float64 ``(batch, time, units)``, NaN past a length."""

    gates: dict[tuple[str, int, int], Tensor] = field(default_factory=dict)  # (gate, layer, dir)
    cells: dict[tuple[int, int], Tensor] = field(default_factory=dict)  # (layer, dir)
    hidden: dict[tuple[int, int], Tensor] = field(default_factory=dict)
    output: Tensor | None = None  # (batch, time, directions * units), last layer
    h_n: Tensor | None = None  # (layers * directions, batch, units)
    c_n: Tensor | None = None


def rnn_reference(
    module: nn.LSTM | nn.GRU,
    x: Tensor,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    lengths: list[int] | None = None,
) -> Reference:
    """Run ``module`` (nn.LSTM or nn.GRU, eval semantics) step by step.

    Args:
        x: (batch, time, features) whatever ``module.batch_first`` says.
        h0, c0: (layers * directions, batch, units) or None for zeros.
        lengths: valid steps per sequence, or None for all.
    """
    is_lstm = isinstance(module, nn.LSTM)
    gate_names = LSTM_GATES if is_lstm else GRU_GATES
    dirs = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    out_size = module.proj_size if is_lstm and module.proj_size > 0 else hidden
    batch, steps = x.shape[0], x.shape[1]
    lengths = [steps] * batch if lengths is None else list(lengths)
    x = x.detach().double()
    h0 = (
        x.new_zeros(module.num_layers * dirs, batch, out_size)
        if h0 is None
        else h0.detach().double()
    )
    c0 = (
        x.new_zeros(module.num_layers * dirs, batch, hidden) if c0 is None else c0.detach().double()
    )
    nan = float("nan")
    ref = Reference(h_n=torch.zeros_like(h0), c_n=torch.zeros_like(c0) if is_lstm else None)
    layer_in = x
    for layer in range(module.num_layers):
        layer_out = []
        for d in range(dirs):
            p = _params(module, f"_l{layer}" + ("_reverse" if d else ""))
            gates = {g: x.new_full((batch, steps, hidden), nan) for g in gate_names}
            cells = x.new_full((batch, steps, hidden), nan)
            hs = x.new_full((batch, steps, out_size), nan)
            row = layer * dirs + d
            for b in range(batch):
                h, c = h0[row, b], c0[row, b]
                order = range(lengths[b])
                for t in reversed(order) if d else order:
                    if is_lstm:
                        g_t, h, c = lstm_step(layer_in[b, t], h, c, p)
                        cells[b, t] = c
                    else:
                        g_t, h = gru_step(layer_in[b, t], h, p)
                    for g in gate_names:
                        gates[g][b, t] = g_t[g]
                    hs[b, t] = h
                ref.h_n[row, b] = h
                if is_lstm:
                    ref.c_n[row, b] = c
            ref.gates.update({(g, layer, d): v for g, v in gates.items()})
            if is_lstm:
                ref.cells[(layer, d)] = cells
            ref.hidden[(layer, d)] = hs
            layer_out.append(hs)
        layer_in = torch.cat(layer_out, dim=-1)
    ref.output = layer_in
    return ref


def cell_reference(
    cell: nn.LSTMCell | nn.GRUCell, xs: Tensor, h0: Tensor | None = None, c0: Tensor | None = None
) -> Reference:
    """Step an nn.LSTMCell / nn.GRUCell over ``xs`` (batch, time, features) like a user loop.

    Results are stored as layer 0, direction 0.
    """
    is_lstm = isinstance(cell, nn.LSTMCell)
    gate_names = LSTM_GATES if is_lstm else GRU_GATES
    p = _params(cell, "")
    xs = xs.detach().double()
    batch, steps = xs.shape[0], xs.shape[1]
    size = cell.hidden_size
    h0 = xs.new_zeros(batch, size) if h0 is None else h0.detach().double()
    c0 = xs.new_zeros(batch, size) if c0 is None else c0.detach().double()
    gates = {g: xs.new_empty(batch, steps, size) for g in gate_names}
    cells = xs.new_empty(batch, steps, size)
    hs = xs.new_empty(batch, steps, size)
    for b in range(batch):
        h, c = h0[b], c0[b]
        for t in range(steps):
            if is_lstm:
                g_t, h, c = lstm_step(xs[b, t], h, c, p)
                cells[b, t] = c
            else:
                g_t, h = gru_step(xs[b, t], h, p)
            for g in gate_names:
                gates[g][b, t] = g_t[g]
            hs[b, t] = h
    ref = Reference(gates={(g, 0, 0): v for g, v in gates.items()}, hidden={(0, 0): hs})
    if is_lstm:
        ref.cells[(0, 0)] = cells
    return ref
