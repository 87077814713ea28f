"""`record`: a context manager that records every recurrent module inside a model."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

import torch
from torch import nn

from explainr._core import sinks
from explainr._core.cells import STATES, cell_kinds, kind_of
from explainr._core.errors import ExplainrError
from explainr.record import _patch
from explainr.record._trace import ModuleRecord, Trace

STATE_NAMES = STATES


def recurrent_kind(module: nn.Module) -> str | None:
    """The name of the registered cell kind of ``module``, or None."""
    kind = kind_of(module)
    return None if kind is None else kind.name


def find_recurrent(model: nn.Module) -> dict[str, str]:
    """Names (as in ``model.named_modules()``) and kinds of the recordable modules."""
    return {name: k for name, m in model.named_modules() if (k := recurrent_kind(m))}


class Recorder:
    """Records gates and states of a model's recurrent modules while the block is open.

    Use through :func:`record`. ``rec.trace`` holds the records; it stays valid after exit.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        modules: Iterable[str] | None = None,
        gates: Iterable[str] | None = None,
        states: Iterable[str] = STATE_NAMES,
        layers: Iterable[int] | int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ExplainrError(f"record() needs a torch.nn.Module, got {type(model).__name__}")
        found = find_recurrent(model)
        if not found:
            types = sorted({type(m).__name__ for m in model.modules()})
            raise ExplainrError(
                f"no recurrent module to record in {type(model).__name__} (module types found: "
                f"{types}); explainr records "
                f"{', '.join(_class_name(c) for k in cell_kinds() for c in k.modules)} "
                "(and subclasses); register your own cell with explainr.register_cell"
            )
        if modules is not None:
            modules = [modules] if isinstance(modules, str) else list(modules)
            unknown = [m for m in modules if m not in found]
            if unknown:
                raise ExplainrError(
                    f"modules {unknown} are not recurrent modules of the model; "
                    f"recordable modules: {list(found)}"
                )
            found = {m: found[m] for m in modules}
        all_gates = sorted({g for kind in cell_kinds() for g in kind.gates})
        self._gates = None if gates is None else frozenset(_check_names(gates, all_gates, "gate"))
        self._states = frozenset(_check_names(states, STATE_NAMES, "state"))
        self._layers = (
            None if layers is None else _check_layers(layers, self._count_layers(model, found))
        )
        self._dtype = dtype
        named = dict(model.named_modules())
        self._modules = {name: named[name] for name in found}
        self.trace = Trace(list(found), found, marked=_marked_calls(model, found))
        self._sinks = {name: _ModuleSink(self, name) for name in found}
        self._open = False

    @staticmethod
    def _count_layers(model: nn.Module, found: dict[str, str]) -> int:
        named = dict(model.named_modules())
        return max(getattr(named[name], "num_layers", 1) for name in found)

    def __enter__(self) -> Recorder:
        if self._open:
            raise ExplainrError("this record() block is already open; make a new one")
        _patch.install()
        try:
            for name, module in self._modules.items():
                sinks.register(module, self._sinks[name])
        except BaseException:
            self._close()
            raise
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._open:  # a second __exit__ must not close another block's install
            self._close()

    def _close(self) -> None:
        for name, module in self._modules.items():
            sinks.unregister(module, self._sinks[name])
        _patch.uninstall()
        self._open = False

    def _wants(self, what: str, layer: int) -> bool:
        if self._layers is not None and layer not in self._layers:
            return False
        if what.startswith("gate:"):
            return self._gates is None or what[5:] in self._gates
        return what in self._states

    def _emit(self, name: str, kind: str, parts: dict, meta: dict) -> None:
        if self._dtype is not None:
            parts = {k: v.to(self._dtype) for k, v in parts.items()}
        any_part = next(iter(parts.values()), None)
        shape = any_part.shape if any_part is not None else (0, 0)
        self.trace._append(
            ModuleRecord(
                name=name,
                kind=kind,
                num_layers=meta["num_layers"],
                num_directions=meta["num_directions"],
                batch_size=meta.get("batch_size", shape[0]),
                time_steps=meta.get("time_steps", shape[1]),
                lengths=meta.get("lengths"),
                data=parts,
            )
        )


