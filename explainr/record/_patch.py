"""Where recording hooks into PyTorch, installed only while a `record` block is open.

What is hooked comes from the cell registry (`explainr._core.cells`):

- kinds recorded by ``"kernel"`` (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``): their ``forward``
  (the class attribute) is wrapped, so the call that reaches the fused kernel is seen even
  when a subclass overrides ``forward`` and calls ``super().forward``. While any block is
  open, ``torch.nn.modules.rnn._VF`` is a proxy: inside a recorded module's forward
  (tracked per thread) the kind's kernels run one layer at a time (identical results) so
  every layer's hidden sequence is available; every other call goes to the real ``_VF``.
- kinds recorded by ``"step"`` (``nn.LSTMCell``, ``nn.GRUCell``, ``nn.RNNCell``, a user's
  cell): ``forward`` is wrapped likewise, one step per call.
- kinds recorded by ``"self"`` (``explainr.nn``) ask ``sink_for(self)`` and report.

Only modules registered by an open `record` block are touched; every other call goes
straight to PyTorch. Everything is undone when the last block closes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules import rnn as _rnn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from explainr._core.cells import CellKind, cell_kinds, kind_of
from explainr._core.sinks import Sink, sink_for
from explainr.record import _gru, _onednn

_LOCK = threading.RLock()
_ORIGINAL: dict[type, Callable | None] = {}  # class -> its own forward (None: inherited)
_DEPTH = 0
_CURRENT = threading.local()  # .calls: the recorded kernel calls running on this thread


_TAPS: dict[tuple[int, int], Callable[[Tensor], Tensor]] = {}


@contextlib.contextmanager
def tapped(module: nn.Module, layer: int, tap: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Route layer ``layer``'s output sequence of ``module`` (an nn.LSTM/nn.GRU recorded by an
    open block) through ``tap`` while the block runs; what ``tap`` returns feeds the next layer
    (or is the module's output). The sequence is in the kernel's layout (batch_first or not).
    """
    key = (id(module), layer)
    with _LOCK:
        if key in _TAPS:
            raise RuntimeError(f"layer {layer} of this module is tapped already")
        _TAPS[key] = tap
    try:
        yield
    finally:
        with _LOCK:
            del _TAPS[key]


def install() -> None:
    """Wrap the registered kinds' forwards (reference counted: nested blocks share one install)."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            for cls, wrapper in _wrapped_classes().items():
                own = cls.__dict__.get("forward")
                _ORIGINAL[cls] = own
                cls.forward = wrapper(own if own is not None else cls.forward)
            _ORIGINAL[_VFProxy] = _rnn._VF
            _rnn._VF = _VFProxy(_rnn._VF)
        _DEPTH += 1


def uninstall() -> None:
    global _DEPTH
    with _LOCK:
        if _DEPTH <= 0:
            return
        _DEPTH -= 1
        if _DEPTH == 0:
            _rnn._VF = _ORIGINAL.pop(_VFProxy)
            for cls in list(_ORIGINAL):
                own = _ORIGINAL.pop(cls)
                if own is None:
                    del cls.forward
                else:
                    cls.forward = own


def _wrapped_classes() -> dict[type, Callable[[Callable], Callable]]:
    wrappers = {"kernel": _wrap_rnn, "step": _wrap_cell}
    return {
        cls: wrappers[kind.recording]
        for kind in cell_kinds()
        if kind.recording in wrappers
        for cls in kind.modules
    }


def _kernels() -> frozenset[str]:
    return frozenset(k for kind in cell_kinds() for k in kind.kernels)


def _wrap_rnn(original: Callable) -> Callable:
    @functools.wraps(original)
    def forward(self: nn.Module, input: Any, hx: Any = None) -> Any:
        sink = sink_for(self)
        if sink is None:
            return original(self, input, hx)
        calls = _CURRENT.__dict__.setdefault("calls", [])
        calls.append(_KernelCall(self, input, sink))
        try:
            return original(self, input, hx)
        finally:
            calls.pop()

    return forward


def _wrap_cell(original: Callable) -> Callable:
    @functools.wraps(original)
    def forward(self: nn.Module, input: Tensor, hx: Any = None) -> Any:
        out = original(self, input, hx)
        sink = sink_for(self)
        if sink is not None:
            with torch.no_grad():
                _record_cell(self, sink, input, hx, out)
        return out

    return forward


class _VFProxy:
    """Stands in for ``torch._VF`` while a block is open: a registered kernel called from the
    current recorded module on this thread is recorded; everything else passes through."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if name not in _kernels():
            return real
        return functools.partial(self._dispatch, name, real)

    @staticmethod
    def _dispatch(name: str, real: Callable, *args: Any) -> Any:
        calls = getattr(_CURRENT, "calls", None)
        if calls:
            return calls[-1].run(real, name, args)
        return real(*args)


