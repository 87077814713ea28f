"""Every figure of the report as a ``plotly.graph_objects.Figure``, for restyling or reuse.

Results in, figures out: each function takes a recorded module (``rec.trace[name]``) or
an :class:`~explainr.Attribution` and only reshapes it. User strings (feature names,
time labels, module and method names) are HTML-escaped, because plotly renders a subset
of HTML in titles, tick labels and hover text.

>>> import torch, explainr
>>> lstm = torch.nn.LSTM(2, 8, batch_first=True)
>>> with explainr.record(lstm) as rec:
...     _ = lstm(torch.randn(1, 20, 2))
>>> fig = explainr.plots.gate_heatmap(rec.trace[""])
>>> len(fig.data)  # one heatmap per gate, layer and direction, picked from a menu
4
"""

from typing import Any

from explainr.report import figures as _figures
from explainr.report.figures import __all__  # one list of figures, kept in the report


def __getattr__(name: str) -> Any:
    return getattr(_figures, name)


def __dir__() -> list[str]:
    return sorted(__all__)
