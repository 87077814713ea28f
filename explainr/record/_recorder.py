"""`record`: a context manager that records every recurrent module inside a model."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from types import TracebackType

import torch
from torch import nn

from explainr._core import sinks
from explainr._core.cells import STATES, cell_kind, cell_kinds, kind_of
from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError
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
        states: Iterable[str] | None = STATE_NAMES,
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
            modules = _names_of(modules, "modules", "module names from model.named_modules()")
            unknown = [m for m in modules if m not in found]
            if unknown:
                raise ExplainrError(
                    f"modules {unknown} are not recurrent modules of the model; "
                    f"recordable modules: {list(found)}"
                )
            found = {m: found[m] for m in modules}
        self._gates = None if gates is None else frozenset(_check_gates(gates, found))
        self._states = frozenset(_check_states(states, found))
        self._layers = (
            None if layers is None else _check_layers(layers, self._count_layers(model, found))
        )
        self._dtype = _check_dtype(dtype)
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


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_layers(layers: Iterable[int] | int, available: int) -> frozenset[int]:
    hint = f"an int or a list of ints, layer indices 0..{available - 1}"
    if _is_int(layers):
        values = [layers]
    elif isinstance(layers, (str, bytes, bool)) or not isinstance(layers, Iterable):
        raise ExplainrTypeError(f"layers must be {hint}; got {type(layers).__name__} {layers!r}")
    else:
        values = list(layers)
        wrong = [x for x in values if not _is_int(x)]
        if wrong:
            raise ExplainrTypeError(
                f"layers must be {hint}; got {wrong!r} in layers={values!r} (a bool or a float "
                "is not a layer index)"
            )
    bad = [int(x) for x in values if not 0 <= x < available]  # type: ignore[operator]
    if bad:
        raise ExplainrValueError(
            f"layers {bad} do not exist: the recorded modules have at most {available} layer(s), "
            f"numbered 0..{available - 1}"
        )
    return frozenset(int(x) for x in values)  # type: ignore[call-overload]


def _names_of(names: object, argument: str, what: str) -> list[str]:
    """A str or an iterable of str as a list; anything else an error naming ``argument``."""
    if isinstance(names, str):
        return [names]
    if not isinstance(names, Iterable) or isinstance(names, (bytes, dict)):
        raise ExplainrTypeError(
            f"{argument} must be a str or a list of str ({what}); got "
            f"{type(names).__name__} {names!r}"
        )
    values = list(names)
    wrong = [n for n in values if not isinstance(n, str)]
    if wrong:
        raise ExplainrTypeError(
            f"{argument} must be a str or a list of str ({what}); got {wrong!r} in {values!r}"
        )
    return values


def _kinds_text(found: dict[str, str], what: str) -> str:
    """``'rnn' (gru): reset, update, new; ...`` for an error message."""
    parts = []
    for name, kind_name in found.items():
        kind = cell_kind(kind_name)
        has = (
            kind.gates if what == "gates" else ("cell", "hidden") if kind.has_cell else ("hidden",)
        )
        parts.append(f"{name!r} ({kind_name}): {', '.join(has) or 'none'}")
    return "; ".join(parts)


def _check_gates(gates: object, found: dict[str, str]) -> list[str]:
    """Every gate asked for must be a gate of at least one recorded module."""
    names = _names_of(gates, "gates", "gate names, () for none, None for all")
    available = {g for kind in found.values() for g in cell_kind(kind).gates}
    bad = [g for g in names if g not in available]
    if bad:
        raise ExplainrValueError(
            f"unknown gate name(s) {bad}; choose from {sorted(available)}, the gates of the "
            f"recorded modules: {_kinds_text(found, 'gates')}"
        )
    return names


def _check_states(states: object, found: dict[str, str]) -> list[str]:
    """Known names, at least one of them held by a recorded module (GRUs have no cell)."""
    if states is None:  # like gates=None: everything
        return list(STATE_NAMES)
    names = _names_of(states, "states", "a subset of ('cell', 'hidden'), None for both")
    bad = [n for n in names if n not in STATE_NAMES]
    if bad:
        raise ExplainrValueError(f"unknown state name(s) {bad}; choose from {list(STATE_NAMES)}")
    if names and "hidden" not in names and not any(cell_kind(k).has_cell for k in found.values()):
        raise ExplainrValueError(
            f"states={tuple(names)!r} records nothing: no recorded module has a cell state "
            f"({_kinds_text(found, 'states')}); use states='hidden'"
        )
    return names


def _check_dtype(dtype: object) -> torch.dtype | None:
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype):
        raise ExplainrTypeError(
            f"dtype must be a floating torch.dtype such as torch.float16, got "
            f"{type(dtype).__name__} {dtype!r}"
        )
    if not dtype.is_floating_point:
        raise ExplainrValueError(
            f"dtype={dtype} would cast gates and states (values in 0..1 or -1..1) to whole "
            "numbers or bools; use a floating dtype: torch.float16, torch.bfloat16, "
            "torch.float32 or torch.float64 (or None to keep the computed one)"
        )
    return dtype


def record(
    model: nn.Module,
    *,
    modules: Iterable[str] | str | None = None,
    gates: Iterable[str] | str | None = None,
    states: Iterable[str] | str | None = STATE_NAMES,
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
            default all, ``()`` for none. Each name must be a gate of at least one recorded
            module (``"forget"`` on a GRU alone is an error naming its gates).
        states: which states to keep, a subset of ``("cell", "hidden")``; modules without
            a cell state (GRUs) keep only ``hidden``, and ``"cell"`` alone with no such module
            recorded is an error.
        layers: layer indices to keep (ints; a bool or float is an error); default all.
        dtype: storage dtype, a floating one, e.g. ``torch.float16`` to halve memory;
            default as computed. Integer and bool dtypes are an error.

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
