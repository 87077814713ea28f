"""The global report's sections in reading order; a new section is one file and one line.

Each module has ``render(contents, figure) -> list[Section]`` over `GlobalContents`.
"""

from __future__ import annotations

from explainr.report._global_contents import GlobalContents
from explainr.report._page import Packer
from explainr.report.sections import (
    global_agreement,
    global_beeswarm,
    global_calendar,
    global_gates,
    global_importance,
    global_picker,
    global_summary,
)
from explainr.report.sections._common import Figures, Section
from explainr.report.sections._global_controls import SCRIPT

CONTROLS_SCRIPT = SCRIPT  # once per page, after the sections

GLOBAL_SECTIONS = (
    global_summary.render,
    global_importance.render,
    global_beeswarm.render,
    global_calendar.render,
    global_agreement.render,
    global_picker.render,
    global_gates.render,
)


def build_global(contents: GlobalContents, packer: Packer) -> list[Section]:
    """Every section of the global page as HTML, its figures added to ``packer``."""
    figure = Figures(packer)
    return [part for render in GLOBAL_SECTIONS for part in render(contents, figure)]