class _KernelCall:
    """One recorded call of an nn.LSTM/nn.GRU: runs the kernel layer by layer and records."""

    def __init__(self, module: nn.Module, user_input: Any, sink: Sink) -> None:
        self.module = module
        self.kind: CellKind = kind_of(module)  # type: ignore[assignment]  # registered: recorded
        self.sink = sink
        self.unsorted = (
            user_input.unsorted_indices if isinstance(user_input, PackedSequence) else None
        )

    def run(self, kernel: Callable, name: str, args: tuple) -> Any:
        packed = not isinstance(args[3], bool)
        if packed:
            x, batch_sizes, hx, weights, has_biases, layers, dropout, train, bidir = args
            batch_first = False
        else:
            x, hx, weights, has_biases, layers, dropout, train, bidir, batch_first = args
            batch_sizes = None
        if weights is not self.module._flat_weights:  # not this module's kernel: leave it be
            return kernel(*args)
        dirs = 2 if bidir else 1
        per = len(weights) // (layers * dirs)
        has_cell = self.kind.has_cell
        layer_in, outputs, finals = x, [], []
        parts: dict = {}
        for layer in range(layers):
            w = weights[layer * dirs * per : (layer + 1) * dirs * per]
            rows = slice(layer * dirs, (layer + 1) * dirs)
            h0 = (hx[0][rows], hx[1][rows]) if has_cell else hx[rows]
            gates, want_cell, _ = self._wanted(layer)
            recorded = None  # per direction, gates (and cells) as a fast path computed them
            if packed:
                res = kernel(layer_in, batch_sizes, h0, w, has_biases, 1, 0.0, train, bidir)
            elif (
                name in _onednn.KERNELS and (gates or want_cell) and _onednn.usable(layer_in, h0, w)
            ):
                res, recorded = _onednn.lstm_layer(
                    functools.partial(
                        kernel, layer_in, h0, w, has_biases, 1, 0.0, train, bidir, batch_first
                    ),
                    layer_in,
                    h0,
                    w,
                    has_biases=has_biases,
                    train=train,
                    bidirectional=bidir,
                    batch_first=batch_first,
                    gates=gates,
                    want_cell=want_cell,
                    dtype=getattr(self.sink, "dtype", None),  # long records converted per chunk
                )
            elif name in _gru.KERNELS and gates and _gru.usable(layer_in, h0, w):
                res, recorded = _gru.gru_layer(
                    layer_in,
                    h0,
                    w,
                    has_biases=has_biases,
                    bidirectional=bidir,
                    batch_first=batch_first,
                    gates=gates,
                )
            else:
                res = kernel(layer_in, h0, w, has_biases, 1, 0.0, train, bidir, batch_first)
            tap = _TAPS.get((id(self.module), layer))
            # Under no_grad, an inner layer's output (one direction, no tap) is seen only by
            # the next layer's kernel, which has run before the records are emitted: the
            # record can be that tensor itself. In grad mode autograd holds it (a shared
            # version counter), and the last layer's output is the model's: those are copied.
            owned = (
                not torch.is_grad_enabled()
                and not packed
                and dirs == 1
                and tap is None
                and layer < layers - 1
            )
            self._record_layer(
                layer,
                layer_in,
                res[0],
                h0,
                w,
                dirs,
                per,
                batch_sizes,
                batch_first,
                parts,
                recorded,
                owned,
            )
            out = res[0]
            if tap is not None and not packed:  # e.g. captum hooks this layer's output
                out = tap(out)
            outputs.append(out)
            finals.append(res[1:])
            layer_in = out
            if dropout > 0 and train and layer < layers - 1:
                layer_in = F.dropout(layer_in, dropout, True)
        meta = {"num_layers": layers, "num_directions": dirs, "lengths": self._lengths(batch_sizes)}
        # Sizes from the input, not from the parts: these may be empty (nothing kept).
        if packed:
            meta.update(batch_size=int(batch_sizes[0]), time_steps=len(batch_sizes))
        else:
            b, t = (0, 1) if batch_first else (1, 0)
            meta.update(batch_size=x.shape[b], time_steps=x.shape[t])
        self.sink.emit(self.module, self.kind.name, parts, meta)
        states = tuple(torch.cat([f[i] for f in finals], dim=0) for i in range(len(finals[0])))
        return (outputs[-1], *states)

    def _lengths(self, batch_sizes: Tensor | None) -> Tensor | None:
        if batch_sizes is None:
            return None
        # Sequence j (sorted order) is present at step t while j < batch_sizes[t].
        seqs = torch.arange(int(batch_sizes[0])).unsqueeze(0)
        lengths = (seqs < batch_sizes.cpu().unsqueeze(1)).sum(0)
        return lengths if self.unsorted is None else lengths[self.unsorted.cpu()]

    def _to_batch_first(self, t: Tensor, batch_sizes: Tensor | None, batch_first: bool) -> Tensor:
        if batch_sizes is not None:
            padded, _ = pad_packed_sequence(PackedSequence(t, batch_sizes), batch_first=True)
            return padded if self.unsorted is None else padded[self.unsorted]
        return t if batch_first else t.transpose(0, 1)

    def _wanted(self, layer: int) -> tuple[tuple[str, ...], bool, bool]:
        """(gate names, cell?, hidden?) the sink keeps for this layer."""
        return _wanted(self.kind, self.sink, layer)

    def _record_layer(
        self, layer, x, out, h0, w, dirs, per, batch_sizes, batch_first, parts, recorded, owned
    ) -> None:
        gates, want_cell, want_hidden = self._wanted(layer)
        if not (gates or want_cell or want_hidden):
            return
        has_cell = self.kind.has_cell
        with torch.no_grad():
            x = self._to_batch_first(x.detach(), batch_sizes, batch_first)
            out = self._to_batch_first(out.detach(), batch_sizes, batch_first)
            lengths = self._lengths(batch_sizes)
            if lengths is not None and lengths.min() == lengths.max():
                lengths = None
            sizes = out.shape[-1] // dirs
            for d in range(dirs):
                wd = [t.detach() for t in w[d * per : (d + 1) * per]]
                h = out[..., d * sizes : (d + 1) * sizes]
                if recorded is not None:
                    res = recorded[d]
                elif gates or want_cell:
                    state0 = (
                        tuple(self._initial(s[d]) for s in h0)
                        if has_cell
                        else (self._initial(h0[d]),)
                    )
                    res = self.kind.gate_values(  # type: ignore[misc]  # kernel kinds with gates
                        x,
                        h,
                        state0,
                        wd,
                        reverse=d == 1,
                        lengths=lengths,
                        gates=gates,
                        want_cell=want_cell,
                    )
                for g in gates:
                    parts[(f"gate:{g}", layer, d)] = res[g]
                if want_cell:
                    parts[("cell", layer, d)] = res["c"]
                if want_hidden:  # in the kept dtype; a copy unless the output is `owned`
                    h = h.to(getattr(self.sink, "dtype", None) or h.dtype, copy=not owned)
                    if lengths is not None:
                        h[_pad_mask(lengths, h.shape[1]).to(h.device)] = float("nan")
                    parts[("hidden", layer, d)] = h

    def _initial(self, state: Tensor) -> Tensor:
        state = state.detach()
        return state if self.unsorted is None else state[self.unsorted.to(state.device)]


