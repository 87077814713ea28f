"""An nn.GRU layer run step by step on CPU, its gates kept as they are computed.

PyTorch has no fused GRU on CPU: ``_VF.gru`` computes the input half of every step with one
matrix product, then loops over time in C++, a dozen ATen ops per step
(``aten/src/ATen/native/RNN.cpp``, ``GRUCell`` with ``pre_compute_input``). This module runs
the same equations from Python, with the same one product for the input half, so the
gates cost no product beyond the kernel's own; under ``no_grad`` in eight ops per step::

    gi = x W_ih^T + b_ih                    (all steps at once)
    gh = h W_hh^T + b_hh                    (each step)
    r, z = σ(gh_rz + gi_rz)                 (one sigmoid)
    n = tanh(gi_n + gh_n * r)               (mul, add, tanh: PyTorch's order)
    h' = (h - n) z + n                      (sub, mul, add: PyTorch's order)

In grad mode the loop runs PyTorch's own dozen ops per step instead, in its order (outputs
and gradients bitwise those of ``_VF.gru`` in our tests; fewer, fused ops changed gradients
by up to 2e-6). Under ``no_grad`` the ops write into their step's slice of a
preallocated ``(time, batch, ·)`` buffer, a gate that is not kept into a one-step scratch
buffer, with PyTorch's arithmetic in PyTorch's order: outputs bitwise ``_VF.gru``'s in our
tests (``addcmul`` and ``lerp`` were a little faster but rounded differently: 4e-6 on
outputs of size 17).

Measured against the issue's alternative (the kernel for h, then the gates recomputed with
batched products from it, only the rows needed): that costs a second product over all
steps and was slower in both modes (1.65-1.8x the plain forward with every gate kept,
against 1.1x under ``no_grad`` and 1.4x in grad mode here), so this loop is the fast path.

CUDA (not used here): cuDNN's GRU is fused and its reserve space opaque, so there the
kernel runs for h and the gates are recomputed from it (`explainr.record._recompute`);
this loop would cost a launch per op and step.
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F
from torch import Tensor

KERNELS = ("gru",)  # the torch._VF kernels this fast path serves

counts: Counter[str] = Counter()  # "gru_steps": layer directions run by this module


def _autocast_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_cpu_enabled()


def usable(x: Tensor, h0: Tensor, weights: list[Tensor]) -> bool:
    """Whether this (unpacked) GRU layer call can run here: CPU, floating point, strided."""
    tensors = [x, h0, *weights]
    return (
        x.dim() == 3
        and x.numel() > 0
        and not _autocast_cpu()
        and all(
            t.device.type == "cpu"
            and t.dtype in (torch.float32, torch.float64)
            and t.dtype == x.dtype
            and t.layout == torch.strided
            for t in tensors
        )
    )


def gru_layer(
    x: Tensor,
    h0: Tensor,
    weights: list[Tensor],
    *,
    has_biases: bool,
    bidirectional: bool,
    batch_first: bool,
    gates: tuple[str, ...],
) -> tuple[tuple[Tensor, Tensor], list[dict[str, Tensor]]]:
    """Run one GRU layer (all its directions) as ``_VF.gru`` does and keep its gates.

    Args:
        x: the layer input as the kernel gets it, ``(time, batch, features)`` or batch-first.
        h0: ``(directions, batch, hidden)``.
        weights: PyTorch's flat per-layer list, w_ih, w_hh[, b_ih, b_hh] per direction.
        gates: names to return (``"reset"``, ``"update"``, ``"new"``).

    Returns:
        ``(output, h_n)`` as ``_VF.gru`` gives them (output batch-first if ``batch_first``),
        and per direction a dict of batch-first ``(batch, time, hidden)`` gates.
    """
    dirs = 2 if bidirectional else 1
    per = len(weights) // dirs
    x_tm = x.transpose(0, 1) if batch_first else x
    hidden = h0.shape[-1]
    grad = torch.is_grad_enabled()
    step = _steps_with_graph if grad else _steps
    outs, finals, records = [], [], []
    for d in range(dirs):
        w = weights[d * per : (d + 1) * per]
        b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
        gi = F.linear(x_tm, w[0], b_ih)  # (T, B, 3H), as the kernel's input product
        out, h_n, kept = step(gi, h0[d], w[1], b_hh, reverse=d == 1, gates=gates)
        outs.append(out)
        finals.append(h_n)
        records.append(_gates(kept, hidden, gates))
    out = torch.cat(outs, dim=-1) if dirs == 2 else outs[0]
    counts["gru_steps"] += dirs
    return (out.transpose(0, 1) if batch_first else out, torch.stack(finals)), records


def _steps(
    gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, *, reverse: bool, gates: tuple
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """No grad mode: six ops per step, each writing into its step's slice of a preallocated
    buffer; a gate that is not kept goes to a one-step scratch buffer instead (memory is
    what is kept, plus the output)."""
    steps, batch, three = gi.shape
    hidden = three // 3
    out = gi.new_empty(steps, batch, hidden)
    gh = gi.new_empty(batch, three)
    gh_rz, gh_n = gh[:, : 2 * hidden], gh[:, 2 * hidden :]
    gi_rz, gi_n = gi[..., : 2 * hidden].unbind(0), gi[..., 2 * hidden :].unbind(0)
    kept: dict[str, Tensor] = {}
    if "reset" in gates and "update" in gates:  # one sigmoid for both, one buffer
        kept["rz"] = gi.new_empty(steps, batch, 2 * hidden)
        rz_t = kept["rz"].unbind(0)
        r_t, z_t = kept["rz"][..., :hidden].unbind(0), kept["rz"][..., hidden:].unbind(0)
    else:
        rz_t = None
        r_t, z_t = (_per_step(gi, name, gates, kept) for name in ("reset", "update"))
    n_t = _per_step(gi, "new", gates, kept)
    out_t = out.unbind(0)
    diff = gi.new_empty(batch, hidden)
    w_t = w_hh.t()
    for t in reversed(range(steps)) if reverse else range(steps):
        if b_hh is None:
            torch.mm(h, w_t, out=gh)
        else:
            torch.addmm(b_hh, h, w_t, out=gh)
        gh_rz.add_(gi_rz[t])
        if rz_t is not None:
            torch.sigmoid(gh_rz, out=rz_t[t])
        else:
            torch.sigmoid(gh_rz[:, :hidden], out=r_t[t])
            torch.sigmoid(gh_rz[:, hidden:], out=z_t[t])
        # PyTorch's own arithmetic, in its order (not addcmul / lerp, which round differently):
        # outputs bitwise those of _VF.gru in our tests, as in grad mode
        torch.add(gi_n[t], gh_n.mul_(r_t[t]), out=n_t[t]).tanh_()
        torch.sub(h, n_t[t], out=diff).mul_(z_t[t])
        h = torch.add(diff, n_t[t], out=out_t[t])  # (h - n) z + n
    return out, h, kept


def _per_step(gi: Tensor, name: str, gates: tuple, kept: dict[str, Tensor]) -> list[Tensor]:
    """Per time step, where gate ``name`` is written: its kept buffer, or one scratch."""
    steps, batch, three = gi.shape
    if name in gates:
        kept[name] = gi.new_empty(steps, batch, three // 3)
        return list(kept[name].unbind(0))
    return [gi.new_empty(batch, three // 3)] * steps


def _steps_with_graph(
    gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, *, reverse: bool, gates: tuple
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Grad mode: PyTorch's own ops in its order, without ``out=``; autograd records them
    (outputs and gradients bitwise those of ``_VF.gru`` in our tests)."""
    steps = gi.shape[0]
    w_t = w_hh.t()
    gi_r, gi_z, gi_n = (g.unbind(0) for g in gi.unsafe_chunk(3, dim=-1))
    hs, rs, zs, ns = [], [], [], []
    for t in reversed(range(steps)) if reverse else range(steps):
        gh = torch.addmm(b_hh, h, w_t) if b_hh is not None else h.matmul(w_t)
        gh_r, gh_z, gh_n = gh.unsafe_chunk(3, dim=1)
        r = gh_r.add_(gi_r[t]).sigmoid_()
        z = gh_z.add_(gi_z[t]).sigmoid_()
        n = gi_n[t].add(gh_n.mul_(r)).tanh_()
        h = (h - n).mul_(z).add_(n)
        hs.append(h)
        rs.append(r)
        zs.append(z)
        ns.append(n)
    if reverse:  # back in time order
        for steps_list in (hs, rs, zs, ns):
            steps_list.reverse()
    steps_of = {"reset": rs, "update": zs, "new": ns}
    with torch.no_grad():  # only the kept gates are stacked
        kept = {name: torch.stack(steps_of[name]) for name in gates}
    return torch.stack(hs), h, kept


def _gates(kept: dict[str, Tensor], hidden: int, gates: tuple[str, ...]) -> dict[str, Tensor]:
    """Batch-first gates; r and z are views of one buffer where both are kept."""
    if "rz" in kept:
        rz = kept.pop("rz")
        for k, name in enumerate(("reset", "update")):
            kept[name] = rz[..., k * hidden : (k + 1) * hidden]
    return {name: kept[name].transpose(0, 1) for name in gates}
