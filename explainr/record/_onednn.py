"""LSTM gates and cell states read from oneDNN's training workspace instead of recomputed.

On CPU, PyTorch runs a float32 ``nn.LSTM`` through oneDNN, one primitive per layer and
direction (``aten::mkldnn_rnn_layer``). When grad mode is on, that primitive keeps what its
backward pass needs in a byte ``workspace``: the activated gates of every step and the cell
states. Reading them costs a copy; recomputing them costs two large matrix products.

The workspace layout is an internal detail of oneDNN (``src/cpu/rnn/rnn_utils.{hpp,cpp}``,
``set_workspace_sizes`` / ``set_offsets``); for one layer and one direction it is a sequence
of regions, each starting on a 4096-byte boundary, all float32:

=====================  ===============================  =========================
region                 shape                            leading dimension
=====================  ===============================  =========================
gates                  (T, B, ld) in processing order   ``good_ld(4 H)``
ht (for projections)   (T, B, ld), there even without   ``good_ld(H)``
states                 (layers + 1 = 2, T + 1, B, ld)   ``good_ld(max(F, H))``
cell states            (2, T + 1, B, H)                 H (not padded)
diff states (×2)       (2, T + 1, B, ld)                ``good_ld(max(F, H))``
diff cell states       (2, T + 1, B, H)                 H
=====================  ===============================  =========================

``good_ld(n)`` rounds n up to 16 floats (64 bytes), plus 16 more if the result is a multiple
of 256. Gates are i, f, g, o (PyTorch's order), already activated; "processing order" means
step p is time T-1-p for the reverse direction. The cell state after step p sits at
``cells[1, p + 1]`` for p < T-1; the last one goes straight to the primitive's ``cy`` output.

Because the layout can change with oneDNN, every use is checked: the workspace size must
match the layout above, and the gates of the last processed step (the region's far end)
and its cell state must equal a recomputation from the weights and the cell state before
(two small matrix products over one step, for the batch's first and last sequences).
On any mismatch the caller falls back to recomputing (`explainr.record._recompute`).

In grad mode PyTorch itself runs the training primitive, and so does this path (same op,
same arguments, same autograd graph): outputs and gradients stay bitwise those of an
unrecorded call. Under ``no_grad`` (and inference mode) PyTorch runs the inference
primitive, which keeps no workspace; this path then runs the training primitive inside a
local ``torch.enable_grad()`` on detached tensors (no graph is built, nothing requires
grad) and reads its workspace. Its outputs may differ from the inference primitive's in the
last bits (within 1e-6; we saw up to 1.2e-7). The training primitive is slower than the
inference one (1.05-1.2x per layer in isolation at B=64, H=64 on this project's 2-core VM,
1.2-1.7x when it was heavily loaded); recomputing even one gate after the inference
primitive cost more (0.26x of a layer for its quarter of the products), so this path is
taken. Long sequences run in time chunks (state carried over) so that a workspace never
exceeds ``_CHUNK_BYTES``: memory stays proportional to what is kept. Chunks are large on
purpose: every primitive call has a fixed cost of a few milliseconds here (T=100 in chunks
of 8 MB of workspace took 2.5x the unchunked call).

Reading costs one strided copy per kept region (all four gates: one ``(T, B, 4H)`` copy;
one gate: a ``(T, B, H)`` column slice), straight into time-major buffers of the kept
dtype; the records are batch-first views of those. What dominates what is left on this
project's VM is memory, not arithmetic: the training primitive writes gates, states and
cells for every step into a fresh workspace, and the kept records are fresh memory, and
first touches of fresh pages (minor page faults) cost several microseconds each there.

CUDA (designed, not tested: no device here). cuDNN runs ``nn.LSTM``/``nn.GRU`` on CUDA
(``aten::_cudnn_rnn``); its ``reserve`` output holds what its backward needs, but in a
layout cuDNN does not document and that depends on the algorithm it picks, so nothing is
read from it. The design keeps cuDNN for h (the model's own output, bitwise), then:

1. the input and hidden halves of the gate pre-activations for all steps as two batched
   products (h_{t-1} is known for every step from cuDNN's output), only the kept gates'
   rows, as `explainr.record._recompute` does;
2. for the LSTM cell state, ``torch._thnn_fused_lstm_cell(input_gates, hidden_gates, cx)``
   once per step: one fused launch gives ``(hy, cy, workspace)``, the workspace being the
   four activated gates, so gates and c come from PyTorch's own CUDA kernel, T launches
   in all (the recompute's per-step scan has the same count, with the activations
   batched).

Selection is by device, per layer: `usable` here and ``_gru.usable`` require CPU tensors,
so a CUDA layer gets the kernel and the recompute (step 1, plus a per-step scan for c)
today; a CUDA variant would be chosen in `explainr.record._patch` when
``x.device.type == "cuda"`` and ``torch._thnn_fused_lstm_cell`` exists, after it is
measured against the recompute on a device.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

counts: Counter[str] = Counter()  # "onednn": layer directions read from the workspace; "fallback"
_LSTM_MODE = 2  # ideep::rnn_kind::LSTM
KERNELS = ("lstm",)  # the torch._VF kernels whose gates oneDNN keeps in its workspace
_PAGE = 4096
_F32 = 4  # bytes
_TOL = 1e-5
_CHUNK_BYTES = 64 << 20  # workspace per no-grad call (long sequences run in time chunks)
_reported = False
_GATES = ("input", "forget", "cell", "output")  # PyTorch's order, as in the workspace


def _autocast_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_cpu_enabled()


def usable(x: Tensor, hx: tuple[Tensor, Tensor], weights: list[Tensor]) -> bool:
    """Whether this (unpacked) LSTM call can run through oneDNN's training primitive, as
    PyTorch runs it in grad mode (and, for recording, under ``no_grad`` too)."""
    tensors = [x, *hx, *weights]
    return (
        torch.backends.mkldnn.is_available()
        and torch._C._get_mkldnn_enabled()
        and not _autocast_cpu()
        and x.dim() == 3
        and x.numel() > 0
        and hx[0].shape[-1] == hx[1].shape[-1]  # no proj_size
        and all(
            t.device.type == "cpu" and t.dtype == torch.float32 and t.layout == torch.strided
            for t in tensors
        )
    )


def lstm_layer(
    kernel: Callable[[], Any],
    x: Tensor,
    hx: tuple[Tensor, Tensor],
    weights: list[Tensor],
    *,
    has_biases: bool,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
    gates: tuple[str, ...],
    want_cell: bool,
    dtype: torch.dtype | None = None,
) -> tuple[Any, list[dict[str, Tensor]] | None]:
    """Run one LSTM layer (all its directions) through oneDNN and read its gates from there.

    Call only where `usable` is True. In grad mode the call is PyTorch's own (same op, same
    autograd graph). Under ``no_grad`` (or inference mode) the training primitive runs
    inside a local ``enable_grad`` on detached tensors, in time chunks whose workspace stays
    under ``_CHUNK_BYTES``; no graph is built.

    Args:
        kernel: runs the layer through ``_VF.lstm``; used only if the oneDNN call fails.
        x: the layer input as the kernel gets it, ``(time, batch, features)`` or batch-first.
        hx: ``(h0, c0)``, each ``(directions, batch, hidden)``.
        weights: PyTorch's flat per-layer list, w_ih, w_hh[, b_ih, b_hh] per direction.
        gates, want_cell: what to return (gate names as in `_recompute.LSTM_GATES`).
        dtype: storage dtype of what is returned (default float32); the workspace is copied
            straight into buffers of this dtype (one pass, chunk by chunk).

    Returns:
        ``(output, h_n, c_n)`` as ``_VF.lstm`` gives them (bitwise in grad mode; under
        ``no_grad``, from the training primitive: equal to the inference one within 1e-6),
        and per direction a dict of batch-first ``(batch, time, hidden)`` tensors (gates by
        name, ``"c"`` for the cell state; views of time-major buffers), or None where the
        workspace could not be read or checked.
    """
    args = {
        "has_biases": has_biases,
        "train": train,
        "bidirectional": bidirectional,
        "batch_first": batch_first,
        "gates": gates,
        "want_cell": want_cell,
        "dtype": dtype or torch.float32,
    }
    try:
        if torch.is_grad_enabled():
            output, records = _with_graph(x, hx, weights, **args)
        else:
            output, records = _without_graph(x, hx, weights, **args)
    except (RuntimeError, NotImplementedError) as err:  # e.g. a tensor subclass or transform
        _report_fallback(None, x.shape, hx[0].shape[-1], err)
        counts["fallback"] += 1
        return kernel(), None
    if records is None:
        counts["fallback"] += 1
        return (output if output is not None else kernel()), None
    counts["onednn" if torch.is_grad_enabled() else "onednn_no_grad"] += len(records)
    return output, records


def _with_graph(x, hx, weights, *, bidirectional, batch_first, gates, want_cell, dtype, **flags):
    """Grad mode: one call per direction, its workspace read once, the graph PyTorch's."""
    dirs = 2 if bidirectional else 1
    per = len(weights) // dirs
    x_tm = (x.transpose(0, 1) if batch_first else x).contiguous()
    h0, c0 = hx[0].contiguous(), hx[1].contiguous()
    runs = [
        _run(
            x_tm,
            h0[d],
            c0[d],
            *weights[d * per : (d + 1) * per],
            reverse=d == 1,
            bidirectional=bidirectional,
            batch_first=batch_first,
            **flags,
        )
        for d in range(dirs)
    ]
    out = torch.cat([r[0] for r in runs], dim=-1) if dirs == 2 else runs[0][0]
    output = (  # as mkldnn_rnn assembles it
        out.transpose(0, 1) if batch_first else out,
        torch.stack([r[1] for r in runs]),
        torch.stack([r[2] for r in runs]),
    )
    records = []
    steps, batch, _ = x_tm.shape
    with torch.no_grad():
        for d, (out_d, _, cy, ws) in enumerate(runs):
            wd = [w.detach() for w in weights[d * per : (d + 1) * per]]
            cy = cy.detach()
            view = checked_views(
                ws, x_tm.detach(), out_d.detach(), h0[d].detach(), c0[d].detach(), cy, wd,
                reverse=d == 1,
            )  # fmt: skip
            if view is None:
                return output, None
            kept = Kept(steps, batch, out_d.shape[-1], gates, want_cell, dtype)
            kept.write(0, steps, *view, cy, reverse=d == 1)
            records.append(kept.result())
    return output, records


