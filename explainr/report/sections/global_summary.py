"""The global report's title bar and its summary: the run, its predictions and settings."""

from __future__ import annotations

import datetime as _dt

from explainr.report import _page
from explainr.report._global_contents import GlobalContents
from explainr.report._page import esc
from explainr.report.sections._common import Figures, Section, paragraph, section
from explainr.report.sections.overview import _dl, _setting, _setting_name


def top(report: GlobalContents, built: float, anchors: list[tuple[str, str]]) -> str:
    """The page's title bar: title, versions, dates and the section links."""
    from explainr._core.version import VERSION

    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f"explainr {esc(VERSION)}", f"run by explainr {esc(report.version)}"]
    if report.created:
        parts.append(f"run created {esc(report.created)}")
    parts += [f"generated {stamp}", f"report built in {built:.2f} s"]
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in anchors)
    return (
        f'<header class="top"><div class="inner"><h1>{esc(report.title)}</h1>'
        f'<div class="meta">{" · ".join(parts)}</div><nav>{nav}</nav></div></header>'
    )


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    del figure  # tables only
    cards = [_run_card(report) + _settings(report), _prediction_card(report)]
    inner = '<div class="cards">' + "".join(f"<div>{c}</div>" for c in cards if c) + "</div>"
    note = ""
    if report.done < report.windows:
        done, chunks = report.chunks
        note = (
            f'<p class="note">Partial run: {report.done:,} of {report.windows:,} windows are '
            f"done ({done} of {chunks} chunks). Everything below covers the done windows "
            "only; run <code>explain_dataset</code> on the same store again to finish it.</p>"
        )
    text = paragraph(
        "Every window of the run explained, then summarised: which features and lags the "
        "model relies on across the whole history, how that changed through time, whether "
        "the methods agree, how the recurrent units remember, and the windows worth a look."
    )
    return [section("summary", "Summary", "Summary", note + text + inner)]


def _run_card(report: GlobalContents) -> str:
    items: list[tuple[str, object]] = [
        ("windows", f"{report.done:,} done of {report.windows:,}"),
        ("window", f"{len(report.lags)} steps × {len(report.features)} features"),
        ("methods", ", ".join(report.methods)),
    ]
    if report.span is not None:
        items.append(("window ends", f"{report.span[0]} … {report.span[1]}"))
    return f"<h3>Run</h3>{_dl(items)}"


def _prediction_card(report: GlobalContents) -> str:
    if not report.prediction:
        return ""
    unit = f" ({report.prediction_unit})" if report.prediction_unit else ""
    p = report.prediction
    rows = [["prediction" + unit, _num(p["mean"]), _num(p["min"]), _num(p["max"])]]
    html = "<h3>Predictions</h3>" + _page.table(["", "mean", "min", "max"], rows)
    if report.error is not None:
        e = report.error
        html += paragraph(
            f"Against the stored actual values ({e['windows']:,} windows): mean absolute "
            f"error {_num(e['mae'])}, root mean squared error {_num(e['rmse'])}, mean error "
            f"(prediction − actual) {_num(e['bias'])}."
        )
    if report.completeness:
        rows = [
            [m, _num(c["median"]), _num(c["p95"]), _num(c["max"])]
            for m, c in report.completeness.items()
        ]
        html += "<h3>Completeness error</h3>" + paragraph(
            "|sum of attributions − (f(x) − f(baseline))| relative to the difference, per "
            "window: 0 for exact methods, the integration error for integrated gradients."
        )
        html += _page.table(["method", "median", "95th percentile", "max"], rows)
    return html


def _settings(report: GlobalContents) -> str:
    items = [(_setting_name(k), _setting(v)) for k, v in report.settings.items()]
    return f"<h3>Settings</h3>{_dl(items)}" if items else ""


def _num(value: float) -> str:
    return f"{value:.4g}"
