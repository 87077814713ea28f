"""report: one self-contained, interactive HTML page of what a recurrent model did and used.

``Report`` collects traces, attributions and metrics and renders them: results in, page
out. Its figures are in ``explainr.report.figures`` (public as ``explainr.plots``), its
sections in ``explainr.report.sections``. ``global_report`` renders a whole stored run
(every window, from ``explainr.explain_dataset``) as one page.
"""

from explainr.report._global import GlobalReport, global_report
from explainr.report._options import ReportOptions
from explainr.report._report import Report

__all__ = ["GlobalReport", "Report", "ReportOptions", "global_report"]
