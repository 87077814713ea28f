"""Where a running recurrent module hands its gates and states to the open `record` blocks.

`record` registers a sink per recorded module while its block is open; a module that
records itself (``explainr.nn``'s modules, a user's registered cell) asks `sink_for(self)`
and, when there is one, emits what the sink `wants`. Thread-safe; nested blocks recording
the same module each get the parts they asked for.
"""

from __future__ import annotations

import threading
from typing import Protocol

from torch import nn


class Sink(Protocol):
    """What a recorder gives a running module: where to put its records."""

    def wants(self, what: str, layer: int) -> bool: ...

    def emit(self, module: nn.Module, kind: str, parts: dict, meta: dict) -> None: ...


_LOCK = threading.RLock()
_REGISTRY: dict[int, tuple[nn.Module, list[Sink]]] = {}  # one sink per open block


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
        dtypes = {getattr(s, "dtype", None) for s in sinks}  # one storage dtype, or none
        self.dtype = dtypes.pop() if len(dtypes) == 1 else None

    def wants(self, what: str, layer: int) -> bool:
        return any(s.wants(what, layer) for s in self._sinks)

    def emit(self, module: nn.Module, kind: str, parts: dict, meta: dict) -> None:
        for s in self._sinks:
            s.emit(module, kind, {k: v for k, v in parts.items() if s.wants(k[0], k[1])}, meta)
