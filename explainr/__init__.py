"""explainr: explain trained recurrent models (LSTM, GRU, peephole LSTM, ConvLSTM).

Three layers, data flowing one way:

- ``record``: every gate, cell and hidden state of the recurrent modules inside a model;
- ``attribute``: what the prediction used (IG, SHAP, LIME, occlusion, exact Shapley);
- ``Report`` / ``explain``: one self-contained interactive HTML report.

Heavy libraries (captum, shap, lime, plotly) are imported only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from explainr._core.errors import ExplainrError
from explainr._core.version import VERSION
from explainr.record import CellKind, ModuleRecord, Recorder, Trace, record, register_cell

__version__ = VERSION

# Public names that live in modules with heavy imports: loaded on first access.
_LAZY = {
    "attribute": "explainr.attribution",
    "attribute_units": "explainr.attribution",
    "Attribution": "explainr.attribution",
    "UnitAttribution": "explainr.attribution",
    "sliding_windows": "explainr.attribution",
    "contextual_decomposition": "explainr.attribution",
    "Decomposition": "explainr.attribution",
    "memory": "explainr.attribution",
    "Memory": "explainr.attribution",
    "Report": "explainr.report",
    "explain": "explainr.explanation",
    "Explanation": "explainr.explanation",
    "metrics": "explainr.metrics",
    "plots": "explainr.plots",
    "nn": "explainr.nn",
    "zoo": "explainr.zoo",
    "load": "explainr.attribution",
    "explain_dataset": "explainr.dataset",
    "open_run": "explainr.dataset",
    "Run": "explainr.dataset",
}

__all__ = [
    "Attribution",
    "CellKind",
    "Decomposition",
    "ExplainrError",
    "Explanation",
    "Memory",
    "ModuleRecord",
    "Recorder",
    "Report",
    "Run",
    "Trace",
    "UnitAttribution",
    "__version__",
    "attribute",
    "attribute_units",
    "contextual_decomposition",
    "explain",
    "explain_dataset",
    "load",
    "memory",
    "metrics",
    "nn",
    "open_run",
    "plots",
    "record",
    "register_cell",
    "sliding_windows",
    "zoo",
]

if TYPE_CHECKING:  # pragma: no cover
    from explainr import metrics, nn, plots, zoo
    from explainr.attribution import (
        Attribution,
        Decomposition,
        Memory,
        UnitAttribution,
        attribute,
        attribute_units,
        contextual_decomposition,
        load,
        memory,
        sliding_windows,
    )
    from explainr.dataset import Run, explain_dataset, open_run
    from explainr.explanation import Explanation, explain
    from explainr.report import Report


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'explainr' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