def _without_graph(x, hx, weights, *, bidirectional, batch_first, gates, want_cell, dtype, **flags):
    """No grad mode: the training primitive in a local ``enable_grad`` on detached tensors,
    time chunk by time chunk (state carried over), each chunk's workspace copied straight
    into the kept buffers and dropped.

    Returns ``(None, None)`` as soon as a workspace fails its check.
    """
    dirs = 2 if bidirectional else 1
    per = len(weights) // dirs
    x_tm = (x.transpose(0, 1) if batch_first else x).detach().contiguous()
    h0, c0 = hx[0].detach().contiguous(), hx[1].detach().contiguous()
    steps, batch, features = x_tm.shape
    hidden = h0.shape[-1]
    chunk = chunk_steps(batch, features, hidden)
    single = dirs == 1 and steps <= chunk  # the primitive's output is the layer's: no copy
    out = None if single else x_tm.new_empty(steps, batch, dirs * hidden)
    h_n, c_n, records = [], [], []
    for d in range(dirs):
        wd = [w.detach() for w in weights[d * per : (d + 1) * per]]
        h, c = h0[d], c0[d]
        kept = Kept(steps, batch, hidden, gates, want_cell, dtype)
        starts = range(0, steps, chunk)
        for s in reversed(starts) if d == 1 else starts:
            e = min(s + chunk, steps)
            h_in, c_in = h, c
            with torch.enable_grad():
                out_d, h, c, ws = _run(
                    x_tm[s:e],
                    h_in,
                    c_in,
                    *wd,
                    reverse=d == 1,
                    bidirectional=bidirectional,
                    batch_first=batch_first,
                    **flags,
                )
            view = checked_views(ws, x_tm[s:e], out_d, h_in, c_in, c, wd, reverse=d == 1)
            if view is None:
                return None, None
            kept.write(s, e, *view, c, reverse=d == 1)
            del ws, view
            if single:
                out = out_d
            else:
                out[s:e, :, d * hidden : (d + 1) * hidden] = out_d
        h_n.append(h)
        c_n.append(c)
        records.append(kept.result())
    output = (out.transpose(0, 1) if batch_first else out, torch.stack(h_n), torch.stack(c_n))
    return output, records


