"""Where recording hooks into PyTorch, installed only while a `record` block is open.

- ``nn.LSTM.forward`` / ``nn.GRU.forward`` (the class attributes) are wrapped, so the call
  that reaches the fused kernel is seen even when a subclass overrides ``forward`` and calls
  ``super().forward``. While any block is open, ``torch.nn.modules.rnn._VF`` is a proxy:
  inside a recorded module's forward (tracked per thread) its ``lstm``/``gru`` run the fused
  kernel one layer at a time (identical results) so every layer's hidden sequence is
  available; every other call goes to the real ``_VF`` untouched.
- ``nn.LSTMCell.forward`` / ``nn.GRUCell.forward`` are wrapped likewise, one step per call.
- explainr's own modules (``explainr.nn``) ask `sink_for(self)` and report their gates.

Only modules registered by an open `record` block are touched; every other call goes
straight to PyTorch. Everything is undone when the last block closes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules import rnn as _rnn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from explainr.record import _gru, _onednn
from explainr.record._recompute import gru_layer, lstm_layer
from explainr.record._trace import GATE_NAMES as _GATES


class Sink(Protocol):
    """What a recorder gives a running module: where to put its records."""

    def wants(self, what: str, layer: int) -> bool: ...

    def emit(self, module: nn.Module, kind: str, parts: dict, meta: dict) -> None: ...


_LOCK = threading.RLock()
_REGISTRY: dict[int, tuple[nn.Module, list[Sink]]] = {}  # one sink per open block
_ORIGINAL: dict[tuple[type, str], Callable] = {}
_DEPTH = 0
_CURRENT = threading.local()  # .calls: the recorded nn.LSTM/nn.GRU calls running on this thread


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


def sink_for(module: nn.Module) -> Sink | None:
    """The sink of the open `record` block(s) that record ``module``, or None."""
    entry = _REGISTRY.get(id(module))
    if entry is None or entry[0] is not module:
        return None
    sinks = entry[1]
    return sinks[0] if len(sinks) == 1 else _Fanout(list(sinks))


def register(module: nn.Module, sink: Sink) -> None:
    with _LOCK:
        entry = _REGISTRY.get(id(module))
        if entry is None or entry[0] is not module:
            entry = _REGISTRY[id(module)] = (module, [])
        entry[1].append(sink)


def unregister(module: nn.Module, sink: Sink) -> None:
    with _LOCK:
        entry = _REGISTRY.get(id(module))
        if entry is not None and entry[0] is module and sink in entry[1]:
            entry[1].remove(sink)
            if not entry[1]:
                del _REGISTRY[id(module)]


class _Fanout:
    """Nested blocks recording the same module: each gets the parts it asked for."""

    def __init__(self, sinks: list[Sink]) -> None:
        self._sinks = sinks
        dtypes = {getattr(s, "dtype", None) for s in sinks}  # rec16: one storage dtype, or none
        self.dtype = dtypes.pop() if len(dtypes) == 1 else None

    def wants(self, what: str, layer: int) -> bool:
        return any(s.wants(what, layer) for s in self._sinks)

    def emit(self, module: nn.Module, kind: str, parts: dict, meta: dict) -> None:
        for s in self._sinks:
            s.emit(module, kind, {k: v for k, v in parts.items() if s.wants(k[0], k[1])}, meta)


def install() -> None:
    """Wrap the torch forwards (reference counted: nested blocks share one install)."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            for cls, wrapper in _WRAPPERS.items():
                original = cls.__dict__["forward"]
                _ORIGINAL[(cls, "forward")] = original
                cls.forward = wrapper(original)
            _ORIGINAL[(_rnn, "_VF")] = _rnn._VF
            _rnn._VF = _VFProxy(_rnn._VF)
        _DEPTH += 1


def uninstall() -> None:
    global _DEPTH
    with _LOCK:
        _DEPTH -= 1
        if _DEPTH == 0:
            for cls in _WRAPPERS:
                cls.forward = _ORIGINAL.pop((cls, "forward"))
            _rnn._VF = _ORIGINAL.pop((_rnn, "_VF"))


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


_WRAPPERS: dict[type, Callable[[Callable], Callable]] = {
    nn.LSTM: _wrap_rnn,
    nn.GRU: _wrap_rnn,
    nn.LSTMCell: _wrap_cell,
    nn.GRUCell: _wrap_cell,
}


