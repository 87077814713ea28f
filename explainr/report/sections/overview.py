"""The page's title bar and the overview section (model, data, prediction, settings)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

from explainr.record import ModuleRecord
from explainr.report import _page
from explainr.report._contents import Contents
from explainr.report._page import esc


def top(report: Contents, built: float, anchors: list[tuple[str, str]]) -> str:
    """The page's title bar: title, version, timings and the section links."""
    from explainr._core.version import VERSION as __version__

    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    took = report.seconds
    if took is None and report.attributions:
        took = sum(item.attribution.seconds for item in report.attributions)
    parts = [f"explainr {esc(__version__)}", f"generated {stamp}"]
    if took is not None:
        parts.append(f"computed in {took:.2f} s")
    parts.append(f"report built in {built:.2f} s")
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in anchors)
    return (
        f'<header class="top"><div class="inner"><h1>{esc(report.title)}</h1>'
        f'<div class="meta">{" · ".join(parts)}</div><nav>{nav}</nav></div></header>'
    )


def overview(report: Contents) -> str:
    """The overview section: model, data, prediction and settings."""
    cards = [_model_card(report), _data_card(report)]
    inner = "".join(f"<div>{c}</div>" for c in cards if c)
    return (
        f'<section id="overview"><h2>Overview</h2><div class="cards">{inner}</div>'
        f"{_prediction_card(report)}{_settings_card(report)}</section>"
    )


def _model_card(report: Contents) -> str:
    summary = report.model_summary
    if summary is not None:
        rows = [
            [
                m["name"],
                m["kind"],
                m["input_size"],
                m["hidden_size"],
                m["num_layers"],
                "yes" if m["bidirectional"] else "no",
            ]
            for m in summary["modules"]
        ]
        head = (
            f"<p><b>{esc(summary['name'])}</b>: {summary['parameters']:,} parameters "
            f"({summary['trainable']:,} trainable)</p>"
        )
    else:
        seen = {}
        for item in report.traces:
            rec = item.record
            seen[rec.name] = [
                rec.name or "(model)",
                rec.kind,
                "",
                _units(rec),
                rec.num_layers,
                "yes" if rec.num_directions > 1 else "no",
            ]
        rows, head = list(seen.values()), ""
    if not rows and not head:
        return ""
    header = ["module", "kind", "input", "hidden", "layers", "bidirectional"]
    return f"<h3>Model</h3>{head}{_page.table(header, rows) if rows else ''}"


def _data_card(report: Contents) -> str:
    items: list[tuple[str, object]] = []
    if isinstance(report.data_summary, Mapping):
        items += list(report.data_summary.items())
    first = report.attributions[0] if report.attributions else None
    if first is not None:
        batch, steps, features = first.attribution.values.shape
        frame = getattr(first.attribution, "frame_shape", None)
        shape = (
            f"{steps} frames of {frame[0]} channel(s) × {frame[1]} × {frame[2]} cells"
            if frame
            else f"{steps} steps × {features} features"
        )
        items.append(("explained window", shape))
        items.append(("sample shown", f"{first.sample} of a batch of {batch}"))
        labels = first.attribution.time_labels or report.time_labels
        if labels:
            items.append(("time span", f"{labels[0]} … {labels[-1]}"))
    elif report.traces:
        rec = report.traces[0].record
        items.append(("recorded", f"{rec.time_steps} steps, batch of {rec.batch_size}"))
    text = report.data_summary if isinstance(report.data_summary, str) else None
    if not items and text is None:
        return ""
    para = f"<p>{esc(text)}</p>" if text else ""
    return f"<h3>Data</h3>{para}{_dl(items)}"


def _prediction_card(report: Contents) -> str:
    rows = []
    for item in report.attributions:
        a, s = item.attribution, item.sample
        fx, fb = float(a.prediction[s]), float(a.baseline_prediction[s])
        rows.append(
            [
                a.method,
                "—" if a.target is None else a.target,
                _num(fx),
                _num(fb),
                _num(fx - fb),
                _num(float(a.values[s].sum())),
                f"{a.seconds:.2f} s",
            ]
        )
    if not rows:
        return ""
    unit = f" ({report.prediction_unit})" if report.prediction_unit else ""
    header = [
        "method",
        "target",
        f"f(x){unit}",
        "f(baseline)",
        "difference",
        "sum of attributions",
        "time taken",
    ]
    return (
        "<h3>Prediction</h3><p class='explain'>f(x) is the model's output for the explained "
        "target; each method explains its difference from the output at its baseline.</p>"
        + _page.table(header, rows)
    )


def _settings_card(report: Contents) -> str:
    items: list[tuple[str, object]] = [
        (_setting_name(k), _setting(v)) for k, v in report.settings.items()
    ]
    for item in report.attributions:
        a = item.attribution
        extra = dict(a.settings)
        if a.grouped:
            extra.update(window=a.window, group_by=a.group_by)
        text = ", ".join(f"{_setting_name(k)} {_setting(v)}" for k, v in extra.items())
        items.append((a.method, text or "defaults"))
    return f"<h3>Settings</h3>{_dl(items)}" if items else ""


SETTING_NAMES = {
    "r2": "surrogate fit R²",
    "n_steps": "steps",
    "n_samples": "samples",
    "kernel_width": "kernel width",
    "group_by": "grouped by",
    "baselines": "baselines",
    "groups": "groups",
}


def _setting_name(key: str) -> str:
    return SETTING_NAMES.get(key, key.replace("_", " "))


def _setting(value: object) -> str:
    """A setting as a person reads it: 3 significant digits, short lists, a range for long."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        if len(value) == 1:
            return _setting(value[0])
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if numbers and len(value) > 4:
            return f"{_setting(min(value))} to {_setting(max(value))} ({len(value)} values)"
        return "[" + ", ".join(_setting(v) for v in value) + "]"
    return str(value)


def _dl(items: Sequence[tuple[str, object]]) -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f"<dl>{rows}</dl>"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _units(rec: ModuleRecord) -> object:
    for key, tensor in rec.data.items():
        if key[0] == "hidden" or key[0].startswith("gate:"):
            return tensor.shape[2] if tensor.dim() == 3 else tuple(tensor.shape[2:])
    return ""
