"""record: per-timestep gates, cell and hidden states of recurrent modules."""

from explainr.record._recorder import Recorder, find_recurrent, record, recurrent_kind
from explainr.record._trace import GATE_NAMES, ModuleRecord, Trace

__all__ = [
    "GATE_NAMES",
    "ModuleRecord",
    "Recorder",
    "Trace",
    "find_recurrent",
    "record",
    "recurrent_kind",
]