class _VFProxy:
    """Stands in for ``torch._VF`` while a block is open; records only this thread's
    current recorded module, passes everything else through."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def lstm(self, *args: Any) -> Any:
        return self._dispatch("lstm", args)

    def gru(self, *args: Any) -> Any:
        return self._dispatch("gru", args)

    def _dispatch(self, kind: str, args: tuple) -> Any:
        calls = getattr(_CURRENT, "calls", None)
        if calls:
            return calls[-1].run(self._real, kind, args)
        return getattr(self._real, kind)(*args)


class _KernelCall:
    """One recorded call of an nn.LSTM/nn.GRU: runs the kernel layer by layer and records."""

    def __init__(self, module: nn.Module, user_input: Any, sink: Sink) -> None:
        self.module = module
        self.sink = sink
        self.unsorted = (
            user_input.unsorted_indices if isinstance(user_input, PackedSequence) else None
        )

    def run(self, vf: Any, kind: str, args: tuple) -> Any:
        packed = not isinstance(args[3], bool)
        if packed:
            x, batch_sizes, hx, weights, has_biases, layers, dropout, train, bidir = args
            batch_first = False
        else:
            x, hx, weights, has_biases, layers, dropout, train, bidir, batch_first = args
            batch_sizes = None
        if weights is not self.module._flat_weights:  # not this module's kernel: leave it be
            return getattr(vf, kind)(*args)
        dirs = 2 if bidir else 1
        per = len(weights) // (layers * dirs)
        kernel = getattr(vf, kind)
        layer_in, outputs, finals = x, [], []
        parts: dict = {}
        for layer in range(layers):
            w = weights[layer * dirs * per : (layer + 1) * dirs * per]
            rows = slice(layer * dirs, (layer + 1) * dirs)
            h0 = (hx[0][rows], hx[1][rows]) if kind == "lstm" else hx[rows]
            gates, want_cell, _ = self._wanted(kind, layer)
            recorded = None  # per direction, gates and cells read from oneDNN's workspace
            if packed:
                res = kernel(layer_in, batch_sizes, h0, w, has_biases, 1, 0.0, train, bidir)
            elif kind == "lstm" and (gates or want_cell) and _onednn.usable(layer_in, h0, w):
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
                    dtype=getattr(self.sink, "dtype", None),  # rec16: long sequences
                )
            elif kind == "gru" and gates and _gru.usable(layer_in, h0, w):  # rec16: GRU steps
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
            self._record_layer(
                kind,
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
            )
            out = res[0]
            tap = _TAPS.get((id(self.module), layer))
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
        self.sink.emit(self.module, kind, parts, meta)
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

    def _wanted(self, kind: str, layer: int) -> tuple[tuple[str, ...], bool, bool]:
        """(gate names, cell?, hidden?) the sink keeps for this layer."""
        sink = self.sink
        gates = tuple(g for g in _GATES[kind] if sink.wants(f"gate:{g}", layer))
        return gates, kind == "lstm" and sink.wants("cell", layer), sink.wants("hidden", layer)

    def _record_layer(
        self, kind, layer, x, out, h0, w, dirs, per, batch_sizes, batch_first, parts, recorded
    ) -> None:
        gates, want_cell, want_hidden = self._wanted(kind, layer)
        if not (gates or want_cell or want_hidden):
            return
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
                elif kind == "lstm":
                    h0_d, c0_d = self._initial(h0[0][d]), self._initial(h0[1][d])
                    res = lstm_layer(
                        x,
                        h,
                        h0_d,
                        c0_d,
                        wd,
                        reverse=d == 1,
                        lengths=lengths,
                        gates=gates,
                        want_cell=want_cell,
                    )
                else:
                    res = gru_layer(
                        x, h, self._initial(h0[d]), wd, reverse=d == 1, lengths=lengths, gates=gates
                    )
                for g in gates:
                    parts[(f"gate:{g}", layer, d)] = res[g]
                if want_cell:
                    parts[("cell", layer, d)] = res["c"]
                if want_hidden:  # a copy: the kernel's output is the model's to change
                    h = h.clone()
                    if lengths is not None:
                        h[_pad_mask(lengths, h.shape[1]).to(h.device)] = float("nan")
                    parts[("hidden", layer, d)] = h

    def _initial(self, state: Tensor) -> Tensor:
        state = state.detach()
        return state if self.unsorted is None else state[self.unsorted.to(state.device)]


def _pad_mask(lengths: Tensor, steps: int) -> Tensor:
    return torch.arange(steps).unsqueeze(0) >= lengths.cpu().unsqueeze(1)


def _record_cell(module: nn.Module, sink: Sink, x: Tensor, hx: Any, out: Any) -> None:
    kind = "lstm_cell" if isinstance(module, nn.LSTMCell) else "gru_cell"
    unbatched = x.dim() == 1
    size = module.hidden_size
    if hx is None:  # zeros shaped like the user's input: (size,) when unbatched
        hx = x.new_zeros(*x.shape[:-1], size)
        hx = (hx, hx) if kind == "lstm_cell" else hx
    x = (x.unsqueeze(0) if unbatched else x).detach()
    h_prev = hx[0] if kind == "lstm_cell" else hx
    h_prev = (h_prev.unsqueeze(0) if unbatched else h_prev).detach()
    h_new = out[0] if kind == "lstm_cell" else out
    h_new = (h_new.unsqueeze(0) if unbatched else h_new).detach().unsqueeze(1)
    w = [module.weight_ih.detach(), module.weight_hh.detach()]
    if module.bias:
        w += [module.bias_ih.detach(), module.bias_hh.detach()]
    gates = tuple(g for g in _GATES[kind] if sink.wants(f"gate:{g}", 0))
    x1 = x.unsqueeze(1)
    if kind == "lstm_cell":
        res = lstm_layer(
            x1, h_new, h_prev, h_prev, w, reverse=False, lengths=None, gates=gates, want_cell=False
        )
    else:
        res = gru_layer(x1, h_new, h_prev, w, reverse=False, lengths=None, gates=gates)
    parts = {(f"gate:{g}", 0, 0): res[g] for g in gates}
    if kind == "lstm_cell" and sink.wants("cell", 0):
        c_new = out[1].unsqueeze(0) if unbatched else out[1]
        parts[("cell", 0, 0)] = c_new.detach().unsqueeze(1).clone()
    if sink.wants("hidden", 0):
        parts[("hidden", 0, 0)] = h_new.clone()
    meta = {
        "num_layers": 1,
        "num_directions": 1,
        "lengths": None,
        "batch_size": x.shape[0],
        "time_steps": 1,
    }
    sink.emit(module, kind, parts, meta)
