"""The report's sections in reading order; a new section is one file and one line here.

Each section module has ``render(contents, figure) -> list[Section]``: it reads the
report's `Contents` and returns HTML (no section, one, or one per item).
"""

from __future__ import annotations

from explainr.report._contents import Contents
from explainr.report._page import Packer
from explainr.report.sections import (
    attributions,
    comparison,
    frames,
    inputs,
    memory,
    metrics,
    spatial_trace,
    trace,
)
from explainr.report.sections._common import Figures, Section

SECTIONS = (
    inputs.render,
    frames.render,
    attributions.render,
    comparison.render,
    metrics.render,
    memory.render,
    trace.render,
    spatial_trace.render,
)


def build(contents: Contents, packer: Packer) -> list[Section]:
    """Every section of the page as HTML, its figures added to ``packer``."""
    figure = Figures(packer)
    return [part for render in SECTIONS for part in render(contents, figure)]
