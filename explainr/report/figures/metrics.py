"""Figures of faithfulness metrics: deletion and insertion curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explainr.report.figures import arrays as _arrays
from explainr.report.figures._common import (
    COLORS as _COLORS,
)
from explainr.report.figures._common import (
    _style,
    esc,
)
from explainr.report.figures._common import (
    f32 as _f32,
)


def faithfulness_curves(curves: Mapping[str, Mapping[str, Any]], sample: int = 0) -> go.Figure:
    """Deletion and insertion curves of each method, side by side.

    Args:
        curves: per method, ``{"deletion": Curve, "insertion": Curve}`` from
            :func:`explainr.metrics.deletion` / :func:`~explainr.metrics.insertion`
            (``fractions`` ``(steps + 1,)``, ``outputs`` ``(batch, steps + 1)``).
        sample: batch index to show.

    Returns:
        A two-panel figure: the model's output as the most-attributed cells are removed
        (top; a faithful method drops fast) or inserted into the baseline (bottom; a
        faithful method rises fast). Dotted lines mark f(x) and f(baseline).
    """
    kinds = ("deletion", "insertion")
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.2,
        subplot_titles=["deletion (lower is better)", "insertion (higher is better)"],
    )
    reference = None
    for k, (method, pair) in enumerate(curves.items()):
        for col, kind in enumerate(kinds, start=1):
            curve = pair.get(kind)
            if curve is None:
                continue
            _arrays.check_sample(sample, len(curve.outputs))
            reference = curve
            fig.add_trace(
                go.Scatter(
                    x=_f32(curve.fractions),
                    y=_f32(curve.outputs[sample]),
                    mode="lines+markers",
                    name=esc(method),
                    legendgroup=esc(method),
                    showlegend=col == 1,
                    line={"color": _COLORS[k % len(_COLORS)]},
                    marker={"size": 4},
                    hovertemplate=(
                        f"{esc(method)} · {kind}<br>%{{x:.0%}} of cells<br>"
                        f"output = %{{y:.4g}}<br>AUC = {float(curve.auc[sample]):.4g}<extra></extra>"
                    ),
                ),
                row=col,
                col=1,
            )
    if reference is not None:
        for value, label in (
            (reference.prediction[sample], "f(x)"),
            (reference.baseline_prediction[sample], "f(baseline)"),
        ):
            fig.add_hline(
                y=float(value),
                line={"dash": "dot", "color": "#888"},
                annotation_text=label,
                annotation_position="top left",
            )
    fig.update_xaxes(title_text="share of cells removed", tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="share of cells inserted", tickformat=".0%", row=2, col=1)
    fig.update_yaxes(title_text="model output", nticks=5)
    return _style(fig, "faithfulness curves", 640)
