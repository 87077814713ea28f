"""The saved report in a real headless Chromium: renders offline, menus work, no XSS.

Skipped only when no Chromium executable exists (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from playwright.sync_api import sync_playwright
from report_helpers import XSS, Forecaster, sine_frame, train

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

    def __init__(self, browser, path: Path, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
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
    assert len(drawn) == 8
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


# What a person sees, checked in the page as drawn: per figure, its traces and every axis
# that carries numbers (linear, log, date) with the tick labels drawn for it (an axis
# sharing its range with a neighbour may leave the labels to that neighbour).
DRAWN = """() => Array.from(document.querySelectorAll('div.figure')).map(gd => {
  const fl = gd._fullLayout, groups = {};
  const used = new Set();
  (gd._fullData || []).filter(t => t.visible === true).forEach(t => {
    if (t.xaxis) used.add('x' + t.xaxis.slice(1));
    if (t.yaxis) used.add('y' + t.yaxis.slice(1));
  });
  Object.keys(fl).filter(k => /^[xy]axis\\d*$/.test(k)).forEach(k => {
    const ax = fl[k];
    if (!used.has(ax._id) || !['linear', 'log', 'date'].includes(ax.type)) return;
    const key = ax.matches || ax._id;
    groups[key] = (groups[key] || 0) + gd.querySelectorAll('.' + ax._id + 'tick text').length;
  });
  return {
    id: gd.id,
    traces: (gd.data || []).length,
    visible: (gd._fullData || []).filter(t => t.visible === true).length,
    svg: gd.querySelectorAll('.main-svg *').length,
    unlabelled: Object.keys(groups).filter(k => groups[k] === 0),
    menus: gd.querySelectorAll('.updatemenu-header').length,
  };
})"""

# Boxes of a figure's title, subplot titles and menu header, to check none overlap.
BOXES = """(id) => {
  const gd = document.getElementById(id);
  const box = e => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom, e.textContent]; };
  return {
    menu: Array.from(gd.querySelectorAll('.updatemenu-header')).map(box),
    texts: Array.from(gd.querySelectorAll('.gtitle, .annotation-text-g')).map(box),
  };
}"""


def overlaps(a: list, b: list) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def many_features() -> tuple[explainr.Attribution, np.ndarray]:
    """An attribution of 30 features (more than the input panel draws) and its window."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(1, 12, 30))
    a = explainr.Attribution(
        values=values,
        method="integrated_gradients",
        prediction=np.array([values.sum() + 1.0]),
        baseline_prediction=np.array([1.0]),
        feature_names=[f"f{j}" for j in range(30)],
    )
    return a, rng.normal(size=(12, 30))


@pytest.fixture(scope="module")
def explained() -> explainr.Explanation:
    """Every section: a trained LSTM explained by two methods, with units and metrics."""
    torch.manual_seed(0)
    frame = sine_frame(120)
    model = train(Forecaster(3), frame, 30)
    scaled = ((frame - frame.mean()) / frame.std()).iloc[-30:]
    units = {"level": "count", "season": "% per quarter, 100 x log-difference of the level"}
    return explainr.explain(
        model, scaled, ("integrated_gradients", "lime"), raw=frame.iloc[-30:],
        title=f"Sunspots LSTM {XSS}", input_units=units, n_samples=200,
    )  # fmt: skip


@pytest.mark.parametrize("width", [1280, 390])
def test_report_reads_at_every_width(browser, explained, tmp_path, width):
    """No console error or request, no sideways scroll, every figure and axis drawn,
    titles clear of menus, every menu entry shows its traces and its title."""
    path = explained.save_html(tmp_path / f"report-{width}.html")
    visit = Visit(browser, path, width)
    page = visit.page
    assert visit.errors == [] and visit.requests == [path.resolve().as_uri()]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    drawn = page.evaluate(DRAWN)
    assert len(drawn) == 11  # input, 2 methods, comparison, curves, 4 inside, 2 memory
    for fig in drawn:
        assert fig["traces"] > 0 and fig["visible"] > 0 and fig["svg"] > 50, fig
        assert fig["unlabelled"] == [], fig
    for fig in drawn:
        if not fig["menus"]:
            continue
        div = page.locator(f"#{fig['id']}")
        buttons = page.evaluate(
            f"document.getElementById('{fig['id']}').layout.updatemenus[0].buttons.length"
        )
        assert buttons >= 2, fig
        for k in range(buttons):
            div.locator(".updatemenu-header").click()
            div.locator(".updatemenu-dropdown-button").nth(k).click()
            page.wait_for_timeout(100)
            shown, wanted, title, drawn_title = page.evaluate(
                f"""() => {{ const gd = document.getElementById('{fig["id"]}');
                   const b = gd.layout.updatemenus[0].buttons[{k}];
                   return [gd.data.map(t => t.visible !== false), b.args[0].visible,
                           b.args[1]['title.text'], gd.querySelector('.gtitle').textContent]; }}"""
            )
            assert shown == wanted and drawn_title == title, (fig["id"], k)
            boxes = page.evaluate(BOXES, fig["id"])
            for text in boxes["texts"]:
                assert not overlaps(boxes["menu"][0], text), (fig["id"], text)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    assert visit.errors == []
    page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
    page.close()


def test_input_panel_names_the_features_it_leaves_out(browser, tmp_path):
    a, x = many_features()
    rep = explainr.Report().add_attribution(a).add_input(x, feature_names=a.feature_names)
    visit = Visit(browser, rep.save(tmp_path / "wide.html"), 390)
    page = visit.page
    note = page.locator("#input p.note").inner_text()
    shown = page.evaluate(
        "() => document.getElementById('fig-0').querySelectorAll('.annotation-text-g').length"
    )
    assert shown == 24 + 1  # 24 feature panels and the per-step sums
    hidden = [n for n in a.feature_names if f" {n}," in f" {note},".replace(".", ",")]
    assert len(hidden) == 6 and "max_features=None" in note
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert visit.errors == []
    page.close()
