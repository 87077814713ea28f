"""A result's compact notebook display: one line, a small table and an inline SVG bar chart.

No JavaScript and no plotly: a few kilobytes per display, every name HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

TOP = 8  # names shown in the table and the chart
WIDTH, ROW, LABEL = 360, 16, 130  # chart width, bar height and label column, in px


def result_html(result: Any) -> str:
    """HTML summarising ``result`` (`Attribution` or `UnitAttribution`), a few kB.

    The table and chart show the names with the largest ``|value summed over time|``
    (mean over windows when there are several).

    >>> from explainr.attribution._result import _example
    >>> html = result_html(_example())
    >>> "<svg" in html and "infl" in html and len(html) < 10_000
    True
    """
    windows, steps, count = result.values.shape
    names = result._names()
    totals = result.values.sum(axis=1).mean(axis=0)  # (names,)
    order = np.argsort(-np.abs(totals), kind="stable")[:TOP]
    what = getattr(result, "method", None) or f"module {getattr(result, 'module', '')}"
    scope = "window 0" if windows == 1 else f"mean over {windows} windows"
    lines = [
        f"<b>{escape(type(result).__name__)}</b> {escape(str(what))}: {windows} window(s) x "
        f"{steps} time steps x {count} {escape(result.NAME_AXIS)}s"
        + (" (partial: indexed)" if result.partial else ""),
        f"f(x) {_num(result.prediction.mean())}, f(baseline) "
        f"{_num(result.baseline_prediction.mean())} ({scope})" + _completeness(result),
    ]
    rows = "".join(
        f"<tr><td>{escape(names[i])}</td><td style='text-align:right'>{_num(totals[i])}</td></tr>"
        for i in order
    )
    table = (
        f"<table style='font-size:12px;border-collapse:collapse'><tr><th>{escape(result.NAME_AXIS)}"
        f"</th><th>sum over time</th></tr>{rows}</table>"
    )
    more = f"<div style='font-size:11px'>top {len(order)} of {count}</div>" if count > TOP else ""
    return (
        "<div style='font-family:sans-serif;font-size:13px'>"
        + "<br>".join(lines)
        + "<div style='display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap'>"
        + table
        + _bars(totals[order], [names[i] for i in order])
        + f"</div>{more}</div>"
    )


def _bars(values: np.ndarray, names: list[str]) -> str:
    """A horizontal bar chart: positive bars right of the axis, negative left."""
    span = float(np.abs(values).max()) if len(values) else 0.0
    span = span or 1.0
    half = (WIDTH - LABEL) / 2
    zero = LABEL + half
    height = ROW * len(values) + 4
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        "role='img' aria-label='sum over time per name' style='font-size:11px'>",
        f"<line x1='{zero}' y1='0' x2='{zero}' y2='{height}' stroke='#888'/>",
    ]
    for row, (value, name) in enumerate(zip(values, names, strict=True)):
        length = abs(float(value)) / span * (half - 2)
        x = zero if value >= 0 else zero - length
        y = row * ROW + 2
        colour = "#d6604d" if value >= 0 else "#4393c3"
        label = escape(name if len(name) <= 20 else name[:19] + "…")
        parts.append(
            f"<text x='{LABEL - 4}' y='{y + ROW - 5}' text-anchor='end'>{label}</text>"
            f"<rect x='{x:.1f}' y='{y}' width='{length:.1f}' height='{ROW - 4}' fill='{colour}'>"
            f"<title>{escape(name)}: {_num(value)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _completeness(result: Any) -> str:
    method = getattr(result, "method", None)
    if method == "lime" and result.settings.get("r2"):  # not additive: say what it promises
        return f"; LIME surrogate fit R² {min(result.settings['r2']):.2f} (worst window)"
    if result.partial or method == "occlusion":  # occlusion is not additive either
        return ""
    error = float(np.max(result.completeness_error))
    return f"; completeness error {error:.2%} (worst window)"


def _num(value: float) -> str:
    return f"{float(value):.4g}"
