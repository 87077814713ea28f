"""The saved report in a real headless Chromium: renders offline, menus work, no XSS.

Skipped only when no Chromium executable exists (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from report_helpers import XSS

import explainr


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EXPLAINR_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """A page opened on a file, with every console message, request and dialog kept."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri())
        figures = self.page.locator("div.figure").count()
        self.page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {figures}"
        )
        self.page.wait_for_timeout(300)

    def _console(self, message) -> None:
        # plotly.js reports bad figure specs as console.trace("WARN: ...").
        if message.type in ("error", "warning") or message.text.startswith("WARN"):
            self.errors.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def full_report(forecast: dict) -> explainr.Report:
    rep = explainr.Report(title=f"Sunspots LSTM {XSS}", model=forecast["model"])
    rep.add_trace(forecast["trace"])
    rep.add_attribution(forecast["a"])
    rep.add_attribution(forecast["b"])
    rep.add_input(forecast["raw"], units="count")
    return rep


def test_report_renders_offline_without_errors(browser, forecast, tmp_path):
    path = full_report(forecast).save(tmp_path / "report.html")
    visit = Visit(browser, path)
    page = visit.page
    assert visit.errors == []
    assert visit.requests == [path.resolve().as_uri()]
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('div.figure')).map(d => ({
            id: d.id,
            plotted: d.classList.contains('js-plotly-plot'),
            traces: (d.data || []).length,
            points: (d._fullData || []).filter(t => t.visible === true).length,
            svg: d.querySelectorAll('.main-svg *').length,
        }))"""
    )
    assert len(drawn) == 7
    for fig in drawn:
        assert fig["plotted"] and fig["traces"] > 0 and fig["points"] > 0, fig
        assert fig["svg"] > 50, fig
    page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
    assert (tmp_path / "screenshot.png").stat().st_size > 50_000
    page.close()


def test_gate_menu_switches_the_heatmap(browser, forecast, tmp_path):
    rep = explainr.Report().add_trace(forecast["trace"])
    visit = Visit(browser, rep.save(tmp_path / "gates.html"))
    page = visit.page
    fig = page.locator("#fig-0")

    def shown():
        return page.evaluate(
            """() => { const gd = document.getElementById('fig-0');
               return [gd.data.map(t => t.visible), gd.layout.title.text,
                       gd.querySelector('.gtitle').textContent]; }"""
        )

    visible, title, drawn_title = shown()
    assert visible[:2] == [True, False] and "input gate · layer 0" in drawn_title
    fig.locator(".updatemenu-header").click()
    fig.locator(".updatemenu-dropdown-button").nth(5).click()  # layer 1, forget gate
    page.wait_for_timeout(200)
    visible, title, drawn_title = shown()
    assert visible.index(True) == 5 and visible.count(True) == 1
    assert "forget gate · layer 1" in title and drawn_title == title
    assert visit.errors == []
    page.close()


def test_hostile_feature_name_shows_as_text_and_runs_nothing(browser, forecast, tmp_path):
    path = full_report(forecast).save(tmp_path / "xss.html")
    visit = Visit(browser, path)
    page = visit.page
    texts = page.evaluate(
        "() => Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)"
    )
    assert XSS in texts  # a tick label of the attribution heatmap, shown literally
    assert page.locator("img").count() == 0
    assert XSS in page.locator("h1").inner_text()
    page.mouse.move(400, 400)
    page.wait_for_timeout(200)
    assert visit.dialogs == [] and visit.errors == []
    page.close()


def test_shared_plotlyjs_loads_only_the_file_beside_it(browser, forecast, tmp_path):
    rep = explainr.Report().add_attribution(forecast["a"])
    path = rep.save(tmp_path / "shared.html", plotlyjs="shared")
    visit = Visit(browser, path)
    lib = (tmp_path / "plotly.min.js").resolve().as_uri()
    assert visit.requests == [path.resolve().as_uri(), lib]
    assert visit.errors == []
    assert visit.page.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 1
    visit.page.close()