def _pad_mask(lengths: Tensor, steps: int) -> Tensor:
    return torch.arange(steps).unsqueeze(0) >= lengths.cpu().unsqueeze(1)


def _wanted(kind: CellKind, sink: Sink, layer: int) -> tuple[tuple[str, ...], bool, bool]:
    """(gate names, cell?, hidden?) that ``sink`` keeps of ``kind`` for ``layer``."""
    gates = tuple(g for g in kind.gates if sink.wants(f"gate:{g}", layer))
    want_cell = kind.has_cell and sink.wants("cell", layer)
    return gates, want_cell, sink.wants("hidden", layer)


def _record_cell(module: nn.Module, sink: Sink, x: Tensor, hx: Any, out: Any) -> None:
    """One step of a ``"step"`` kind: ``forward(input, hx) -> h`` or ``(h, c)``."""
    kind: CellKind = kind_of(module)  # type: ignore[assignment]  # registered: recorded
    gates, want_cell, want_hidden = _wanted(kind, sink, 0)
    unbatched = x.dim() == 1

    def steps(t: Tensor) -> Tensor:  # (B, H) or (H,) -> (B, 1, H), detached
        return (t.unsqueeze(0) if unbatched else t).detach().unsqueeze(1)

    h_new, c_new = (out[0], out[1]) if kind.has_cell else (out, None)
    parts: dict = {}
    if gates:
        size = h_new.shape[-1]
        if hx is None:  # zeros shaped like the user's input: (size,) when unbatched
            zero = x.new_zeros(*x.shape[:-1], size)
            hx = (zero, zero) if kind.has_cell else zero
        state0 = tuple(steps(s)[:, 0] for s in (hx if kind.has_cell else (hx,)))
        weights = [p.detach() for p in module.parameters(recurse=False)]
        res = kind.gate_values(  # type: ignore[misc]  # step kinds with gates have one
            steps(x),
            steps(h_new),
            state0,
            weights,
            reverse=False,
            lengths=None,
            gates=gates,
            want_cell=False,
        )
        parts.update({(f"gate:{g}", 0, 0): res[g] for g in gates})
    if want_cell:
        parts[("cell", 0, 0)] = steps(c_new).clone()
    if want_hidden:
        parts[("hidden", 0, 0)] = steps(h_new).clone()
    meta = {
        "num_layers": 1,
        "num_directions": 1,
        "lengths": None,
        "batch_size": 1 if unbatched else x.shape[0],
        "time_steps": 1,
    }
    sink.emit(module, kind.name, parts, meta)
