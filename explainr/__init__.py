"""explainr: explain trained recurrent models (LSTM, GRU, peephole LSTM, ConvLSTM).

Three layers, data flowing one way:

- ``record``: every gate, cell and hidden state of the recurrent modules inside a model;
- ``attribute``: what the prediction used (IG, SHAP, LIME, occlusion, exact Shapley);
- ``Report`` / ``explain``: one self-contained interactive HTML report.

Heavy libraries (captum, shap, lime, plotly) are imported only when used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from explainr._core.errors import (
    ExplainrError,
    ExplainrTypeError,
    ExplainrValueError,
    ExplainrWarning,
)
from explainr._core.version import VERSION

__version__ = VERSION

# Public names that live in modules with heavy imports: loaded on first access. Even torch
# loads on first use, so that the command line owns Ctrl-C from its first line (`explainr.cli`).
_LAZY = {
    "CellKind": "explainr.record",
    "ModuleRecord": "explainr.record",
    "Recorder": "explainr.record",
    "Trace": "explainr.record",
    "record": "explainr.record",
    "register_cell": "explainr.record",
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
    "adapt": "explainr.adapters",
    "Adapter": "explainr.adapters",
    "Windows": "explainr.adapters",
    "explain_dataset": "explainr.dataset",
    "open_run": "explainr.dataset",
    "Run": "explainr.dataset",
}

__all__ = [
    "Adapter",
    "Attribution",
    "CellKind",
    "Decomposition",
    "ExplainrError",
    "ExplainrTypeError",
    "ExplainrValueError",
    "ExplainrWarning",
    "Explanation",
    "Memory",
    "ModuleRecord",
    "Recorder",
    "Report",
    "Run",
    "Trace",
    "UnitAttribution",
    "Windows",
    "__version__",
    "adapt",
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
    from explainr.adapters import Adapter, Windows, adapt
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
    from explainr.record import CellKind, ModuleRecord, Recorder, Trace, record, register_cell
    from explainr.report import Report


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'explainr' has no attribute {name!r}")
    importlib.import_module("explainr.record")  # declares PyTorch's cells, as an eager import did
    module = importlib.import_module(_LAZY[name])
    is_module = module.__name__.endswith("." + name) and name != "record"
    value = module if is_module else getattr(module, name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """``explainr`` itself: ``explainr.record`` stays the function `record`.

    Importing the subpackage ``explainr.record`` sets it as an attribute of ``explainr``; that
    one attribute is refused, so ``explainr.record(model)`` works however the package loaded.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "record" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(__all__)
