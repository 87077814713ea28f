"""Figures of a model's memory (`explainr.memory`): results in, figures out.

- `timescale_figure`: each unit's forget-gate timescale, per layer and direction;
- `lag_share_figure`: the share of the prediction that comes from each input lag.

plotly is imported only when a figure is drawn.

>>> import torch, explainr
>>> lstm = torch.nn.LSTM(2, 4, num_layers=2, batch_first=True)
>>> class Net(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.rnn, self.head = lstm, torch.nn.Linear(4, 1)
...     def forward(self, x):
...         return self.head(self.rnn(x)[0][:, -1])
>>> m = explainr.memory(Net(), torch.randn(3, 10, 2))
>>> len(timescale_figure(m).data), len(lag_share_figure(m).data)
(2, 1)
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

from explainr.attribution import Memory

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

__all__ = ["lag_share_figure", "timescale_figure"]

TEMPLATE = "plotly_white"
DIRECTIONS = ("forward", "reverse")


def timescale_figure(memory: Memory) -> go.Figure:
    """Each unit's timescale ``-1 / ln(mean gate)`` in steps, one trace per layer and direction.

    Units are sorted by timescale within a trace (x = rank), on a log axis; a unit whose
    mean gate is 1 (an infinite timescale) is drawn at the top of the axis and says so.

    Args:
        memory: from `explainr.memory`.

    Returns:
        A ``plotly.graph_objects.Figure`` with ``layers * directions`` scatter traces.
    """
    import plotly.graph_objects as go

    layers, directions, _ = memory.timescale.shape
    finite = memory.timescale[np.isfinite(memory.timescale)]
    top = float(finite.max()) * 2 if finite.size else 1.0
    fig = go.Figure()
    for layer in range(layers):
        for d in range(directions):
            values = memory.timescale[layer, d]
            order = np.argsort(values)
            shown = np.where(np.isfinite(values[order]), values[order], top)
            name = f"layer {layer}" + (f" {DIRECTIONS[d]}" if directions > 1 else "")
            labels = [
                f"unit {u}: "
                + (f"{values[u]:.3g} steps" if np.isfinite(values[u]) else "never forgets")
                + f" (mean {html.escape(memory.gate)} gate {memory.mean_gate[layer, d, u]:.3f})"
                for u in order
            ]
            fig.add_trace(
                go.Scatter(
                    x=np.arange(len(order)),
                    y=shown,
                    mode="markers+lines",
                    name=name,
                    text=labels,
                    hovertemplate="%{text}<extra>" + name + "</extra>",
                )
            )
    from explainr.report.figures._common import _style

    fig.update_layout(
        xaxis_title="units, sorted by timescale",
        yaxis_title="timescale (steps)",
        yaxis_type="log",
    )
    title = f"Timescale per unit of the {html.escape(memory.gate)} gate (−1 / ln mean gate)"
    return _style(fig, title, 400)


def lag_share_figure(memory: Memory) -> go.Figure:
    """Bars of the share of the prediction coming from the inputs k steps back.

    Args:
        memory: from `explainr.memory`.

    Returns:
        A ``plotly.graph_objects.Figure`` with one bar trace over lags 0 .. time - 1
        (lag 0 = the last step), its title naming the lag that holds 90% cumulatively.
    """
    import plotly.graph_objects as go

    lags = np.arange(len(memory.lag_share))
    fig = go.Figure(
        go.Bar(
            x=lags,
            y=memory.lag_share,
            marker_color="#4c72b0",
            hovertemplate="lag %{x} steps back<br>share %{y:.3f}<extra></extra>",
        )
    )
    from explainr.report.figures._common import _style

    fig.update_layout(
        xaxis_title="lag k (steps before the last)",
        yaxis_title="share",
    )
    title = f"Share of the prediction per input lag (90% within {memory.lag_within(0.9)} steps)"
    return _style(fig, title, 340)
