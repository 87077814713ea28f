"""What `record` returns: per-call records of recurrent modules, grouped in a `Trace`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explainr._core.cells import CellKind, GateNames, cell_kind
from explainr._core.errors import ExplainrError
from explainr._core.files import write_atomic

GATE_NAMES = GateNames()  # kind name -> gate names, read from the cell registry

Key = tuple[str, int, int]  # (what, layer, direction); what = "gate:<name>" | "cell" | "hidden"


@dataclass
class ModuleRecord:
    """Everything recorded for one call of one recurrent module.

    Tensors are batch-first ``(batch, time, *unit_shape)`` (gates may be non-contiguous
    views of one buffer: use ``.reshape``/``.contiguous()`` rather than ``.view``): ``unit_shape`` is ``(hidden,)``
    for LSTM/GRU (``(proj_size,)`` for an LSTM's hidden state when projected) and
    ``(channels, height, width)`` for ConvLSTM. The time axis is aligned with the input, for
    the reverse direction too. Steps past a sequence's length (packed input) are NaN.

    >>> import torch, explainr
    >>> lstm = torch.nn.LSTM(3, 4, batch_first=True)
    >>> with explainr.record(lstm) as rec:
    ...     _ = lstm(torch.randn(2, 5, 3))
    >>> rec.trace[""].gate("forget").shape
    torch.Size([2, 5, 4])
    """

    name: str
    kind: str
    num_layers: int
    num_directions: int
    batch_size: int
    time_steps: int
    lengths: torch.Tensor | None = None
    data: dict[Key, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def cell_kind(self) -> CellKind:
        """The registered description of this kind of module (gates, tanh gates, cell state)."""
        return cell_kind(self.kind)

    @property
    def gate_names(self) -> tuple[str, ...]:
        """Gate names of this kind of module, in PyTorch's order (i, f, g, o or r, z, n)."""
        return self.cell_kind.gates

    @property
    def has_cell(self) -> bool:
        """Whether this kind of module has a cell state (LSTM-like modules do, GRU does not)."""
        return self.cell_kind.has_cell

    def gate(self, name: str, layer: int = 0, direction: int = 0) -> torch.Tensor:
        """One gate's activations, ``(batch, time, *unit_shape)``.

        Args:
            name: a name from ``gate_names`` (LSTM: input, forget, cell, output;
                GRU: reset, update, new).
            layer: layer index, ``0 <= layer < num_layers``.
            direction: 0 forward, 1 reverse (bidirectional modules only).
        """
        if name not in self.gate_names:
            raise ExplainrError(
                f"{self._label()} has no gate {name!r}; its gates are {list(self.gate_names)}"
            )
        return self._get(f"gate:{name}", layer, direction)

    def gates(self, layer: int = 0, direction: int = 0) -> dict[str, torch.Tensor]:
        """All kept gates of one layer and direction, by name."""
        return {
            g: self.data[(f"gate:{g}", layer, direction)]
            for g in self.gate_names
            if (f"gate:{g}", layer, direction) in self.data
        }

    def cell(self, layer: int = 0, direction: int = 0) -> torch.Tensor:
        """Cell state c_t after each step, ``(batch, time, *unit_shape)`` (LSTM-like only)."""
        if not self.has_cell:
            raise ExplainrError(
                f"{self._label()} is a {self.kind.upper()} and has no cell state; "
                "use .hidden() for its state"
            )
        return self._get("cell", layer, direction)

    def hidden(self, layer: int = 0, direction: int = 0) -> torch.Tensor:
        """Hidden state h_t after each step, ``(batch, time, *unit_shape)``."""
        return self._get("hidden", layer, direction)

    def keys(self) -> list[str]:
        """Flat names of everything kept, e.g. ``"gate/forget/l0/d0"``, ``"cell/l1/d1"``."""
        return [_flat_key(k) for k in self.data]

    def to_dict(self) -> dict[str, np.ndarray]:
        """Everything kept as numpy arrays, keyed like ``keys()``."""
        return {_flat_key(k): v.detach().cpu().numpy() for k, v in self.data.items()}

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept tensors."""
        return sum(t.numel() * t.element_size() for t in self.data.values())

    def _get(self, what: str, layer: int, direction: int) -> torch.Tensor:
        if not 0 <= layer < self.num_layers:
            raise ExplainrError(
                f"{self._label()} has {self.num_layers} layer(s); layer={layer} is out of range"
            )
        if not 0 <= direction < self.num_directions:
            raise ExplainrError(
                f"{self._label()} has {self.num_directions} direction(s); "
                f"direction={direction} is out of range"
            )
        key = (what, layer, direction)
        if key not in self.data:
            raise ExplainrError(
                f"{_flat_key(key)} of {self._label()} was not kept; kept: {self.keys()}. "
                "Pass gates=None, states=('cell', 'hidden'), layers=None to record() to keep all"
            )
        return self.data[key]

    def _label(self) -> str:
        return f"{self.kind} module {self.name!r}"


def _flat_key(key: Key) -> str:
    what, layer, direction = key
    return f"{what.replace(':', '/')}/l{layer}/d{direction}"


class Trace(Mapping[str, ModuleRecord]):
    """Records of every call of every recorded module, keyed by ``model.named_modules()`` name.

    ``trace[name]`` is the module's last call, or the call the model marks as the one over
    its input window (an adapter's encoder before an autoregressive decoder: see
    ``trace.marked``); for ``nn.LSTMCell``/``nn.GRUCell`` (one timestep per call) it is all
    calls joined along time. ``trace.calls(name)`` lists every call in call order.
    """

    def __init__(
        self, names: list[str], kinds: dict[str, str], marked: dict[str, int] | None = None
    ) -> None:
        self._names = list(names)
        self._kinds = dict(kinds)
        self.marked: dict[str, int] = dict(marked or {})  # name -> the call over the window
        self._calls: dict[str, list[ModuleRecord]] = {n: [] for n in names}

    def _append(self, record: ModuleRecord) -> None:
        self._calls[record.name].append(record)

    @property
    def names(self) -> list[str]:
        """Names of the recorded modules, whether or not they ran."""
        return list(self._names)

    def kind(self, name: str) -> str:
        """Kind of a recorded module: lstm, gru, lstm_cell, gru_cell, peephole_lstm, conv_lstm,
        reset_before_gru."""
        self._check(name)
        return self._kinds[name]

    def calls(self, name: str) -> list[ModuleRecord]:
        """Every call of module ``name``, in call order."""
        self._check(name)
        return list(self._calls[name])

    def __getitem__(self, name: str) -> ModuleRecord:
        calls = self.calls(name)
        if not calls:
            raise ExplainrError(
                f"module {name!r} was recorded but never ran; modules that ran: "
                f"{[n for n in self._names if self._calls[n]]}"
            )
        if name in self.marked and -len(calls) <= self.marked[name] < len(calls):
            return calls[self.marked[name]]
        if cell_kind(self._kinds[name]).recording == "step" and len(calls) > 1:
            return _join_steps(calls)
        return calls[-1]

    def get(self, name: str, default: ModuleRecord | None = None) -> ModuleRecord | None:  # type: ignore[override]
        """``trace[name]``, or ``default`` when no module of that name ran."""
        return self[name] if name in self else default  # noqa: SIM401 (Mapping.get would recurse)

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._names if self._calls[n])

    def __contains__(self, name: object) -> bool:  # Mapping's default calls __getitem__
        return isinstance(name, str) and bool(self._calls.get(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        parts = [f"{n!r}: {self._kinds[n]} x{len(self._calls[n])} call(s)" for n in self._names]
        return "Trace({" + ", ".join(parts) + "})"

    @property
    def nbytes(self) -> int:
        """Bytes held by every kept tensor of every call."""
        return sum(r.nbytes for calls in self._calls.values() for r in calls)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Everything as numpy arrays: ``"<module>/gate/<name>/l<layer>/d<dir>"``,
        ``"<module>/cell/l0/d0"``, ``"<module>/hidden/l0/d0"`` for the last
        call (cells: all steps), plus ``"<module>/lengths"`` for packed input."""
        out: dict[str, np.ndarray] = {}
        for name in self:
            rec = self[name]
            for key, value in rec.to_dict().items():
                out[f"{name}/{key}"] = value
            if rec.lengths is not None:
                out[f"{name}/lengths"] = rec.lengths.cpu().numpy()
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` to a ``.npz`` file atomically and return its path."""
        arrays = self.to_dict()
        return write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays), "trace")

    def _check(self, name: str) -> None:
        if name not in self._calls:
            raise ExplainrError(f"no recorded module named {name!r}; recorded: {self._names}")


def _join_steps(calls: list[ModuleRecord]) -> ModuleRecord:
    """Join single-step records (cells driven by a Python loop) along time."""
    first = calls[0]
    if any(c.batch_size != first.batch_size or c.data.keys() != first.data.keys() for c in calls):
        raise ExplainrError(
            f"calls of {first.name!r} differ in batch size; use trace.calls({first.name!r})"
        )
    data = {k: torch.cat([c.data[k] for c in calls], dim=1) for k in first.data}
    return ModuleRecord(
        name=first.name,
        kind=first.kind,
        num_layers=first.num_layers,
        num_directions=first.num_directions,
        batch_size=first.batch_size,
        time_steps=sum(c.time_steps for c in calls),
        data=data,
    )
