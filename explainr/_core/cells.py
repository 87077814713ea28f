"""The registry of recurrent cells: one declaration per kind, read by every layer.

A `CellKind` says what a kind of recurrent module is (its gate names in weight order,
which gates are squashed by tanh, whether it carries a cell state) and how `record` sees
it run:

- ``"kernel"``: a fused torch module (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) whose forward
  calls ``torch._VF.<kernel>``; `record` runs that kernel one layer at a time and, when
  gates are asked for, calls ``gate_values`` for each layer and direction.
- ``"step"``: a cell module called once per time step (``nn.LSTMCell``); `record` wraps its
  forward and calls ``gate_values`` on each call.
- ``"self"``: the module reports its own gates and states to
  ``explainr.record.sink_for(self)`` (``explainr.nn``'s modules).

``gate_values(x, h, state0, weights, reverse=, lengths=, gates=, want_cell=)`` recomputes a
layer's gates from its input ``x`` ``(B, T, in)``, its output ``h`` ``(B, T, H)``, its initial
state (a tuple: ``(h0,)`` or ``(h0, c0)``, each ``(B, H)``) and its weights in the module's
order; it returns ``{gate name: (B, T, H)}`` plus ``"c"`` when ``want_cell``.

>>> kind = cell_kind("gru")
>>> kind.gates, kind.tanh_gates, kind.has_cell
(('reset', 'update', 'new'), ('new',), False)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from explainr._core.errors import ExplainrError

Recording = Literal["kernel", "step", "self"]
STATES = ("cell", "hidden")


@dataclass(frozen=True)
class CellKind:
    """One kind of recurrent module, as explainr records, attributes and draws it.

    Args:
        name: the kind's name in traces and reports, e.g. ``"lstm"``.
        gates: gate names in the order the module's weights stack them.
        tanh_gates: the gates squashed by tanh (values in [-1, 1]); the others are
            sigmoids (values in [0, 1]).
        has_cell: whether the module carries a cell state besides its hidden state.
        modules: the module classes of this kind (subclasses match too).
        recording: ``"kernel"``, ``"step"`` or ``"self"`` (see the module docstring).
        kernels: for ``"kernel"``: the ``torch._VF`` functions the module calls.
        gate_values: for ``"kernel"`` and ``"step"``: recomputes a layer's gates.
        label: a display name (default: the name in capitals).
    """

    name: str
    gates: tuple[str, ...]
    tanh_gates: tuple[str, ...] = ()
    has_cell: bool = False
    modules: tuple[type[nn.Module], ...] = ()
    recording: Recording = "self"
    kernels: tuple[str, ...] = ()
    gate_values: Callable[..., dict] | None = field(default=None, compare=False)
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ExplainrError(f"a cell kind's name must be an identifier, got {self.name!r}")
        if self.recording not in ("kernel", "step", "self"):
            raise ExplainrError(
                f"cell kind {self.name!r}: recording must be 'kernel', 'step' or 'self', "
                f"got {self.recording!r}"
            )
        unknown = set(self.tanh_gates) - set(self.gates)
        if unknown:
            raise ExplainrError(
                f"cell kind {self.name!r}: tanh_gates {sorted(unknown)} are not among its "
                f"gates {list(self.gates)}"
            )
        if self.recording != "self" and self.gates and self.gate_values is None:
            raise ExplainrError(
                f"cell kind {self.name!r} is recorded by {self.recording!r} and has gates: "
                "give gate_values, the function that recomputes them"
            )
        if self.recording == "kernel" and not self.kernels:
            raise ExplainrError(f"cell kind {self.name!r}: name the torch._VF kernels it calls")

    @property
    def title(self) -> str:
        """The display name."""
        return self.label or self.name.upper()

    def is_tanh(self, gate: str) -> bool:
        """Whether ``gate`` takes values in [-1, 1] (tanh) rather than [0, 1] (sigmoid)."""
        return gate in self.tanh_gates


_LOCK = threading.Lock()
_KINDS: dict[str, CellKind] = {}
_BY_CLASS: dict[type, CellKind] = {}


def register_cell(kind: CellKind, *, replace: bool = False) -> CellKind:
    """Make a kind of recurrent module known to `record`, the report and unit attribution.

    Args:
        kind: the declaration.
        replace: allow replacing a kind of the same name (or claiming the same class).

    Returns:
        ``kind``.
    """
    if not isinstance(kind, CellKind):
        raise ExplainrError(f"register_cell takes a CellKind, got {type(kind).__name__}")
    with _LOCK:
        old = _KINDS.get(kind.name)
        taken = [c for c in kind.modules if c in _BY_CLASS and _BY_CLASS[c].name != kind.name]
        if not replace and ((old is not None and old != kind) or taken):
            what = f"class {taken[0].__name__}" if taken else f"name {kind.name!r}"
            raise ExplainrError(
                f"a cell kind with the {what} is registered already; pass replace=True to "
                "replace it"
            )
        if old is not None:
            for cls in old.modules:
                _BY_CLASS.pop(cls, None)
        _KINDS[kind.name] = kind
        for cls in kind.modules:
            _BY_CLASS[cls] = kind
    return kind


def cell_kind(name: str) -> CellKind:
    """The registered kind called ``name``."""
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ExplainrError(f"no cell kind named {name!r}; registered: {sorted(_KINDS)}") from None


def kind_of(module: nn.Module) -> CellKind | None:
    """The kind of ``module`` (its own class or the nearest registered base), or None."""
    for cls in type(module).__mro__:
        kind = _BY_CLASS.get(cls)
        if kind is not None:
            return kind
    return None


def cell_kinds() -> list[CellKind]:
    """Every registered kind, in registration order."""
    return list(_KINDS.values())


class GateNames(Mapping[str, tuple[str, ...]]):
    """Read-only view: kind name -> gate names, always current with the registry."""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return cell_kind(name).gates

    def __iter__(self) -> Iterator[str]:
        return iter(list(_KINDS))

    def __len__(self) -> int:
        return len(_KINDS)
