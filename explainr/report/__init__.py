"""report: one self-contained, interactive HTML page of what a recurrent model did and used.

``Report`` collects traces, attributions and metrics; ``explain`` computes them all for a
model and an input and returns an ``Explanation`` that saves the same report in one call.
"""

from explainr.report._explain import Explanation, explain
from explainr.report._report import Report

__all__ = ["Explanation", "Report", "explain"]
