"""A recurrent module's weights per layer and direction, and a float64 forward that keeps
every gate and state (what LRP and contextual decomposition propagate through).

Supported: ``nn.LSTM`` (layers, bidirectional; no ``proj_size``), ``nn.GRU`` (layers,
bidirectional) and `explainr.nn.PeepholeLSTM`. Sequences are kept in each direction's own
time order (the reverse direction's step 0 is the input's last step); `Run` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from explainr._core.cells import kind_of
from explainr._core.errors import ExplainrError


@dataclass(frozen=True)
class LayerWeights:
    """One layer and direction: ``w_ih`` ``(G*H, in)``, ``w_hh`` ``(G*H, H)``, ``b`` ``(G*H,)``."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor
    b_hh: Tensor
    peephole: tuple[Tensor, Tensor, Tensor] | None = None  # w_ci, w_cf, w_co (H,)


@dataclass(frozen=True)
class Recurrent:
    """What relevance methods need to know about one recurrent module."""

    name: str
    kind: str  # "lstm", "gru" or "peephole_lstm" (as `record` names them)
    weights: list[list[LayerWeights]]  # [layer][direction]
    hidden: int
    batch_first: bool

    @property
    def num_layers(self) -> int:
        """Stacked layers."""
        return len(self.weights)

    @property
    def num_directions(self) -> int:
        """1, or 2 when bidirectional."""
        return len(self.weights[0])

    @property
    def has_cell(self) -> bool:
        """Whether the module has a cell state (LSTMs)."""
        return self.kind != "gru"


@dataclass
class Run:
    """One layer and direction's forward, every tensor ``(batch, time, hidden)`` in the
    direction's time order; ``values`` holds gates (``i f g o`` / ``r z n``), pre-activations
    (``g_pre`` / ``n_pre``, GRU's ``s = W_hn h + b_hn``), ``c`` and ``h``."""

    x: Tensor  # (batch, time, in) this layer's input in the direction's time order
    values: dict[str, Tensor] = field(default_factory=dict)


def recurrent_of(module: nn.Module, name: str, method: str) -> Recurrent:
    """The `Recurrent` description of ``module``, or an `ExplainrError` naming it."""
    found = kind_of(module)
    kind = None if found is None else found.name
    if kind == "lstm" and getattr(module, "proj_size", 0) != 0:
        kind = None
    if kind not in ("lstm", "gru", "peephole_lstm"):
        raise ExplainrError(
            f"{method} does not support the recurrent module {name!r} "
            f"({type(module).__name__}{', proj_size > 0' if isinstance(module, nn.LSTM) else ''}"
            "); it supports nn.LSTM (no proj_size), nn.GRU and explainr.nn.PeepholeLSTM"
        )
    directions = 2 if getattr(module, "bidirectional", False) else 1
    layers = []
    for k in range(module.num_layers):
        row = []
        for d in range(directions):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            w_ih = getattr(module, "weight_ih" + suffix).detach()
            b_ih = getattr(module, "bias_ih" + suffix, None)
            b_hh = getattr(module, "bias_hh" + suffix, None)
            zero = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype, device=w_ih.device)
            peep = None
            if kind == "peephole_lstm":
                peep = tuple(
                    getattr(module, f"weight_{g}{suffix}").detach() for g in ("ci", "cf", "co")
                )
            row.append(
                LayerWeights(
                    w_ih,
                    getattr(module, "weight_hh" + suffix).detach(),
                    zero if b_ih is None else b_ih.detach(),
                    zero if b_hh is None else b_hh.detach(),
                    peep,  # type: ignore[arg-type]
                )
            )
        layers.append(row)
    return Recurrent(name, kind, layers, module.hidden_size, bool(module.batch_first))


def forward(rec: Recurrent, x: Tensor) -> tuple[tuple, list[list[Run]]]:
    """Run ``rec`` on ``x`` (the module's layout) keeping everything.

    LSTM and GRU layers take their hidden sequences from PyTorch's fused kernel (one call per
    layer, both directions) and recompute the gates from them with one batched matrix product
    per layer and direction; only the LSTM cell state is scanned step by step (one fused
    multiply-add per step, all layers and directions at once). Peephole LSTMs are stepped.

    Returns the module's own result (``(output, (h_n, c_n))`` or ``(output, h_n)``, float64)
    and the runs ``[layer][direction]``.
    """
    seq = x if rec.batch_first else x.transpose(0, 1)  # (B, T, in)
    runs: list[list[Run]] = []
    for layer in rec.weights:
        if rec.kind == "peephole_lstm":
            row = [_lstm(w, seq.flip(1) if d else seq) for d, w in enumerate(layer)]
        else:
            row = _fused_layer(rec, layer, seq)
        runs.append(row)
        seq = torch.cat([_aligned(r.values["h"], d) for d, r in enumerate(row)], dim=-1)
    if rec.kind == "lstm":
        _scan_cells([r for row in runs for r in row])
    output = seq if rec.batch_first else seq.transpose(0, 1)
    h_n = torch.stack([r.values["h"][:, -1] for row in runs for r in row])
    if not rec.has_cell:
        return (output, h_n), runs
    c_n = torch.stack([r.values["c"][:, -1] for row in runs for r in row])
    return (output, (h_n, c_n)), runs