class Kept:
    """The kept gates and cell states of one direction, in time-major buffers of the storage
    dtype, filled from workspace views: one strided copy per region and chunk (converting on
    the way), nothing else allocated. All four gates share one ``(T, B, 4H)`` buffer."""

    def __init__(
        self,
        steps: int,
        batch: int,
        hidden: int,
        gates: tuple[str, ...],
        want_cell: bool,
        dtype: torch.dtype,
    ) -> None:
        self.hidden = hidden
        self.columns = {name: k for k, name in enumerate(_GATES) if name in gates}
        whole = len(self.columns) == len(_GATES)
        self.block = torch.empty(steps, batch, 4 * hidden, dtype=dtype) if whole else None
        self.gates = (
            {} if whole else {g: torch.empty(steps, batch, hidden, dtype=dtype) for g in gates}
        )
        self.cells = torch.empty(steps, batch, hidden, dtype=dtype) if want_cell else None

    def write(
        self, s: int, e: int, ws_gates: Tensor, ws_cells: Tensor, cy: Tensor, *, reverse: bool
    ) -> None:
        """Steps ``s:e`` (time order) from one chunk's views, which are in processing order:
        gates ``(e-s, B, 4H)``, cells after all but the chunk's last step, and ``cy``."""

        def timed(t: Tensor) -> Tensor:  # processing order to time order (reverse: a copy)
            return t.flip(0) if reverse else t

        if self.block is not None:
            self.block[s:e].copy_(timed(ws_gates))
        size = self.hidden
        for name, buf in self.gates.items():
            k = self.columns[name]
            buf[s:e].copy_(timed(ws_gates[..., k * size : (k + 1) * size]))
        if self.cells is not None:  # the chunk's last step's cell state is cy
            if reverse:
                self.cells[s].copy_(cy)
                self.cells[s + 1 : e].copy_(timed(ws_cells))
            else:
                self.cells[s : e - 1].copy_(ws_cells)
                self.cells[e - 1].copy_(cy)

    def result(self) -> dict[str, Tensor]:
        """Batch-first ``(B, T, H)`` views by gate name, and ``"c"``."""
        size = self.hidden
        if self.block is not None:
            out = {n: self.block[..., k * size : (k + 1) * size] for n, k in self.columns.items()}
        else:
            out = dict(self.gates)
        if self.cells is not None:
            out["c"] = self.cells
        return {name: t.transpose(0, 1) for name, t in out.items()}


