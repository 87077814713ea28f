"""Screenshot a saved report in headless Chromium (the README's picture).

    .venv/bin/explainr demo                                   # writes reports/demo.html
    .venv/bin/python tests/report/make_screenshot.py [reports/demo.html] [reports/screenshot.png]

Takes the top of the page (overview, input with attribution, the first method) at 1280 px
wide, and prints anything the browser logged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def screenshot(report: Path, out: Path, height: int = 2000) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height})
        logged: list[str] = []
        page.on("console", lambda m: logged.append(f"{m.type}: {m.text}"))
        page.goto(report.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1280, "height": height})
        browser.close()
    print(f"{out}: screenshot of {report}; browser console: {logged or 'nothing'}")


if __name__ == "__main__":
    report = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/demo.html")
    screenshot(report, Path(sys.argv[2] if len(sys.argv) > 2 else "reports/screenshot.png"))