class _ModuleSink:
    """The sink one registered module reports to."""

    def __init__(self, recorder: Recorder, name: str) -> None:
        self._recorder = recorder
        self._name = name
        self.dtype = recorder._dtype  # storage dtype: long records converted as they come

    def wants(self, what: str, layer: int) -> bool:
        return self._recorder._wants(what, layer)

    def emit(self, module: nn.Module, kind: str, parts: dict, meta: dict) -> None:
        self._recorder._emit(self._name, kind, parts, meta)


def _class_name(cls: type) -> str:
    if cls.__module__.startswith("torch.nn."):
        return f"nn.{cls.__name__}"
    if cls.__module__.startswith("explainr.nn."):
        return f"explainr.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_layers(layers: Iterable[int] | int, available: int) -> frozenset[int]:
    layers = [layers] if isinstance(layers, int) else list(layers)
    bad = [x for x in layers if not isinstance(x, int) or not 0 <= x < available]
    if bad:
        raise ExplainrError(
            f"layers {bad} do not exist: the recorded modules have at most {available} layer(s), "
            f"numbered 0..{available - 1}"
        )
    return frozenset(layers)


def _check_names(names: Iterable[str], allowed: Iterable[str], what: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names)
    allowed = list(allowed)
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ExplainrError(f"unknown {what} name(s) {bad}; choose from {allowed}")
    return names


def record(
    model: nn.Module,
    *,
    modules: Iterable[str] | str | None = None,
    gates: Iterable[str] | str | None = None,
    states: Iterable[str] | str = STATE_NAMES,
    layers: Iterable[int] | int | None = None,
    dtype: torch.dtype | None = None,
) -> Recorder:
    """Record every gate, cell and hidden state of the recurrent modules inside ``model``.

    Run the model's own forward inside the block; its outputs and gradients are unchanged,
    and on exit nothing of explainr is left on the model or on PyTorch.

    Args:
        model: any ``nn.Module`` containing nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell,
            explainr.nn.PeepholeLSTM or explainr.nn.ConvLSTM modules (or subclasses).
        modules: names (from ``model.named_modules()``) to record; default all.
        gates: gate names to keep (LSTM input/forget/cell/output, GRU reset/update/new);
            default all, ``()`` for none.
        states: which states to keep, a subset of ``("cell", "hidden")``.
        layers: layer indices to keep; default all.
        dtype: storage dtype, e.g. ``torch.float16`` to halve memory; default as computed.

    Returns:
        A :class:`Recorder`; after the block, ``rec.trace[name]`` is a :class:`ModuleRecord`
        with ``gate(name, layer, direction)``, ``cell(...)``, ``hidden(...)`` tensors of
        shape ``(batch, time, hidden)``.

    >>> import torch, explainr
    >>> model = torch.nn.GRU(8, 16, num_layers=2, batch_first=True)
    >>> with explainr.record(model, gates=("update",)) as rec:
    ...     out, h = model(torch.randn(4, 30, 8))
    >>> rec.trace[""].gate("update", layer=1).shape
    torch.Size([4, 30, 16])
    """
    return Recorder(model, modules=modules, gates=gates, states=states, layers=layers, dtype=dtype)


def _marked_calls(model: nn.Module, found: dict[str, str]) -> dict[str, int]:
    """``{module name: call index}`` the model marks as the call over its input window.

    An explainr adapter sets ``recorded_calls`` for models whose recurrent module runs more
    than once per forward (an encoder, then an autoregressive decoder): the encoder's call
    is the one that reads the window.
    """
    marked = getattr(model, "recorded_calls", None) or {}
    return {name: int(call) for name, call in dict(marked).items() if name in found}