def _fused_layer(rec: Recurrent, layer: list[LayerWeights], seq: Tensor) -> list[Run]:
    """One ``nn.LSTM``/``nn.GRU`` layer (all directions): hidden sequences from the fused
    kernel, gates recomputed batched over time; LSTM ``c`` is filled in by `_scan_cells`."""
    batch = seq.shape[0]
    hidden = rec.hidden
    params = [t for w in layer for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh)]
    h0 = seq.new_zeros(len(layer), batch, hidden)
    bidirectional = len(layer) == 2
    if rec.has_cell:
        out = torch.lstm(seq, (h0, h0), params, True, 1, 0.0, False, bidirectional, True)[0]
    else:
        out = torch.gru(seq, h0, params, True, 1, 0.0, False, bidirectional, True)[0]
    row = []
    for d, w in enumerate(layer):
        inp = _aligned(seq, d)
        h = _aligned(out[..., d * hidden : (d + 1) * hidden], d).contiguous()
        h_prev = torch.cat([h.new_zeros(batch, 1, hidden), h[:, :-1]], dim=1)
        row.append(
            _lstm_gates(w, inp, h, h_prev) if rec.has_cell else _gru_gates(w, inp, h, h_prev)
        )
    return row


def _lstm_gates(w: LayerWeights, x: Tensor, h: Tensor, h_prev: Tensor) -> Run:
    pre = torch.baddbmm(
        (w.b_ih + w.b_hh).expand(x.shape[0], 1, -1), x, w.w_ih.T.expand(x.shape[0], -1, -1)
    )
    pre.baddbmm_(h_prev, w.w_hh.T.expand(x.shape[0], -1, -1))
    pre_g = pre.chunk(4, dim=-1)[2]
    i, f, _, o = torch.sigmoid(pre).chunk(4, dim=-1)  # one contiguous pass beats three views
    return Run(x, {"i": i, "f": f, "g": torch.tanh(pre_g), "o": o, "g_pre": pre_g, "h": h})


def _gru_gates(w: LayerWeights, x: Tensor, h: Tensor, h_prev: Tensor) -> Run:
    pre_x = x @ w.w_ih.T + w.b_ih
    pre_h = h_prev @ w.w_hh.T + w.b_hh
    xr, xz, xn = pre_x.chunk(3, dim=-1)
    hr, hz, s = pre_h.chunk(3, dim=-1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n_pre = xn + r * s
    return Run(x, {"r": r, "z": z, "n": torch.tanh(n_pre), "n_pre": n_pre, "s": s, "h": h})


def _scan_cells(runs: list[Run]) -> None:
    """``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t`` for every run at once (one op per step)."""
    f = torch.cat([r.values["f"] for r in runs])  # (runs * B, T, H)
    c = torch.cat([r.values["i"] * r.values["g"] for r in runs])
    for t in range(1, c.shape[1]):
        c[:, t].addcmul_(f[:, t], c[:, t - 1])
    for r, part in zip(runs, c.split(len(runs[0].x)), strict=True):
        r.values["c"] = part


def _aligned(seq: Tensor, direction: int) -> Tensor:
    return seq.flip(1) if direction else seq


def aligned(seq: Tensor, direction: int) -> Tensor:
    """A sequence ``(batch, time, ...)`` in a direction's time order, put in input order."""
    return _aligned(seq, direction)


def _lstm(w: LayerWeights, x: Tensor) -> Run:
    batch, steps, _ = x.shape
    hidden = w.w_hh.shape[1]
    pre_x = x @ w.w_ih.T + w.b_ih + w.b_hh
    h = x.new_zeros(batch, hidden)
    c = x.new_zeros(batch, hidden)
    keep: dict[str, list[Tensor]] = {k: [] for k in ("i", "f", "g", "o", "g_pre", "c", "h")}
    for t in range(steps):
        pre_i, pre_f, pre_g, pre_o = (pre_x[:, t] + h @ w.w_hh.T).chunk(4, dim=-1)
        if w.peephole is not None:
            pre_i = pre_i + w.peephole[0] * c
            pre_f = pre_f + w.peephole[1] * c
        i, f, g = torch.sigmoid(pre_i), torch.sigmoid(pre_f), torch.tanh(pre_g)
        c = f * c + i * g
        if w.peephole is not None:
            pre_o = pre_o + w.peephole[2] * c
        o = torch.sigmoid(pre_o)
        h = o * torch.tanh(c)
        for k, v in zip(keep, (i, f, g, o, pre_g, c, h), strict=True):
            keep[k].append(v)
    return Run(x, {k: torch.stack(v, dim=1) for k, v in keep.items()})


def _gru(w: LayerWeights, x: Tensor) -> Run:
    batch, steps, _ = x.shape
    hidden = w.w_hh.shape[1]
    pre_x = x @ w.w_ih.T + w.b_ih
    h = x.new_zeros(batch, hidden)
    keep: dict[str, list[Tensor]] = {k: [] for k in ("r", "z", "n", "n_pre", "s", "h")}
    for t in range(steps):
        xr, xz, xn = pre_x[:, t].chunk(3, dim=-1)
        hr, hz, s = (h @ w.w_hh.T + w.b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n_pre = xn + r * s
        n = torch.tanh(n_pre)
        h = (1 - z) * n + z * h
        for k, v in zip(keep, (r, z, n, n_pre, s, h), strict=True):
            keep[k].append(v)
    return Run(x, {k: torch.stack(v, dim=1) for k, v in keep.items()})
