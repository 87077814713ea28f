"""The page: compact figure encoding, escaping, the HTML template and the atomic write.

Figures travel as one JSON document in a ``<script type="application/json">`` block that a
small script hands to ``Plotly.newPlot``. To keep a report small:

- large float arrays (heatmap ``z``) are quantised to one byte per cell, base64-encoded;
- arrays that repeat across traces (time labels) are stored once and referenced;
- plotly's layout template is stored once and referenced.

plotly.js is inlined once in the page, or shared as ``plotly.min.js`` beside it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError, ExplainrTypeError
from explainr._core.files import write_atomic

QUANTISE_MIN = 1024  # arrays with at least this many numbers are stored as one byte each
SHARE_MIN = 32  # lists at least this long are stored once when they repeat
NAN_CODE = 255  # byte code of NaN; 0..254 map linearly onto [lo, hi]
PLOTLYJS_FILE = "plotly.min.js"
CONFIG = {"responsive": True, "displaylogo": False, "typesetMath": False}


def esc(text: object) -> str:
    """``text`` escaped for HTML element content and attribute values."""
    return html.escape(str(text), quote=True)


def script_json(obj: Any) -> str:
    """JSON safe to put inside a ``<script>`` element: no ``</script>``, no ``<!--``."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@dataclass
class Packed:
    """Figures as one JSON-ready document, with shared arrays and templates pooled."""

    figures: list[dict[str, Any]]
    arrays: list[Any]
    templates: list[Any]


