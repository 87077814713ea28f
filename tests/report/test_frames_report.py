"""The report of a frame model: attribution maps per frame, gate and state maps, in Chromium.

References: the figures' numbers are the attribution's own frames (summed over channels)
and the recorded gates, read back from the saved page; the browser checks that sliders
change what is drawn, at 1280 and 390 px, offline.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from report_helpers import figures_of
from test_browser import ARGS, CHROMIUM, Visit
from torch import nn

import explainr
from explainr.nn import ConvLSTM


class Nowcast(nn.Module):
    """ConvLSTM -> 1x1 conv: the next frame."""

    def __init__(self, channels: int = 2, hidden: int = 4) -> None:
        super().__init__()
        self.rnn = ConvLSTM(channels, hidden, kernel_size=3)
        self.head = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.fixture(scope="module")
def explained():
    torch.manual_seed(0)
    model = Nowcast()
    x = torch.rand(2, 6, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    return explainr.explain(
        model,
        x,
        ("integrated_gradients", "kernel_shap"),
        target=(3, 4),
        patch=2,
        window=3,
        n_samples=300,
        metrics=False,
        sample=1,
    )


def test_frame_sections_draw_the_attribution_and_the_recorded_maps(explained, tmp_path):
    page = explained.save_html(tmp_path / "frames.html").read_text()
    assert "6 frames of 2 channel(s) × 8 × 8 cells" in page  # the header says frames
    doc = figures_of(page)
    titles = [f["layout"].get("title", {}).get("text", "") for f in doc["figures"]]
    a = explained.attributions["integrated_gradients"]
    per_frame = doc["figures"][titles.index("integrated_gradients: per frame")]
    assert len(per_frame["data"]) == 2 * 6 and len(per_frame["layout"]["sliders"][0]["steps"]) == 6
    maps = a.frames[1].sum(axis=1)
    limit = np.abs(maps).max()
    for t in range(6):
        frame, attribution = per_frame["data"][2 * t], per_frame["data"][2 * t + 1]
        np.testing.assert_allclose(frame["z"], explained.x[1, t].mean(0).numpy(), atol=1e-6)
        z = np.asarray(attribution["z"], dtype=float)
        np.testing.assert_allclose(z, maps[t], atol=np.ptp(maps[t]) / 254 + 1e-7)
        assert attribution["zmin"] == pytest.approx(-limit) and attribution[
            "zmax"
        ] == pytest.approx(limit)
    summed = doc["figures"][titles.index("integrated_gradients: summed over time")]["data"][0]
    z = np.asarray(summed["z"], dtype=float)
    np.testing.assert_allclose(z, maps.sum(0), atol=np.ptp(maps.sum(0)) / 254 + 1e-7)
    shares = doc["figures"][titles.index("integrated_gradients: per frame") + 2]["data"][0]
    magnitude = np.abs(a.frames[1]).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(shares["y"], magnitude / magnitude.sum(), rtol=1e-6)
    assert "What the prediction used: integrated_gradients" not in page  # no 128-row heatmap
    forget = doc["figures"][titles.index("rnn · layer 0 · forget gate")]
    recorded = explained.trace["rnn"].gate("forget")[1].numpy()  # (time, channels, 8, 8)
    tile = np.asarray(forget["data"][5]["z"], dtype=float)[
        9:17, 0:8
    ]  # channel 2 sits in tile row 1, column 0
    np.testing.assert_allclose(tile, recorded[5, 2], atol=1 / 254 + 1e-6)
    assert forget["data"][0]["zmin"] == 0 and forget["data"][0]["zmax"] == 1
    assert "pixel (3, 4)" in page and "2×2 patches" in page


def test_sixteen_frames_of_32x32_with_16_channels_fit_in_6_mb(tmp_path):
    torch.manual_seed(0)
    model = Nowcast(channels=2, hidden=16)
    x = torch.rand(1, 16, 2, 32, 32, generator=torch.Generator().manual_seed(2))
    ex = explainr.explain(
        model, x, ("integrated_gradients",), target="mean", n_steps=4, metrics=False
    )
    path = ex.save_html(tmp_path / "big.html")
    assert path.stat().st_size <= 6_000_000, path.stat().st_size
    assert "averaged over 2×2 cells" in path.read_text()


class Patient:
    """A browser whose pages wait up to 3 minutes (a shared CI machine can be slow to load
    a 5 MB page), for `Visit`."""

    def __init__(self, browser) -> None:
        self.browser = browser

    def new_page(self, **kwargs):
        page = self.browser.new_page(**kwargs)
        page.set_default_timeout(180_000)
        return page


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium executable installed")
@pytest.mark.parametrize("width", [1280, 390])
def test_sliders_move_through_the_frames_in_chromium(explained, tmp_path, width):
    from playwright.sync_api import sync_playwright

    path = explained.save_html(tmp_path / f"frames-{width}.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        visit = Visit(Patient(browser), path, width=width)
        page = visit.page
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('div.figure')).map(d => ({
                id: d.id, title: (d.layout.title || {}).text || '',
                visible: (d._fullData || []).filter(t => t.visible === true).length,
                sliders: d.querySelectorAll('.slider-container').length,
                width: d.getBoundingClientRect().width}))"""
        )
        for fig in drawn:
            assert fig["visible"] > 0, fig
            assert fig["width"] <= width, fig
        sliders = [f for f in drawn if f["sliders"]]
        assert len(sliders) >= 2 + 6  # two methods' frames, six gate / state maps
        for fig in sliders:
            shown = (
                f"() => document.getElementById('{fig['id']}').data.map(t => t.visible === true)"
            )
            before = page.evaluate(shown)
            rail = page.locator(f"#{fig['id']} .slider-rail-touch-rect")
            rail.scroll_into_view_if_needed()
            box = rail.bounding_box()
            page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
            page.wait_for_timeout(100)
            after = page.evaluate(shown)
            assert after != before and after[-1], fig  # the last step is shown
        page.screenshot(path=str(tmp_path / f"frames-{width}.png"), full_page=True)
        if os.environ.get("EXPLAINR_SCREENSHOTS"):  # to look at them: a folder to copy into
            shutil.copy(tmp_path / f"frames-{width}.png", os.environ["EXPLAINR_SCREENSHOTS"])
        assert visit.errors == []
        assert visit.requests == [path.resolve().as_uri()]
        browser.close()
