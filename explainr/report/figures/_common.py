"""What every figure shares: colours, the template, escaping, time labels, menus."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from explainr._core.errors import ExplainrError
from explainr.record import ModuleRecord, Trace
from explainr.report.figures import arrays as _arrays

DIVERGING = [
    [0.0, "#2166ac"],
    [0.25, "#92c5de"],
    [0.5, "#f7f7f7"],
    [0.75, "#f4a582"],
    [1.0, "#b2182b"],
]
SEQUENTIAL = "Viridis"
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
TEMPLATE = "plotly_white"
DIRECTIONS = ("forward", "reverse")


def esc(text: object) -> str:
    """``text`` as a string plotly shows literally (``<``, ``>``, ``&`` escaped)."""
    return html.escape(str(text), quote=False)


def _labels(labels: Sequence[object] | None, steps: int, factor: int = 1) -> list[str] | list[int]:
    """Escaped time labels (one per bin of ``factor`` steps), or step numbers.

    Repeated labels get their step number appended: plotly would merge equal categories.
    """
    if labels is None or len(labels) == 0:
        return list(range(0, steps, factor))
    if len(labels) != steps:
        raise ExplainrError(f"got {len(labels)} time labels for {steps} time steps")
    text = [str(x) for x in labels]
    if len(set(text)) < len(text):
        text = [f"{t} ({i})" for i, t in enumerate(text)]
    return [esc(x) for x in _arrays.bin_labels(text, factor)]


def module_record(record: ModuleRecord | Trace, module: str | None) -> ModuleRecord:
    if isinstance(record, ModuleRecord):
        return record
    names = list(record)
    if module is None and len(names) != 1:
        raise ExplainrError(f"the trace holds modules {names}; pass module=<one of them>")
    return record[module if module is not None else names[0]]


def _slots(record: ModuleRecord) -> list[tuple[int, int]]:
    """Every (layer, direction) pair of a module."""
    return [(la, d) for la in range(record.num_layers) for d in range(record.num_directions)]


def _slot_name(record: ModuleRecord, layer: int, direction: int) -> str:
    name = f"layer {layer}"
    return name + f" · {DIRECTIONS[direction]}" if record.num_directions > 1 else name


def _menu(labels: list[str], masks: list[list[bool]], titles: list[str]) -> list[dict]:
    """A dropdown that shows one group of traces at a time."""
    buttons = [
        {"label": lab, "method": "update", "args": [{"visible": m}, {"title.text": t}]}
        for lab, m, t in zip(labels, masks, titles, strict=True)
    ]
    return [
        {
            "buttons": buttons,
            "direction": "down",
            "showactive": True,
            "x": 0.0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
            "pad": {"r": 4, "t": 0},
        }
    ]


COLORBAR_LINE = 64  # px under the plot for a horizontal colour bar
TITLE_LINE = 34  # px at the top of a figure for its title
MENU_LINE = 34  # px below the title for a dropdown menu


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The shared look: a left-aligned title on its own line, any menu on the next line.

    A menu never covers the title or a subplot title, at any width: both sit in the top
    margin, one above the other, and the plot area starts below them.
    """
    menus = fig.layout.updatemenus
    subtitles = bool(fig.layout.annotations)
    top = TITLE_LINE + (MENU_LINE if menus else 0) + (28 if subtitles else 12)
    bars = _colorbars_below(fig)
    bottom = 50 + (COLORBAR_LINE if bars else 0)
    fig.update_layout(
        template=TEMPLATE,
        title={
            "text": title,
            "xref": "container",
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            "y": 1.0,
            "yanchor": "top",
            "pad": {"l": 6, "t": 8},
            "font": {"size": 13},
        },
        height=height,
        margin={"l": 60, "r": 20, "t": top, "b": bottom},
        hoverlabel={"namelength": -1},
        legend={"orientation": "h", "y": -0.15},
    )
    plot = max(height - top - bottom, 1)
    for bar in bars:  # under the x axis title, in paper units (pixels / plot height)
        bar.y = -58 / plot
    if menus:
        for menu in fig.layout.updatemenus:
            menu.update(y=1.0 + (top - TITLE_LINE) / plot, yanchor="top")
    return fig


def colorbar_below(title: str) -> dict:
    """A horizontal colour bar under the plot: the plot keeps the page's full width."""
    return {
        "title": {"text": title, "side": "top"},
        "orientation": "h",
        "lenmode": "pixels",
        "len": 240,
        "thickness": 10,
        "x": 0.5,
        "xanchor": "center",
        "yanchor": "top",
        "ypad": 0,
    }


def _colorbars_below(fig: go.Figure) -> list:
    """The horizontal colour bars of a figure's traces (heatmaps' and markers')."""
    bars = []
    for trace in fig.data:
        bar = getattr(trace, "colorbar", None) or getattr(
            getattr(trace, "marker", None), "colorbar", None
        )
        if bar is not None and bar.orientation == "h":
            bars.append(bar)
    return bars


def f32(values: np.ndarray) -> np.ndarray:
    """float32 for the figure's JSON: half the bytes, more than a screen's precision."""
    return np.asarray(values, dtype=np.float32)
