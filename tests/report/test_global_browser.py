"""The global report in a real headless Chromium: offline, every figure drawn, every menu
entry works, and choosing a window in the picker shows that window's local view.

Skipped only when no Chromium executable exists (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import numpy as np
import pytest
from global_fixture import METHODS, macro_run
from report_helpers import XSS
from test_browser import BOXES, CHROMIUM, DRAWN, Visit, browser, overlaps

from explainr.report import global_report

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable installed")
__all__ = ["browser"]  # the Chromium fixture, shared with test_browser.py

SHOWN = """(id) => { const gd = document.getElementById(id);
  return [gd.data.map(t => t.visible !== false), gd.querySelector('.gtitle').textContent]; }"""


@pytest.fixture(scope="module")
def report():
    return global_report(macro_run(), title="macro_lstm <b>every</b> window")


def check_menus(page, fig: dict, entries: int) -> None:
    """Each of the first ``entries`` menu entries shows its own traces and title, and the
    menu never covers a title."""
    div = page.locator(f"#{fig['id']}")
    buttons = page.evaluate(
        f"document.getElementById('{fig['id']}').layout.updatemenus[0].buttons.length"
    )
    for k in [*range(min(entries, buttons)), buttons - 1]:
        div.locator(".updatemenu-header").click()
        div.locator(".updatemenu-dropdown-button").nth(k).click()
        page.wait_for_timeout(100)
        shown, drawn_title = page.evaluate(SHOWN, fig["id"])
        wanted, title = page.evaluate(
            f"""() => {{ const b = document.getElementById('{fig["id"]}')
                .layout.updatemenus[0].buttons[{k}]; return [b.args[0].visible, b.args[1]['title.text']]; }}"""
        )
        assert shown == wanted and drawn_title == title, (fig["id"], k)
        boxes = page.evaluate(BOXES, fig["id"])
        for text in boxes["texts"]:
            assert not overlaps(boxes["menu"][0], text), (fig["id"], text)


@pytest.mark.parametrize("width", [1280, 390])
def test_global_report_reads_at_every_width(browser, report, tmp_path, width):
    path = report.save(tmp_path / f"global-{width}.html")
    visit = Visit(browser, path, width)
    page = visit.page
    assert visit.errors == [] and visit.requests == [path.resolve().as_uri()]
    drawn = page.evaluate(DRAWN)
    # importance, beeswarm, through time, agreement, picker, gates
    assert len(drawn) == 6
    for fig in drawn:
        assert fig["traces"] > 0 and fig["visible"] > 0 and fig["svg"] > 50, fig
        assert fig["unlabelled"] == [], fig
        if fig["menus"]:
            check_menus(page, fig, 3)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    assert "<b>every</b>" in page.locator("h1").inner_text()  # shown, not interpreted
    assert visit.errors == []
    page.screenshot(path=str(tmp_path / f"global-{width}.png"), full_page=True)
    page.close()


def test_choosing_a_window_shows_its_local_view(browser, report, tmp_path):
    run = macro_run()
    visit = Visit(browser, report.save(tmp_path / "picker.html"), 390)
    page = visit.page
    picks = report.contents.picks
    fig_id = page.locator("#picker div.figure").get_attribute("id")
    rows = 1 + len(METHODS)
    ends = list(run["window_end"].values)
    for k in (7, 2, len(picks) - 1):
        page.locator(f'#picker [data-explainr-pick="{k}"]').click()
        page.wait_for_timeout(150)
        shown, title = page.evaluate(SHOWN, fig_id)
        assert shown == [t // rows == k for t in range(rows * len(picks))]
        assert picks[k].label in title and f"{picks[k].prediction:.4g}" in title
        pressed = page.locator("#picker [aria-pressed=true]")
        assert pressed.count() == 1 and pressed.get_attribute("data-explainr-pick") == str(k)
        active = page.evaluate(f"document.getElementById('{fig_id}').layout.updatemenus[0].active")
        assert active == k
        window = ends.index(picks[k].label)
        for r, method in enumerate(METHODS):
            z = page.evaluate(f"document.getElementById('{fig_id}').data[{rows * k + 1 + r}].z")
            want = run[f"attr_{method}"].values[window].T
            np.testing.assert_allclose(np.asarray(z, dtype=float), want, rtol=1e-5, atol=1e-7)
    assert visit.errors == []
    page.close()


def test_calendar_selectors_choose_the_method_and_the_feature(browser, report, tmp_path):
    contents = report.contents
    visit = Visit(browser, report.save(tmp_path / "calendar.html"), 390)
    page = visit.page
    fig_id = page.locator("#calendar div.figure").get_attribute("id")
    selects = page.locator("#calendar select")
    per = 1 + len(contents.top)
    for method, feature in ((1, 2), (0, 0), (1, per - 1)):
        selects.nth(0).select_option(index=method)
        selects.nth(1).select_option(index=feature)
        page.wait_for_timeout(150)
        shown, title = page.evaluate(SHOWN, fig_id)
        k = method * per + feature
        assert shown == [t == k for t in range(per * len(METHODS))]
        name = "all features" if feature == 0 else contents.features[contents.top[feature - 1]]
        assert title == f"{METHODS[method]} · {name}: through time"
    assert visit.errors == []
    page.close()


def test_hostile_feature_name_shows_as_text_and_runs_nothing(browser, tmp_path):
    run = macro_run()
    names = [XSS if j == 0 else str(f) for j, f in enumerate(run["feature"].values)]
    rep = global_report(run.assign_coords(feature=names), title=XSS)
    visit = Visit(browser, rep.save(tmp_path / "xss.html"), 1280)
    page = visit.page
    texts = page.evaluate(
        "() => Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)"
    )
    assert XSS in texts and XSS in page.locator("h1").inner_text()
    assert page.locator("img").count() == 0
    page.locator("#calendar select").nth(1).select_option(label=XSS)
    page.mouse.move(400, 400)
    page.wait_for_timeout(200)
    assert visit.dialogs == [] and visit.errors == []
    page.close()
