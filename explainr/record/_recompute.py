"""Gates and cell states recomputed from a fused kernel's hidden-state sequence.

The fused kernel gives h_t for every step of a layer. The gates at step t depend only on
the layer input x_t and h_{t-1}, so all of them come from two batched matrix products over
the whole sequence instead of T small ones, restricted to the rows of the gates needed
(one LSTM gate kept: a quarter of the products; the cell state needs i, f and g). The
LSTM cell state then needs one fused multiply-add per step (c_t = f_t * c_{t-1} + i_t g_t). Time is processed in chunks so the
pre-activations never need more than ``_CHUNK_ELEMS`` floats at once.

All tensors are batch-first: x ``(B, T, F)``, h ``(B, T, H)``; ``lengths`` (B,) marks padded
steps (packed input), which come back NaN.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import Tensor

counts: Counter[str] = Counter()  # "lstm" / "gru": directions whose gates were recomputed
_CHUNK_ELEMS = 1 << 22  # pre-activation floats per time chunk (16 MB in float32)

LSTM_GATES = ("input", "forget", "cell", "output")
GRU_GATES = ("reset", "update", "new")


def previous_hidden(h: Tensor, h0: Tensor, reverse: bool, lengths: Tensor | None) -> Tensor:
    """h_{t-1} as seen by step t, ``(B, T, H)``: h0 at a sequence's first step.

    For the reverse direction the previous step is t+1, and a sequence's first step is its
    last valid one.
    """
    if not reverse:
        return torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)
    shifted = torch.cat([h[:, 1:], h0.unsqueeze(1)], dim=1)
    if lengths is None:
        return shifted
    steps = torch.arange(h.shape[1], device=h.device)
    first = (steps.unsqueeze(0) >= (lengths.to(h.device).unsqueeze(1) - 1)).unsqueeze(-1)
    return torch.where(first, h0.unsqueeze(1).expand_as(shifted), shifted)


def lstm_layer(
    x: Tensor,
    h: Tensor,
    h0: Tensor,
    c0: Tensor,
    weights: list[Tensor],
    *,
    reverse: bool,
    lengths: Tensor | None,
    gates: tuple[str, ...],
    want_cell: bool,
) -> dict[str, Tensor]:
    """Gates (by name) and, if ``want_cell``, the cell state ``"c"`` of one LSTM direction.

    ``weights`` is PyTorch's per-direction list: w_ih, w_hh[, b_ih, b_hh][, w_hr].
    Nothing asked for (hidden states only): nothing computed.
    """
    if not gates and not want_cell:
        return {}
    counts["lstm"] += 1
    hidden = weights[0].shape[0] // 4
    batch, steps = x.shape[0], x.shape[1]
    h_prev = previous_hidden(h, h0, reverse, lengths)
    need = set(gates) | ({"input", "forget", "cell"} if want_cell else set())
    names = tuple(g for g in LSTM_GATES if g in need)  # only these gates' rows are computed
    w_ih, w_hh, b = _rows(weights, [LSTM_GATES.index(g) for g in names], hidden, summed=True)
    chunk = max(1, _CHUNK_ELEMS // max(1, batch * len(names) * hidden))
    # Keeping every gate of a sequence that fits one chunk: the activated pre-activation
    # buffer is the storage, and the gates are views of it (no copies).
    as_views = len(gates) == len(LSTM_GATES) and steps <= chunk
    out = {} if as_views else {g: x.new_empty(batch, steps, hidden) for g in gates}
    c = x.new_empty(batch, steps, hidden) if want_cell else None
    reset = _reset_mask(lengths, steps, x.device) if (want_cell and reverse) else None
    c_prev = c0
    starts = range(0, steps, chunk)
    for s in reversed(starts) if reverse else starts:
        e = min(s + chunk, steps)
        pre = _linear(x[:, s:e], w_ih, b)
        pre.view(-1, w_ih.shape[0]).addmm_(h_prev[:, s:e].reshape(-1, h_prev.shape[-1]), w_hh.t())
        act = {}
        for k, name in enumerate(names):
            z = pre[..., k * hidden : (k + 1) * hidden]
            act[name] = _tanh_(z) if name == "cell" else z.sigmoid_()
            if as_views:
                out[name] = act[name]
            elif name in out:
                out[name][:, s:e] = act[name]
        if c is not None:  # c_t = f_t * c_{t-1} + i_t * g_t, with i * g written into c first
            torch.mul(act["input"], act["cell"], out=c[:, s:e])
            f = act["forget"]
            for t in reversed(range(e - s)) if reverse else range(e - s):
                if reset is not None:
                    c_prev = torch.where(reset[:, s + t, None], c0, c_prev)
                c_prev = c[:, s + t].addcmul_(f[:, t], c_prev)
    if c is not None:
        out["c"] = c
    return _mask(out, lengths)


def gru_layer(
    x: Tensor,
    h: Tensor,
    h0: Tensor,
    weights: list[Tensor],
    *,
    reverse: bool,
    lengths: Tensor | None,
    gates: tuple[str, ...],
) -> dict[str, Tensor]:
    """Gates of one GRU direction, PyTorch's equations:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
    Nothing asked for (hidden states only): nothing computed.
    """
    if not gates:
        return {}
    counts["gru"] += 1
    hidden = weights[0].shape[0] // 3
    batch, steps = x.shape[0], x.shape[1]
    h_prev = previous_hidden(h, h0, reverse, lengths)
    out = {g: x.new_empty(batch, steps, hidden) for g in gates}
    # Only the rows needed: r and z as one sum of both products, n's two halves apart.
    sums = [k for k, g in enumerate(GRU_GATES[:2]) if g in gates or (k == 0 and "new" in gates)]
    w_ih, w_hh, b = _rows(weights, sums, hidden, summed=True)
    if "new" in gates:
        w_in, w_hn, b_in_hn = _rows(weights, [2], hidden, summed=False)
    chunk = max(1, _CHUNK_ELEMS // max(1, batch * 4 * hidden))
    for s in range(0, steps, chunk):
        e = min(s + chunk, steps)
        pre = _linear(x[:, s:e], w_ih, b)
        pre.view(-1, w_ih.shape[0]).addmm_(h_prev[:, s:e].reshape(-1, h_prev.shape[-1]), w_hh.t())
        act = dict(zip([GRU_GATES[k] for k in sums], pre.split(hidden, dim=-1), strict=True))
        for name in act:
            act[name].sigmoid_()
            if name in out:
                out[name][:, s:e] = act[name]
        if "new" in out:
            gi_n = _linear(x[:, s:e], w_in, b_in_hn[0])
            gh_n = _linear(h_prev[:, s:e], w_hn, b_in_hn[1])
            out["new"][:, s:e] = _tanh_(gi_n.addcmul_(act["reset"], gh_n))
    return _mask(out, lengths)


def _rows(weights: list[Tensor], blocks: list[int], hidden: int, *, summed: bool):
    """``(w_ih, w_hh, bias)`` restricted to the given gate blocks of ``hidden`` rows each.
    The bias is ``b_ih + b_hh`` if ``summed``, else the pair ``(b_ih, b_hh)``; None (or
    ``(None, None)``) without biases. ``weights``: w_ih, w_hh[, b_ih, b_hh][, w_hr]."""

    def take(t: Tensor) -> Tensor:
        if blocks == list(range(t.shape[0] // hidden)):
            return t
        return torch.cat([t[k * hidden : (k + 1) * hidden] for k in blocks])

    has_bias = len(weights) in (4, 5)
    w_ih, w_hh = take(weights[0]), take(weights[1])
    if not has_bias:
        return w_ih, w_hh, (None if summed else (None, None))
    b_ih, b_hh = take(weights[2]), take(weights[3])
    return w_ih, w_hh, (b_ih + b_hh if summed else (b_ih, b_hh))


def _tanh_(z: Tensor) -> Tensor:
    """In-place tanh as 2σ(2z) - 1: the same values to float32 rounding (absolute error
    ~1e-7), and several times faster than ``tanh_`` on CPU builds whose tanh is not vectorised."""
    return z.mul_(2).sigmoid_().mul_(2).sub_(1)


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    flat = x.reshape(-1, x.shape[-1])
    y = torch.addmm(b, flat, w.t()) if b is not None else flat @ w.t()
    return y.view(x.shape[0], x.shape[1], w.shape[0])


def _reset_mask(lengths: Tensor | None, steps: int, device: torch.device) -> Tensor | None:
    """(B, T) True where a reverse scan starts afresh from c0 (a sequence's last valid step)."""
    if lengths is None:
        return None
    t = torch.arange(steps, device=device)
    return t.unsqueeze(0) >= (lengths.to(device).unsqueeze(1) - 1)


def _mask(out: dict[str, Tensor], lengths: Tensor | None) -> dict[str, Tensor]:
    if lengths is None:
        return out
    steps = next(iter(out.values())).shape[1] if out else 0
    pad = torch.arange(steps).unsqueeze(0) >= lengths.cpu().unsqueeze(1)
    if pad.any():
        for v in out.values():
            v[pad.to(v.device)] = float("nan")
    return out
