"""The global report of a stored run: every number shown against an independent
recomputation from the stored arrays (numpy and scipy, not the report's own reductions).

The run is real (tests/report/global_fixture.py): every window of the zoo's macro_lstm
attributed by integrated gradients and occlusion, gates recorded, actuals stored.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr
from global_fixture import METHODS, macro_run, synthetic_run
from report_helpers import figures_of
from scipy.stats import spearmanr

from explainr._core.errors import ExplainrError
from explainr.report import global_report


@pytest.fixture(scope="module")
def run() -> xr.Dataset:
    return macro_run()


@pytest.fixture(scope="module")
def page(run) -> str:
    return global_report(run, title="macro", prediction_unit="% per year").to_html()


def figure(page: str, section: str) -> dict:
    """The figure drawn inside ``<section id=section>``, decoded."""
    body = re.search(f'<section id="{section}">(.*?)</section>', page, re.S)
    assert body is not None, section
    div = re.search(r'class="figure" id="(fig-\d+)"', body.group(1)).group(1)
    return next(f for f in figures_of(page)["figures"] if f["id"] == div)


def section_text(page: str, section: str) -> str:
    body = re.search(f'<section id="{section}">(.*?)</section>', page, re.S).group(1)
    return re.sub(r"<[^>]+>", " ", body)


def importance(run: xr.Dataset, method: str) -> np.ndarray:
    return np.abs(run[f"attr_{method}"].values).mean(axis=0)  # (lag, feature)


def top_features(run: xr.Dataset, k: int = 8) -> list[int]:
    shares = [importance(run, m) / importance(run, m).sum() for m in METHODS]
    return list(np.argsort(-np.mean(shares, axis=0).sum(axis=0), kind="stable")[:k])


def spearman_per_window(run: xr.Dataset) -> np.ndarray:
    a, b = (np.abs(run[f"attr_{m}"].values).reshape(run.sizes["window"], -1) for m in METHODS)
    return np.array([spearmanr(u, v).statistic for u, v in zip(a, b, strict=True)])


def test_importance_heatmap_is_the_mean_absolute_attribution(run, page):
    fig = figure(page, "importance")
    assert len(fig["data"]) == 2 * len(METHODS)
    for k, method in enumerate(METHODS):
        heat, bars = fig["data"][2 * k], fig["data"][2 * k + 1]
        want = importance(run, method)
        np.testing.assert_allclose(np.asarray(heat["z"]), want.T, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(bars["x"]), want.sum(axis=0), rtol=1e-6)
        assert list(heat["x"]) == list(range(15, -1, -1))  # lags T-1 ... 0
        assert list(heat["y"]) == list(run["feature"].values)
        assert heat["visible"] == (k == 0)


def test_beeswarm_points_are_each_window_summed_over_lags(run, page):
    fig = figure(page, "beeswarm")
    top = top_features(run)
    assert [t["name"] for t in fig["data"][: len(top)]] == [str(run.feature.values[j]) for j in top]
    for k, method in enumerate(METHODS):
        per_window = run[f"attr_{method}"].values.sum(axis=1)  # (window, feature)
        for i, j in enumerate(top):
            trace = fig["data"][k * len(top) + i]
            np.testing.assert_allclose(
                np.asarray(trace["x"]), per_window[:, j], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                np.asarray(trace["customdata"]), run["x"].values[:, :, j].mean(axis=1), rtol=1e-5
            )
            offsets = np.asarray(trace["y"]) - i
            assert np.abs(offsets).max() <= 0.4 + 1e-6
    assert list(fig["data"][0]["text"]) == [str(t) for t in run["window_end"].values]
    assert "all 186 windows" in section_text(page, "beeswarm")


def test_beeswarm_subsamples_evenly_to_its_cap_and_says_so(run):
    html = global_report(run, max_points=50).to_html()
    fig = figure(html, "beeswarm")
    chosen = np.unique(np.linspace(0, 185, 50).round().astype(int))
    ends = run["window_end"].values
    assert list(fig["data"][0]["text"]) == [str(ends[p]) for p in chosen]
    j = top_features(run)[0]
    want = run[f"attr_{METHODS[0]}"].values[chosen].sum(axis=1)[:, j]
    np.testing.assert_allclose(np.asarray(fig["data"][0]["x"]), want, rtol=1e-5, atol=1e-6)
    assert "50 of the 186 windows, evenly spaced" in section_text(html, "beeswarm")


def binned(values: np.ndarray, size: int) -> np.ndarray:
    """Means of consecutive blocks of ``size`` windows along axis 0 (numpy only)."""
    return np.stack([values[s : s + size].mean(axis=0) for s in range(0, len(values), size)])


def test_calendar_bins_consecutive_windows_with_the_stated_rule(run):
    html = global_report(run, max_windows=40).to_html()
    fig = figure(html, "calendar")
    size = 5  # ceil(186 / 40)
    a = run[f"attr_{METHODS[1]}"].values
    top = top_features(run)
    per = 1 + len(top)
    total = fig["data"][per]  # second method, all features
    np.testing.assert_allclose(
        np.asarray(total["z"]), binned(a.sum(axis=2), size).T, rtol=1e-5, atol=1e-7
    )
    feature = fig["data"][per + 1]  # second method, most important feature
    np.testing.assert_allclose(
        np.asarray(feature["z"]), binned(a[:, :, top[0]], size).T, rtol=1e-5, atol=1e-7
    )
    ends = run["window_end"].values
    last = [min(s + size - 1, 185) for s in range(0, 186, size)]
    assert list(total["x"]) == [str(ends[p]) for p in last]
    assert "each column averages 5 consecutive windows" in section_text(html, "calendar")


def test_calendar_one_column_per_window_within_quantisation(run, page):
    fig = figure(page, "calendar")
    want = run[f"attr_{METHODS[0]}"].values.sum(axis=2).T  # (lag, window)
    shown = np.asarray(fig["data"][0]["z"])
    step = (want.max() - want.min()) / 254
    assert shown.shape == want.shape and np.abs(shown - want).max() <= step / 2 + 1e-9


def test_agreement_is_spearman_per_window_averaged_and_of_the_importance(run, page):
    text = section_text(page, "agreement")
    per_window = np.nanmean(spearman_per_window(run))
    overall = spearmanr(importance(run, METHODS[0]).ravel(), importance(run, METHODS[1]).ravel())
    assert f"{per_window:.3f}" in text and f"{overall.statistic:.3f}" in text
    fig = figure(page, "agreement")
    shown = np.asarray(fig["data"][0]["y"])
    np.testing.assert_allclose(shown, spearman_per_window(run), rtol=1e-5)


def test_gate_statistics_are_the_stored_ones(run, page):
    fig = figure(page, "gates")
    for k, layer in enumerate((0, 1)):
        mean = run[f"gate_rnn_{layer}_forget_mean"].values
        timescale, saturated = fig["data"][2 * k], fig["data"][2 * k + 1]
        np.testing.assert_allclose(np.asarray(timescale["y"]), -1 / np.log(mean), rtol=1e-5)
        np.testing.assert_allclose(
            np.asarray(saturated["y"]), run[f"gate_rnn_{layer}_saturation"].values, atol=1e-6
        )
    text = section_text(page, "gates")
    assert f"{run['gate_rnn_1_forget_mean'].values.mean():.3f}" in text


def expected_picks(run: xr.Dataset, k: int = 5) -> list[tuple[str, list[str]]]:
    pred = run["prediction"].values
    error = np.abs(pred - run["actual"].values)
    disagreement = 1 - spearman_per_window(run)
    chosen: dict[int, list[str]] = {}
    for reason, values in (
        ("top prediction", pred),
        ("top |error|", error),
        ("top disagreement", disagreement),
    ):
        for p in np.argsort(-values, kind="stable")[:k]:
            chosen.setdefault(int(p), []).append(reason)
    ends = run["window_end"].values
    return [(str(ends[p]), reasons) for p, reasons in chosen.items()]


def test_picker_offers_the_right_windows_with_their_local_view(run, page):
    rep = global_report(run)
    picks = rep.contents.picks
    assert [(p.label, p.reasons) for p in picks] == expected_picks(run)
    fig = figure(page, "picker")
    rows = 1 + len(METHODS)
    assert len(fig["data"]) == rows * len(picks)  # only the picked windows are embedded
    ends = list(run["window_end"].values)
    for k, pick in enumerate(picks):
        w = ends.index(pick.label)
        np.testing.assert_allclose(
            np.asarray(fig["data"][rows * k]["customdata"]), run["x"].values[w].T, rtol=1e-6
        )
        for r, method in enumerate(METHODS):
            z = np.asarray(fig["data"][rows * k + 1 + r]["z"])
            np.testing.assert_allclose(z, run[f"attr_{method}"].values[w].T, rtol=1e-5, atol=1e-7)
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons] == [p.label for p in picks]
    assert page.count("data-explainr-pick=") == len(picks)


def test_partial_run_shows_only_the_done_windows_and_says_so(run):
    partial = run.copy(deep=True)
    partial["done"].values[1] = False  # windows 64 ... 127 not finished
    for m in METHODS:
        partial[f"attr_{m}"].values[64:128] = 1e6  # what an unfinished chunk may hold
    partial["prediction"].values[64:128] = 1e6
    rep = global_report(partial)
    html = rep.to_html()
    assert "122 of 186 windows are done (2 of 3 chunks)" in section_text(html, "summary")
    done = np.r_[0:64, 128:186]
    heat = figure(html, "importance")["data"][0]
    want = np.abs(run[f"attr_{METHODS[0]}"].values[done]).mean(axis=0)
    np.testing.assert_allclose(np.asarray(heat["z"]), want.T, rtol=1e-6)
    assert all(not 64 <= p.window < 128 for p in rep.contents.picks)
    assert rep.contents.prediction["max"] == pytest.approx(run["prediction"].values[done].max())


def test_run_with_no_done_window_shows_its_summary_and_stored_gates_only(run):
    empty = run.copy(deep=True)
    empty["done"].values[:] = False
    html = global_report(empty).to_html()
    assert "0 of 186 windows are done" in section_text(html, "summary")
    assert re.findall(r'<section id="([a-z]+)"', html) == ["summary", "gates"]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore:The data type")  # zarr 3, str coords
def test_lazy_zarr_store_gives_the_same_numbers(run, tmp_path):
    stored = run.chunk({"window": 64})
    stored.to_zarr(tmp_path / "run.zarr", mode="w")
    lazy = xr.open_zarr(tmp_path / "run.zarr")
    assert lazy["attr_occlusion"].chunks is not None  # dask-backed, not loaded
    got, want = global_report(lazy).contents, global_report(run).contents
    for m in METHODS:
        np.testing.assert_allclose(got.importance[m], want.importance[m], rtol=1e-12)
        np.testing.assert_allclose(got.calendar.total[m], want.calendar.total[m], rtol=1e-12)
    assert [p.label for p in got.picks] == [p.label for p in want.picks]
    np.testing.assert_allclose(got.agreement, want.agreement)


def test_gru_update_gate_is_named_from_the_attrs(run):
    gru = run.copy()
    gru["gate_rnn_0_forget_mean"].attrs["gate"] = "update"
    gates = global_report(gru).contents.gates
    assert [g.gate for g in gates] == ["update", "forget"]


def test_page_stays_under_10_mb_for_ten_thousand_windows(tmp_path):
    ds = synthetic_run(10_000).chunk({"window": 2048})
    path = global_report(ds).save(tmp_path / "large.html")
    size = path.stat().st_size
    assert size < 10 * 2**20, size
    html = path.read_text()
    fig = figure(html, "picker")
    picks = len(re.findall("data-explainr-pick=", html))
    assert len(fig["data"]) == 3 * picks and picks <= 15
    assert len(figure(html, "beeswarm")["data"][0]["x"]) == 2000
    assert np.asarray(figure(html, "calendar")["data"][0]["z"]).shape == (16, 400)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ds: ds.drop_vars("attr_occlusion"), "attr_occlusion"),
        (lambda ds: ds.drop_vars("x"), "'x'"),
        (lambda ds: ds.assign_attrs(methods="not json"), "JSON list"),
        (lambda ds: ds.isel(chunk=slice(0, 2)), "2 chunk flags"),
    ],
)
def test_a_run_not_following_the_schema_is_a_clear_error(run, change, message):
    with pytest.raises(ExplainrError, match=re.escape(message)):
        global_report(change(run))


def test_bad_arguments_are_clear_errors(run):
    with pytest.raises(ExplainrError, match=r"xarray\.Dataset"):
        global_report(run["x"])
    with pytest.raises(ExplainrError, match="top_k"):
        global_report(run, top_k=0)


def test_settings_and_methods_come_from_the_attrs(run, page):
    text = section_text(page, "summary")
    assert "integrated_gradients, occlusion" in text and "chunk" in text
    assert json.loads(run.attrs["methods"]) == list(METHODS)


def test_one_method_without_actuals_picks_by_prediction_only(run):
    single = run.drop_vars(["attr_occlusion", "actual"]).assign_attrs(
        methods=json.dumps(["integrated_gradients"])
    )
    rep = global_report(single, picks=3)
    pred = run["prediction"].values
    ends = run["window_end"].values
    top = np.argsort(-pred, kind="stable")[:3]
    assert [(p.label, p.reasons) for p in rep.contents.picks] == [
        (str(ends[p]), ["top prediction"]) for p in top
    ]
    html = rep.to_html()
    sections = re.findall(r'<section id="([a-z]+)"', html)
    assert sections == ["summary", "importance", "beeswarm", "calendar", "picker", "gates"]
    assert len(figure(html, "picker")["data"]) == 2 * 3
