"""`global_report`: one self-contained HTML page of a whole stored run (every window)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from explainr._core.errors import ExplainrError
from explainr.report import _page
from explainr.report._global_contents import GlobalContents
from explainr.report._style import STYLE

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

PICKER_STYLE = """
.picker button { font: inherit; font-size: 13px; padding: 2px 10px; border-radius: 4px;
  border: 1px solid var(--accent); background: #fff; color: var(--accent); cursor: pointer; }
.picker button[aria-pressed="true"] { background: var(--accent); color: #fff; }
.picker td:nth-child(-n+2) { white-space: nowrap; }
.controls { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 4px 0 8px; font-size: 13px; }
.controls select { font: inherit; max-width: 100%; margin-left: 4px; }
.controls label { max-width: 100%; }
"""


class GlobalReport:
    """The global report of a stored run: reduced once, rendered by `to_html` or `save`.

    Made by `global_report`; ``contents`` holds every number the page shows.
    """

    def __init__(self, contents: GlobalContents) -> None:
        self.contents = contents

    @property
    def title(self) -> str:
        return self.contents.title

    def to_html(self, plotlyjs: str = "inline") -> str:
        """The report as one HTML page.

        Args:
            plotlyjs: ``"inline"`` puts plotly.js in the page (fully self-contained);
                ``"shared"`` loads ``plotly.min.js`` from the page's folder.

        Returns:
            The page.
        """
        from explainr.report.sections.global_page import CONTROLS_SCRIPT, build_global
        from explainr.report.sections.global_summary import top

        _page.check_plotlyjs(plotlyjs)
        start = time.perf_counter()
        packer = _page.Packer()
        body = build_global(self.contents, packer)
        built = time.perf_counter() - start
        anchors = [anchor for anchor, _ in body]
        sections = "".join(h for _, h in body)
        page = f"{top(self.contents, built, anchors)}<main>{sections}</main>{CONTROLS_SCRIPT}"
        return _page.page(self.title, page, packer.packed(), plotlyjs, STYLE + PICKER_STYLE)

    def save(self, path: str | os.PathLike[str], plotlyjs: str = "inline") -> Path:
        """Write the report to ``path`` atomically, creating missing folders.

        Args:
            path: the ``.html`` file to write.
            plotlyjs: ``"inline"`` or ``"shared"`` (also writes ``plotly.min.js`` beside it).

        Returns:
            The path written.
        """
        return _page.save(path, lambda: self.to_html(plotlyjs), plotlyjs, "the global report")

    def _repr_html_(self) -> str:
        return _page.iframe(self.to_html())


def global_report(
    ds: xr.Dataset,
    *,
    title: str = "explainr global report",
    top_k: int = 8,
    picks: int = 5,
    max_points: int = 2000,
    max_windows: int = 400,
    prediction_unit: str | None = None,
) -> GlobalReport:
    """The global report of a stored run: every window's explanation, summarised.

    Shows mean |attribution| per feature and lag, a beeswarm per feature, attribution
    through calendar time, the methods' agreement, gate statistics per unit and a window
    picker with the local view of the most interesting windows. Reductions run chunk-wise
    on the (possibly lazy, zarr-backed) arrays; only the picked windows are loaded whole
    and embedded, so the page stays a few MB whatever the number of windows.

    Args:
        ds: the run's dataset. Dims ``window`` (n), ``lag`` (T), ``feature`` (F); coords
            ``window`` (int), ``window_end`` (window) labels, ``lag`` (``T-1 ... 0``, 0 =
            the last input step), ``feature`` names; arrays ``x`` and ``attr_<method>``
            ``(window, lag, feature)``, ``prediction``, ``baseline_prediction_<method>``,
            ``completeness_<method>`` and optionally ``actual`` ``(window,)``; ``done``
            ``(chunk,)`` (only windows of done chunks are shown); optionally
            ``gate_<module>_<layer>_{forget_mean,saturation,timescale}`` ``(unit,)``;
            attrs ``explainr_version``, ``settings`` (JSON), ``methods`` (JSON list),
            ``created``.
        title: shown at the top and in the browser tab.
        top_k: features drawn in the beeswarm and through time (the most important).
        picks: windows per picker criterion (largest prediction, largest |error| when
            ``actual`` is stored, largest disagreement between methods).
        max_points: windows drawn per feature in the beeswarm (evenly spaced in the run).
        max_windows: columns of the through-time heatmaps (consecutive windows averaged).
        prediction_unit: the unit of the prediction (and so of attributions), for labels.

    Returns:
        A `GlobalReport` with ``to_html()`` and ``save(path)``.

    >>> import json, numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> cube = ("window", "lag", "feature")
    >>> ds = xr.Dataset(
    ...     {"x": (cube, rng.normal(size=(6, 4, 2))),
    ...      "attr_occlusion": (cube, rng.normal(size=(6, 4, 2))),
    ...      "prediction": (("window",), rng.normal(size=6))},
    ...     coords={"window": np.arange(6), "lag": [3, 2, 1, 0], "feature": ["a", "b"],
    ...             "window_end": ("window", [f"day {k}" for k in range(6)])},
    ...     attrs={"methods": json.dumps(["occlusion"]), "settings": "{}"})
    >>> from explainr.report import global_report
    >>> rep = global_report(ds, title="Tiny run")
    >>> rep.contents.done, "Tiny run" in rep.to_html()
    (6, True)
    """
    from explainr.report._global_reduce import reduce_run

    for name, value, least in (
        ("top_k", top_k, 1),
        ("picks", picks, 0),
        ("max_points", max_points, 1),
        ("max_windows", max_windows, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ExplainrError(f"{name} must be an integer >= {least}, got {value!r}")
    contents = reduce_run(
        ds,
        title=str(title),
        top_k=top_k,
        picks=picks,
        max_points=max_points,
        max_windows=max_windows,
        prediction_unit=prediction_unit,
    )
    return GlobalReport(contents)