def chunk_steps(batch: int, features: int, hidden: int) -> int:
    """Time steps per no-grad oneDNN call: its workspace stays under ``_CHUNK_BYTES``."""
    per_step = (
        batch
        * _F32
        * (
            _good_ld(4 * hidden)
            + _good_ld(hidden)
            + 6 * _good_ld(max(features, hidden))
            + 6 * hidden
        )
    )
    return max(1, _CHUNK_BYTES // per_step)


def _run(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    *w: Tensor,
    reverse: bool,
    has_biases: bool,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple:
    """One direction through ``aten::mkldnn_rnn_layer``, with the arguments ``mkldnn_rnn`` uses:
    ``(output (T, B, H), h_n, c_n, workspace)``."""
    if has_biases:
        b_ih, b_hh = w[2], w[3]
    else:  # what PyTorch passes (unused by the primitive when has_biases is False)
        b_ih, b_hh = torch.zeros_like(w[0]), torch.zeros_like(w[1])
    return torch.ops.aten.mkldnn_rnn_layer(
        x,
        w[0],
        w[1],
        b_ih,
        b_hh,
        h0,
        c0,
        reverse,
        [],
        _LSTM_MODE,
        h0.shape[-1],
        1,
        has_biases,
        bidirectional,
        batch_first,
        train,
    )


def checked_views(
    ws: Tensor | None,
    x: Tensor,
    h: Tensor,
    h0: Tensor,
    c0: Tensor,
    cy: Tensor,
    weights: list[Tensor],
    *,
    reverse: bool,
) -> tuple[Tensor, Tensor] | None:
    """Views of one direction's gates ``(T, B, 4H)`` and cell states ``(T-1, B, H)`` in its
    workspace (processing order), checked against the weights; None if unusable.

    ``x`` ``(T, B, F)`` and ``h`` ``(T, B, H)`` are time-major, ``h`` being the output of the
    same run.
    """
    steps, batch, features = x.shape
    hidden = h.shape[-1]
    view = _views(ws, steps, batch, features, hidden)
    if view is None or not _checks(x, h, h0, c0, cy, weights, *view, reverse=reverse):
        _report_fallback(ws, x.shape, hidden)
        return None
    return view


@functools.lru_cache(maxsize=256)
def workspace_layout(steps: int, batch: int, features: int, hidden: int) -> dict[str, int]:
    """Byte offsets of the gates and cell states, and the total size, for one direction
    (cached per shape: do not modify the returned dict)."""
    sizes = {  # in floats, in oneDNN's order
        "gates": steps * batch * _good_ld(4 * hidden),
        "ht": steps * batch * _good_ld(hidden),
        "states": 2 * (steps + 1) * batch * _good_ld(max(features, hidden)),
        "cells": 2 * (steps + 1) * batch * hidden,
        "diff_states_layer": 2 * (steps + 1) * batch * _good_ld(max(features, hidden)),
        "diff_states_iter": 2 * (steps + 1) * batch * _good_ld(max(features, hidden)),
        "diff_cells": 2 * (steps + 1) * batch * hidden,
        "grid": 0,
    }
    layout, offset = {}, 0
    for name, floats in sizes.items():
        offset = _round_up(offset, _PAGE)
        layout[name] = offset
        offset += floats * _F32
    layout["total"] = offset
    return layout


def _views(ws: Tensor | None, steps: int, batch: int, features: int, hidden: int):
    """(gates ``(T, B, 4H)``, cells after steps 0..T-2 ``(T-1, B, H)``), processing order."""
    if ws is None or ws.dtype != torch.uint8 or ws.dim() != 1:
        return None
    layout = workspace_layout(steps, batch, features, hidden)
    if ws.numel() != layout["total"]:
        return None
    floats = ws.view(torch.float32)
    ld = _good_ld(4 * hidden)
    ws_gates = floats[: steps * batch * ld].view(steps, batch, ld)[..., : 4 * hidden]
    start = layout["cells"] // _F32
    cells = floats[start : start + 2 * (steps + 1) * batch * hidden]
    ws_cells = cells.view(2, steps + 1, batch, hidden)[1, 1:steps]
    return ws_gates, ws_cells


def _checks(x, h, h0, c0, cy, weights, ws_gates, ws_cells, *, reverse: bool) -> bool:
    """The last processed step, from the weights, for the first and the last sequence of
    the batch: their four gates (which sit after all others, so a wrong offset or row
    length shows there) and cell states (from the cell state before, so a shifted cell
    region shows): two ``(2, ·)`` products and a dozen element-wise ops."""
    steps, batch, hidden = x.shape[0], x.shape[1], h.shape[-1]
    rows = slice(None, None, max(batch - 1, 1))  # sequences 0 and B - 1
    last = 0 if reverse else steps - 1
    if steps > 1:
        h_prev, c_prev = h[last + 1 if reverse else last - 1], ws_cells[-1]
    else:
        h_prev, c_prev = h0, c0
    h_prev, c_prev = h_prev[rows], c_prev[rows]
    if len(weights) == 4:
        pre = torch.addmm(weights[2] + weights[3], x[last, rows], weights[0].t())
    else:
        pre = x[last, rows] @ weights[0].t()
    pre.addmm_(h_prev, weights[1].t())
    g_pre = pre[:, 2 * hidden : 3 * hidden]
    g_pre.mul_(2)  # tanh(z) = 2σ(2z) - 1: one sigmoid for all four gates
    want = pre.sigmoid_()
    g_pre.mul_(2).sub_(1)
    got = ws_gates[-1, rows]
    i, f, g = got[:, :hidden], got[:, hidden : 2 * hidden], got[:, 2 * hidden : 3 * hidden]
    error = torch.maximum(
        (got - want).abs().max(), (torch.addcmul(i * g, f, c_prev) - cy[rows]).abs().max()
    )
    return bool(error <= _TOL)  # False for NaN too


def _report_fallback(
    ws: Tensor | None, shape: torch.Size, hidden: int, err: Exception | None = None
) -> None:
    """Say once, at debug level, that the workspace could not be used."""
    global _reported
    if _reported:
        return
    _reported = True
    why = (
        f"the oneDNN call failed ({err})"
        if err is not None
        else (
            f"its workspace ({None if ws is None else ws.numel()} bytes) does not have the "
            "expected layout or values"
        )
    )
    log.debug(
        "LSTM layer with input %s, hidden %d: %s; recomputing gates instead",
        tuple(shape),
        hidden,
        why,
    )


def _good_ld(n: int) -> int:
    """oneDNN's ``rnn_utils::get_good_ld`` for float32: 64-byte rows, avoiding 4K aliasing."""
    ld = _round_up(n, 64 // _F32)
    return ld + 64 // _F32 if ld % 256 == 0 else ld


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step
