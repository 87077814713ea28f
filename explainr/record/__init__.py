"""record: per-timestep gates, cell and hidden states of recurrent modules."""

from explainr._core.cells import CellKind, cell_kind, register_cell
from explainr._core.sinks import Sink, sink_for
from explainr.record import _cells  # noqa: F401  # declares PyTorch's recurrent modules
from explainr.record._patch import tapped
from explainr.record._recorder import Recorder, find_recurrent, record, recurrent_kind
from explainr.record._trace import GATE_NAMES, ModuleRecord, Trace

__all__ = [
    "GATE_NAMES",
    "CellKind",
    "ModuleRecord",
    "Recorder",
    "Sink",
    "Trace",
    "cell_kind",
    "find_recurrent",
    "record",
    "recurrent_kind",
    "register_cell",
    "sink_for",
    "tapped",
]
