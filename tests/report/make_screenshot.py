"""Build a demo report from a trained LSTM and screenshot it in headless Chromium.

    .venv/bin/python tests/report/make_screenshot.py [out_dir]   # default: reports/

Writes ``sunspots.html`` (the report) and ``screenshot.png`` (the full page) into
``out_dir``, and prints the size, build time and anything the browser logged.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from report_helpers import Forecaster, sine_frame, train

import explainr

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def build(out_dir: Path) -> Path:
    torch.manual_seed(0)
    frame = sine_frame(400, names=("sunspots", "season", "solar wind"))
    window = 48
    model = train(Forecaster(3, hidden=24), frame, window, steps=100)
    scaled = ((frame - frame.mean()) / frame.std()).iloc[-window:]
    ex = explainr.explain(
        model,
        scaled,
        ("integrated_gradients", "kernel_shap", "lime"),
        raw=frame.iloc[-window:],
        title="Sunspots LSTM",
        data_summary={
            "series": "monthly sunspots (synthetic: sine + noise)",
            "training windows": 352,
        },
        input_units={"sunspots": "count", "solar wind": "km/s"},
    )
    start = time.perf_counter()
    path = ex.save_html(out_dir / "sunspots.html")
    print(f"{path}: {path.stat().st_size:,} bytes, saved in {time.perf_counter() - start:.2f} s")
    return path


def screenshot(path: Path, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        logged: list[str] = []
        page.on("console", lambda m: logged.append(f"{m.type}: {m.text}"))
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 9")
        page.wait_for_timeout(500)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"{out}: screenshot; browser console: {logged or 'nothing'}")


if __name__ == "__main__":
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "reports")
    screenshot(build(out_dir), out_dir / "screenshot.png")
