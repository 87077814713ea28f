"""Every figure of the report as a ``plotly.graph_objects.Figure``, for restyling or reuse.

Results in, figures out: each function takes a recorded module (``rec.trace[name]``) or
an :class:`~explainr.Attribution` and only reshapes it. User strings (feature names,
time labels, module and method names) are HTML-escaped, because plotly renders a subset
of HTML in titles, tick labels and hover text. Public as ``explainr.plots``.
"""

import importlib
from typing import TYPE_CHECKING, Any

# Figure functions load plotly: they are imported on first use, so that building a
# `Report` object (or importing explainr) stays light.
_HOME = {
    "attribution_frames": "frames",
    "attribution_heatmap": "attribution",
    "attribution_summary": "attribution",
    "input_attribution": "attribution",
    "method_comparison": "attribution",
    "faithfulness_curves": "metrics",
    "frame_shares": "frames",
    "gate_distributions": "trace",
    "gate_heatmap": "trace",
    "gate_saturation": "trace",
    "state_maps": "frames",
    "state_trajectories": "trace",
    "time_summed_map": "frames",
}

if TYPE_CHECKING:  # pragma: no cover
    from explainr.report.figures.attribution import (
        attribution_heatmap,
        attribution_summary,
        input_attribution,
        method_comparison,
    )
    from explainr.report.figures.frames import (
        attribution_frames,
        frame_shares,
        state_maps,
        time_summed_map,
    )
    from explainr.report.figures.metrics import faithfulness_curves
    from explainr.report.figures.trace import (
        gate_distributions,
        gate_heatmap,
        gate_saturation,
        state_trajectories,
    )

__all__ = [
    "attribution_frames",
    "attribution_heatmap",
    "attribution_summary",
    "faithfulness_curves",
    "frame_shares",
    "gate_distributions",
    "gate_heatmap",
    "gate_saturation",
    "input_attribution",
    "method_comparison",
    "state_maps",
    "state_trajectories",
    "time_summed_map",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'explainr.report.figures' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