class Packer:
    """Turns plotly figures into compact dicts for the page; one per report."""

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []
        self._arrays: dict[str, int] = {}
        self._array_values: list[Any] = []
        self._templates: dict[str, int] = {}
        self._template_values: list[Any] = []

    def add(self, div_id: str, figure: Any) -> None:
        """Add a ``plotly.graph_objects.Figure`` to be drawn into ``<div id=div_id>``."""
        spec = figure.to_plotly_json()
        layout = dict(spec.get("layout", {}))
        template = layout.pop("template", None)
        entry: dict[str, Any] = {
            "id": div_id,
            "data": [self._trace(t) for t in spec.get("data", [])],
            "layout": _plain(layout),
        }
        if template is not None:
            entry["template"] = self._pool(self._templates, self._template_values, _plain(template))
        self.figures.append(entry)

    def packed(self) -> Packed:
        return Packed(self.figures, self._array_values, self._template_values)

    def _trace(self, trace: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in trace.items():
            value = _plain(value)
            if key == "z" and isinstance(value, dict) and "bdata" in value:
                value = quantise(_decode(value))
            elif isinstance(value, list) and len(value) >= SHARE_MIN:
                value = {"explainr_ref": self._pool(self._arrays, self._array_values, value)}
            out[key] = value
        return out

    @staticmethod
    def _pool(index: dict[str, int], values: list[Any], value: Any) -> int:
        key = json.dumps(value, sort_keys=True, separators=(",", ":"))
        if key not in index:
            index[key] = len(values)
            values.append(value)
        return index[key]


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays inside plotly's JSON-ready dict as plain Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _decode(typed: dict[str, Any]) -> np.ndarray:
    """plotly's base64 typed array ``{"dtype", "bdata", "shape"}`` as a numpy array."""
    flat = np.frombuffer(base64.b64decode(typed["bdata"]), dtype=np.dtype(typed["dtype"]))
    shape = typed.get("shape")
    if isinstance(shape, str):
        shape = [int(s) for s in shape.split(",")]
    return flat.reshape(shape) if shape else flat


def quantise(values: np.ndarray) -> Any:
    """A float array as one byte per value (255 levels over its range, NaN kept).

    Small or non-float arrays come back as plotly's own typed array or a list.

    Returns:
        ``{"explainr_u1": base64, "shape": [...], "lo": float, "step": float}``; the page
        decodes value = lo + code * step.
    """
    values = np.asarray(values)
    if values.size < QUANTISE_MIN or values.dtype.kind != "f":
        return _plain(values)
    finite = np.isfinite(values)
    lo = float(values[finite].min()) if finite.any() else 0.0
    hi = float(values[finite].max()) if finite.any() else 0.0
    step = (hi - lo) / (NAN_CODE - 1) if hi > lo else 1.0
    codes = np.full(values.shape, NAN_CODE, dtype=np.uint8)
    codes[finite] = np.rint((values[finite] - lo) / step).astype(np.uint8)
    encoded = base64.b64encode(codes.tobytes()).decode("ascii")
    return {"explainr_u1": encoded, "shape": list(values.shape), "lo": lo, "step": step}


def dequantise(packed: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`quantise` (as the page does it), NaN where the code is 255."""
    codes = np.frombuffer(base64.b64decode(packed["explainr_u1"]), dtype=np.uint8)
    values = packed["lo"] + codes.astype(np.float64) * packed["step"]
    values[codes == NAN_CODE] = np.nan
    return values.reshape(packed["shape"])


_BOOT = """
(function () {
  var doc = JSON.parse(document.getElementById("explainr-figures").textContent);
  function bytes(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function unpack(v) {
    var codes = bytes(v.explainr_u1), rows = v.shape[0], cols = v.shape.length > 1 ? v.shape[1] : 0;
    function at(k) { return codes[k] === 255 ? null : v.lo + codes[k] * v.step; }
    if (!cols) { var flat = new Array(rows); for (var k = 0; k < rows; k++) flat[k] = at(k); return flat; }
    var out = new Array(rows);
    for (var i = 0; i < rows; i++) {
      var row = new Array(cols);
      for (var j = 0; j < cols; j++) row[j] = at(i * cols + j);
      out[i] = row;
    }
    return out;
  }
  function resolve(trace) {
    Object.keys(trace).forEach(function (key) {
      var v = trace[key];
      if (v && typeof v === "object" && !Array.isArray(v)) {
        if ("explainr_u1" in v) trace[key] = unpack(v);
        else if ("explainr_ref" in v) trace[key] = doc.arrays[v.explainr_ref];
      }
    });
    return trace;
  }
  doc.figures.forEach(function (fig) {
    var layout = fig.layout;
    if (fig.template !== undefined) layout.template = doc.templates[fig.template];
    Plotly.newPlot(fig.id, fig.data.map(resolve), layout, doc.config);
  });
})();
"""


def page(title: str, body: str, packed: Packed, plotlyjs: str, style: str) -> str:
    """The whole report page.

    Args:
        title: the report title (raw; escaped here).
        body: HTML of the sections, already escaped.
        packed: the figures.
        plotlyjs: ``"inline"`` (plotly.js inside the page) or ``"shared"`` (a
            ``<script src="plotly.min.js">`` beside the page).
        style: CSS.
    """
    check_plotlyjs(plotlyjs)
    if plotlyjs == "inline":
        lib = "<script>" + _plotlyjs() + "</script>"
    else:
        lib = f'<script src="{PLOTLYJS_FILE}"></script>'
    doc = {
        "figures": packed.figures,
        "arrays": packed.arrays,
        "templates": packed.templates,
        "config": CONFIG,
    }
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # Nothing may leave the page: no fetches, no images, no fonts from elsewhere.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
            'img-src data: blob:; font-src data:">',
            f"<title>{esc(title)}</title><style>{style}</style>",
            lib,
            "</head><body>",
            body,
            '<script type="application/json" id="explainr-figures">',
            script_json(doc),
            "</script><script>",
            _BOOT,
            "</script></body></html>\n",
        ]
    )


def check_plotlyjs(plotlyjs: str) -> None:
    """Raise an ExplainrError unless ``plotlyjs`` is ``"inline"`` or ``"shared"``."""
    if plotlyjs not in ("inline", "shared"):
        raise ExplainrError(
            f'plotlyjs must be "inline" (one self-contained file) or "shared" (plotly.min.js '
            f"beside the report), got {plotlyjs!r}"
        )


@functools.cache
def _plotlyjs() -> str:
    """plotly.js as bundled with the installed plotly (read once, ~4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_shared_plotlyjs(folder: Path) -> Path:
    """Write ``plotly.min.js`` into ``folder`` unless an identical one is there already."""
    target = folder / PLOTLYJS_FILE
    text = _plotlyjs()
    if target.is_file() and _digest(target.read_bytes()) == _digest(text.encode("utf-8")):
        return target
    return write_atomic(target, text, "plotly.js")


def save(path: Any, text: Callable[[], str], plotlyjs: str, what: str) -> Path:
    """Write a report's page ``text()`` to ``path`` atomically (see `Report.save`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ExplainrTypeError(
            f"path must be a str or os.PathLike (the .html file), got {type(path).__name__}"
        )
    page = text()
    if plotlyjs == "shared":  # the library first, so the page never lacks it
        write_shared_plotlyjs(Path(path).parent)
    return write_atomic(path, page, what)


def iframe(page: str) -> str:
    """The page inside a sandboxed iframe, as notebooks show a report (``_repr_html_``)."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        'style="width:100%;height:900px;border:1px solid #ddd" sandbox="allow-scripts"></iframe>'
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def table(header: Iterable[str], rows: Iterable[Iterable[object]], cls: str = "") -> str:
    """An HTML table that scrolls inside its card when too wide; every cell is escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{esc(cls)}"' if cls else ""
    return (
        f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
