"""Masked windows that begin alike share their recurrent run up to where they part.

Perturbation methods (kernel SHAP, exact Shapley, LIME, the deletion and insertion metrics)
evaluate the model on many copies of one window in which some cells are replaced by the
baseline. When the masks are blocks of time, most copies agree over their first steps: of
1026 kernel-SHAP coalitions over 4 time blocks x 3 features at most 8 differ in the first
block, 64 in the first two. A recurrent layer's state after step t depends only on its
inputs up to t, so rows whose inputs agree bit for bit up to t have the same state there.

`sharing_prefixes(model, starts)` makes every unidirectional ``nn.LSTM``, ``nn.GRU`` and
``nn.RNN`` in ``model`` run segment by segment inside the block (``starts`` are the steps
where the masks change): for each segment only the distinct rows (inputs up to the
segment's end, grouped by a hash of their bits and then compared in full) are run, from the state their
common prefix reached, and the outputs are copied back to every row. Nothing is assumed
about what comes before or after the layer: rows are compared on the layer's actual input,
so a transform that mixes steps simply finds fewer rows to share. The results are the
layer's own kernel runs, equal to a whole-sequence call up to float rounding (the kernel is
called on fewer rows and in pieces). Bidirectional layers, packed sequences, unbatched input,
gradients and per-row initial states run the layer as usual.

Callers share only where it pays (`pays`: at least half of the row-steps saved, judged
from the masks by `group_prefixes` or `cell_prefixes`); otherwise they open no block.
The segments are small kernel calls, which one intra-op thread runs fastest (measured on 2
cores: kernel SHAP over 12 groups took 2.6x longer with two threads), so torch runs one
thread while any block is open. Both the install and the thread count are reference-counted
under a lock: the module's own ``forward`` and the caller's thread count come back when the
last block exits, also on error; only calls made inside a block on the same thread share.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

_KINDS = (nn.LSTM, nn.GRU, nn.RNN)
_CALL_ROWS = 300  # the fixed cost of one kernel call in row-steps (about 0.4 ms, 1 thread)
_MAX_CUTS = 16  # candidate segment starts examined per call

_HASH = torch.Generator().manual_seed(0)  # the hash's weights (any draw is exact)
_lock = threading.Lock()
_installed: dict[int, int] = {}  # id(module) -> blocks using it
_threads = {"blocks": 0, "saved": 1}  # blocks that run one thread; the count before them
_active = threading.local()  # .starts: the current block's segment starts on this thread


@contextlib.contextmanager
def sharing_prefixes(model: nn.Module, starts: Sequence[int]) -> Iterator[None]:
    """Inside the block, recurrent layers of ``model`` share the runs of common prefixes.

    Args:
        model: any module; its unidirectional ``nn.LSTM``/``nn.GRU``/``nn.RNN`` take part.
        starts: time steps (> 0) where a segment may begin, e.g. where the masks change;
            none: the block changes nothing.
    """
    cuts = tuple(sorted({int(s) for s in starts if int(s) > 0}))
    layers = [m for m in model.modules() if _eligible(m)] if cuts else []
    previous = getattr(_active, "starts", None)
    _active.starts = cuts
    installed: list[nn.Module] = []
    try:
        with _lock:
            if layers:  # segments are small kernel calls: one thread runs them fastest
                if _threads["blocks"] == 0:
                    _threads["saved"] = torch.get_num_threads()
                    torch.set_num_threads(1)
                _threads["blocks"] += 1
            for layer in layers:
                if _installed.get(id(layer), 0) == 0:
                    layer.forward = _shared_forward(layer)  # type: ignore[method-assign]
                _installed[id(layer)] = _installed.get(id(layer), 0) + 1
                installed.append(layer)
        yield
    finally:
        with _lock:
            for layer in installed:
                _installed[id(layer)] -= 1
                if _installed[id(layer)] == 0:
                    del _installed[id(layer)]
                    del layer.forward
            if layers:
                _threads["blocks"] -= 1
                if _threads["blocks"] == 0:
                    torch.set_num_threads(_threads["saved"])
        _active.starts = previous


def pays(distinct: Sequence[int], ends: Sequence[int]) -> bool:
    """Whether sharing prefixes saves at least half of the recurrent work.

    ``distinct[k]`` rows differ over the first ``ends[k]`` steps (the last end is the whole
    window, so ``distinct[-1]`` is every distinct row). Sharing runs at one thread, which is
    slower than the caller's threads on large calls, so it is worth it only for a clear gain.
    """
    if len(ends) < 2:
        return False
    chosen = _choose(list(ends), list(distinct))
    cost, start = 0.0, 0
    for k in chosen:
        cost += distinct[k] * (ends[k] - start) + _CALL_ROWS
        start = ends[k]
    return cost <= 0.5 * (distinct[-1] * ends[-1] + _CALL_ROWS)


def group_prefixes(keep: np.ndarray, cell_group: np.ndarray, starts: Sequence[int]) -> bool:
    """`pays` for group masks ``keep`` ``(rows, groups)`` over ``cell_group`` ``(time, feature)``.

    The distinct rows up to each start are the distinct masks of the groups seen so far (as
    the model's first layer sees them when it takes the window as it is).
    """
    steps = cell_group.shape[0]
    cuts = [s for s in starts if 0 < s < steps][:_MAX_CUTS]
    ends = [*cuts, steps]
    distinct = [_distinct_rows(keep[:, np.unique(cell_group[:end])]) for end in ends]
    return pays(distinct, ends)


def _distinct_rows(bits: np.ndarray) -> int:
    """How many distinct rows a bool matrix has (rows packed to bytes, one 1-D unique)."""
    packed = np.ascontiguousarray(np.packbits(bits, axis=1))
    return len(np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel()))


def cell_prefixes(keep: Tensor, starts: Sequence[int]) -> bool:
    """`pays` for cell masks ``keep`` ``(rows, time, feature)``."""
    cuts = [s for s in starts if 0 < s < keep.shape[1]]
    if not cuts or len(keep) < 2:
        return False
    ends, _, firsts = _prefixes(keep.to(torch.uint8), cuts)
    return pays([len(f) for f in firsts], ends)


def mask_changes(keep: Tensor) -> list[int]:
    """Steps ``t > 0`` where some row's mask ``(rows, time, feature)`` differs from step t-1."""
    if keep.dim() != 3 or keep.shape[1] < 2:
        return []
    changed = (keep[:, 1:] != keep[:, :-1]).flatten(2).any(dim=2).any(dim=0)
    return (torch.nonzero(changed).flatten() + 1).tolist()


def _eligible(module: nn.Module) -> bool:
    return (
        type(module) in _KINDS
        and not module.bidirectional
        and ("forward" not in vars(module) or id(module) in _installed)
    )


def _shared_forward(layer: nn.Module):
    own = type(layer).forward

    def forward(input: Any, hx: Any = None) -> Any:
        starts = getattr(_active, "starts", None)
        if not starts or torch.is_grad_enabled() or not isinstance(input, Tensor):
            return own(layer, input, hx)
        if input.dim() != 3:
            return own(layer, input, hx)
        x = input if layer.batch_first else input.transpose(0, 1)
        rows, steps = x.shape[:2]
        cuts = [s for s in starts if s < steps]
        if not cuts or rows < 2 or not _same_state(hx):
            return own(layer, input, hx)
        return _run_shared(layer, own, x, hx, cuts)

    return forward


def _same_state(hx: Any) -> bool:
    """No initial state, or one shared by every row (so rows differ only by their input)."""
    if hx is None:
        return True
    states = hx if isinstance(hx, tuple) else (hx,)
    return all(
        isinstance(h, Tensor) and h.dim() == 3 and bool((h == h[:, :1]).all()) for h in states
    )


def _run_shared(layer: nn.Module, own: Any, x: Tensor, hx: Any, cuts: list[int]) -> Any:
    """The layer's output and final state for ``x`` ``(rows, steps, features)``."""
    rows = len(x)
    ends, ids, firsts = _prefixes(x, cuts)
    chosen = _choose(ends, [len(f) for f in firsts])
    if chosen == [len(ends) - 1]:
        return own(layer, x if layer.batch_first else x.transpose(0, 1), hx)
    state = None if hx is None else _take(hx, torch.zeros(1, dtype=torch.long, device=x.device))
    before = torch.zeros(rows, dtype=torch.long, device=x.device)  # all rows: one prefix
    start, outputs = 0, []
    for k in chosen:
        first = firsts[k]
        h0 = None if state is None else _take(state, before[first])
        piece = x[first, start : ends[k]]
        out, state = own(layer, piece if layer.batch_first else piece.transpose(0, 1), h0)
        outputs.append((out if layer.batch_first else out.transpose(0, 1))[ids[k]])
        before, start = ids[k], ends[k]
    output = torch.cat(outputs, dim=1)
    return (output if layer.batch_first else output.transpose(0, 1)), _take(state, before)


def _prefixes(x: Tensor, cuts: list[int]) -> tuple[list[int], list[Tensor], list[Tensor]]:
    """At each candidate end (the cuts, then the last step): which rows share their prefix.

    Returns the ends, per end each row's prefix id ``(rows,)`` and, per id, its first row.
    """
    rows, steps = x.shape[:2]
    if len(cuts) > _MAX_CUTS:  # keep the unique passes few; any cuts are exact
        keep = torch.linspace(0, len(cuts) - 1, _MAX_CUTS).round().long().tolist()
        cuts = [cuts[k] for k in sorted(set(keep))]
    ends = [*cuts, steps]
    ids = torch.zeros(rows, dtype=torch.long, device=x.device)
    order = torch.arange(rows, device=x.device)
    all_ids, firsts, start = [], [], 0
    for end in ends:
        key = torch.cat([ids[:, None], _bits(x[:, start:end]).flatten(1)], dim=1)
        ids, first = _group(key, order)
        all_ids.append(ids)
        firsts.append(first)
        start = end
    return ends, all_ids, firsts


def _group(key: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
    """Ids of equal rows of ``key`` ``(rows, width)`` int64, and each id's first row.

    Rows are grouped by a random integer hash (products that wrap, summed; a 1-D sort, far cheaper
    than sorting whole rows) and every row is then compared with its group's first row; on
    a collision, which the comparison catches, the rows are sorted whole instead.
    """
    weights = torch.randint(1, 2**62, (key.shape[1],), generator=_HASH, dtype=torch.long)
    _, ids = torch.unique((key * weights.to(key.device)).sum(dim=1), return_inverse=True)
    first = _first_rows(ids, order)
    if not torch.equal(key, key[first[ids]]):
        _, ids = torch.unique(key, dim=0, return_inverse=True)
        first = _first_rows(ids, order)
    return ids, first


def _first_rows(ids: Tensor, order: Tensor) -> Tensor:
    first = torch.full((int(ids.max()) + 1,), len(ids), dtype=torch.long, device=ids.device)
    return first.scatter_reduce_(0, ids, order, reduce="amin")


def _choose(ends: list[int], distinct: list[int]) -> list[int]:
    """Indices into ``ends`` of the segment ends that minimise the row-steps run.

    A segment ``(a, b]`` runs ``distinct[b]`` rows for ``ends[b] - ends[a]`` steps, plus the
    fixed cost of a kernel call; the last end is always chosen.
    """
    best = [0.0] * len(ends)
    back = [-1] * len(ends)
    for b in range(len(ends)):
        best[b] = float("inf")
        for a in range(-1, b):
            begin = 0 if a < 0 else ends[a]
            cost = (0.0 if a < 0 else best[a]) + distinct[b] * (ends[b] - begin) + _CALL_ROWS
            if cost < best[b]:
                best[b], back[b] = cost, a
    chosen, k = [], len(ends) - 1
    while k >= 0:
        chosen.append(k)
        k = back[k]
    return chosen[::-1]


def _bits(x: Tensor) -> Tensor:
    """``x``'s bit patterns as int64 (equal bits, equal numbers; -0.0 and 0.0 stay apart)."""
    kind = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
    return x.contiguous().view(kind).long()


def _take(state: Any, index: Tensor) -> Any:
    """Rows ``index`` of a recurrent state ``(layers, rows, hidden)`` or a tuple of them."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]
