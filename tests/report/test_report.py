"""Report: content, time labels, escaping, size, offline page, atomic writes."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from plotly.offline import get_plotlyjs
from report_helpers import XSS, Forecaster, figures_of, grad_x_input, scaled, sine_frame

import explainr
from explainr._core.inputs import time_labels_of


def full_report(forecast: dict, **kwargs) -> explainr.Report:
    rep = explainr.Report(
        title="Sunspots LSTM", model=forecast["model"], data_summary="sine + noise", **kwargs
    )
    rep.add_trace(forecast["trace"], sample=0)
    rep.add_attribution(forecast["a"], sample=0)
    rep.add_attribution(forecast["b"], sample=0)
    rep.add_input(forecast["raw"], units="count")
    rep.add_metrics({"lime": {"deletion_auc": 0.25, "insertion_auc": 0.75}})
    return rep


def outside_json(page: str) -> str:
    """The page without plotly.js and the embedded figure JSON: the HTML we wrote."""
    page = re.sub(r"<script>/\*\*.*?</script>", "", page, count=1, flags=re.S)
    return re.sub(r'<script type="application/json".*?</script>', "", page, flags=re.S)


def test_every_section_is_there_with_an_explanation(forecast):
    page = full_report(forecast).to_html()
    html = outside_json(page)
    for heading in [
        "Overview",
        "Input and attribution",
        "What the prediction used: integrated_gradients",
        "What the prediction used: lime",
        "Methods side by side",
        "Faithfulness metrics",
        "Inside the model: rnn (LSTM)",
        "Gates over time",
        "Cell and hidden states",
        "Gate saturation",
    ]:
        assert f">{heading}<" in html, heading
    assert html.count('<p class="explain">') >= 8
    # Header: version, modules and parameters, prediction and baseline, settings, time.
    n_params = sum(p.numel() for p in forecast["model"].parameters())
    assert f"explainr {explainr.__version__}" in html
    assert f"{n_params:,} parameters" in html
    a = forecast["a"]
    assert (
        f"{float(a.prediction[0]):.4g}" in html and f"{float(a.baseline_prediction[0]):.4g}" in html
    )
    assert "baseline zeros" in html and "computed in" in html and "report built in" in html
    for metric in ("completeness error", "deletion AUC", "insertion AUC"):
        assert metric in html
    # One figure per div, each drawn from the embedded JSON.
    doc = figures_of(page)
    divs = re.findall(r'<div class="figure" id="(fig-\d+)"></div>', html)
    assert divs == [f["id"] for f in doc["figures"]] and len(divs) == 8
    assert all(f["data"] for f in doc["figures"])


def test_plotlyjs_inlined_once_and_nothing_fetched(forecast):
    page = full_report(forecast).to_html()
    assert page.count(get_plotlyjs()) == 1
    assert page.count("plotly.js v") == 1
    html = outside_json(page)
    assert "<script src" not in html and "cdn" not in html.lower()
    assert "mathjax" not in html.lower()
    assert re.search(r"\b(src|href)=\"(https?:)?//", html) is None
    assert "default-src 'none'" in html  # the CSP forbids any request


def test_time_labels_from_the_index_are_on_every_time_axis(forecast):
    page = full_report(forecast).to_html()
    dates = time_labels_of(forecast["raw"].index)
    assert dates[0] == "2021-06-29" and len(dates) == 40
    time_axes = 0
    for fig in figures_of(page)["figures"]:
        for trace in fig["data"]:
            for key in ("x", "y"):
                value = trace.get(key)
                if isinstance(value, list) and len(value) == len(dates):
                    assert value == dates, (fig["id"], trace.get("type"), key)
                    time_axes += 1
    assert time_axes >= 10


def test_heatmap_values_match_the_recorded_gates(forecast):
    """The page's (quantised) gate heatmaps agree with the record within half a step."""
    page = full_report(forecast).to_html()
    rec = forecast["trace"]["rnn"]
    fig = next(f for f in figures_of(page)["figures"] if "gate" in str(f["layout"]["title"]))
    expected = [rec.gate(g, layer).numpy()[0].T for layer in range(2) for g in rec.gate_names]
    assert len(fig["data"]) == len(expected) == 8
    for trace, want in zip(fig["data"], expected, strict=True):
        got = np.asarray(trace["z"], dtype=np.float64)
        step = (want.max() - want.min()) / 254
        np.testing.assert_allclose(got, want, atol=step / 2 + 1e-6)


def test_user_strings_are_escaped_everywhere(tmp_path):
    """A hostile title, feature, module, method and time label never become markup."""
    torch.manual_seed(0)
    frame = sine_frame(30)
    model = Forecaster(3, hidden=4, layers=1)
    model.add_module("<svg onload=alert(2)>", model.rnn)  # a hostile module name
    x = scaled(frame)
    with explainr.record(model) as rec:
        model(x)
    a = grad_x_input(model, x, frame, method="</script><script>alert(3)</script>")
    a.time_labels = [f"<b>t{i}</b>" for i in range(30)]
    rep = explainr.Report(title="</title><script>alert(4)</script>", data_summary={XSS: XSS})
    rep.add_trace(rec.trace)
    rep.add_attribution(a)
    rep.add_input(frame)
    page = rep.to_html()
    html = outside_json(page)
    for bad in ("<img", "<svg", "<script>alert", "</script><script>", "<b>t"):
        assert bad not in html, bad
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    start = page.index('id="explainr-figures">')
    body = page[start + len('id="explainr-figures">') : page.index("</script>", start)]
    assert "<" not in body and ">" not in body  # nothing can close the JSON's <script>
    strings = str(figures_of(page))
    assert "&lt;img src=x onerror=alert(1)&gt;" in strings  # plotly shows it as text
    assert "&lt;b&gt;t3&lt;/b&gt;" in strings and "<b>t3" not in strings


def test_size_of_a_two_layer_h128_lstm_over_500_steps(tmp_path):
    """Every gate, cell and hidden state of a 2-layer H=128 LSTM over T=500: at most 6 MB."""
    torch.manual_seed(0)
    frame = sine_frame(500)
    model = Forecaster(3, hidden=128, layers=2)
    x = scaled(frame)
    with explainr.record(model) as rec:
        model(x)
    rep = explainr.Report(title="T=500", model=model)
    rep.add_trace(rec.trace)
    rep.add_attribution(grad_x_input(model, x, frame, "integrated_gradients"))
    rep.add_input(frame)
    path = rep.save(tmp_path / "big.html")
    size = path.stat().st_size
    assert size <= 6_000_000, size
    page = path.read_text()
    assert "averaged over bins" not in page  # 8 x 128 x 500 gate cells fit without binning
    gates = [f for f in figures_of(page)["figures"] if "gate" in str(f["layout"]["title"])]
    assert [np.shape(t["z"]) for t in gates[0]["data"]] == [(128, 500)] * 8


def test_long_inputs_are_binned_with_a_visible_note(forecast):
    rep = explainr.Report(max_heatmap_cells=1000)
    rep.add_trace(forecast["trace"])
    page = rep.to_html()
    cells = 2 * 4 * 16 * 40
    factor = math.ceil(cells / 1000)
    assert f"averaged over bins of {factor} steps" in page
    fig = figures_of(page)["figures"][0]
    z = np.asarray(fig["data"][0]["z"], dtype=np.float64)
    gate = forecast["trace"]["rnn"].gate("input").numpy()[0].T  # (units, time)
    columns = math.ceil(40 / factor)
    want = [gate[:, k * factor : (k + 1) * factor].mean(axis=1) for k in range(columns)]
    step = (np.max(want) - np.min(want)) / 254
    np.testing.assert_allclose(z, np.stack(want, axis=1), atol=step / 2 + 1e-6)
    assert len(fig["data"][0]["x"]) == columns


def test_gru_bidirectional_trace_has_no_cell_state_row():
    model = torch.nn.GRU(2, 5, num_layers=2, bidirectional=True, batch_first=True)
    with explainr.record(model) as rec:
        model(torch.randn(3, 12, 2))
    page = explainr.Report().add_trace(rec.trace, sample=2).to_html()
    html = outside_json(page)
    assert ">Hidden state<" in html and ">Cell and hidden states<" not in html
    heat = figures_of(page)["figures"][0]
    assert len(heat["data"]) == 2 * 2 * 3
    labels = [b["label"] for b in heat["layout"]["updatemenus"][0]["buttons"]]
    assert "update gate · layer 1 · reverse" in labels
    np.testing.assert_allclose(
        np.asarray(heat["data"][0]["z"], float), rec.trace[""].gate("reset")[2].T, atol=0.01
    )


def test_save_writes_atomically_and_creates_folders(forecast, tmp_path):
    rep = full_report(forecast)
    target = tmp_path / "new" / "deeper" / "report.html"
    assert rep.save(target) == target
    first = target.read_text()
    assert first.startswith("<!DOCTYPE html>")
    rep.title = "second"
    rep.save(target)
    assert "<title>second</title>" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no temp left


def test_unwritable_path_is_an_explainr_error(forecast, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    rep = explainr.Report().add_attribution(forecast["a"])
    with pytest.raises(explainr.ExplainrError, match="cannot write the report"):
        rep.save(blocker / "report.html")
    with pytest.raises(explainr.ExplainrError, match="cannot write the report"):
        rep.save(tmp_path)  # a folder, not a file
    assert blocker.read_text() == "not a folder"


def test_shared_plotlyjs_is_written_once_beside_reports(forecast, tmp_path):
    rep = explainr.Report().add_attribution(forecast["a"])
    first = rep.save(tmp_path / "one.html", plotlyjs="shared")
    lib = tmp_path / "plotly.min.js"
    assert lib.read_text() == get_plotlyjs()
    stamp = lib.stat().st_mtime_ns
    second = rep.save(tmp_path / "two.html", plotlyjs="shared")
    assert lib.stat().st_mtime_ns == stamp  # reused, not rewritten
    for page in (first.read_text(), second.read_text()):
        assert '<script src="plotly.min.js"></script>' in page
        assert "plotly.js v" not in page and len(page) < 200_000
    with pytest.raises(explainr.ExplainrError, match="plotlyjs must be"):
        rep.to_html(plotlyjs="cdn")


def test_repr_html_is_an_isolated_iframe(forecast):
    rep = explainr.Report(title="a & b").add_attribution(forecast["a"])
    frame = rep._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    assert "&lt;title&gt;a &amp;amp; b&lt;/title&gt;" in frame


def test_bad_arguments_raise_explainr_errors(forecast):
    rep = explainr.Report()
    a = forecast["a"]
    with pytest.raises(explainr.ExplainrError, match="sample=1 is out of range"):
        rep.add_attribution(a, sample=1)
    with pytest.raises(
        explainr.ExplainrError, match="feature_names has 2 labels but x has 3 features"
    ):
        rep.add_attribution(a, feature_names=["a", "b"])
    with pytest.raises(explainr.ExplainrError, match="needs an Attribution"):
        rep.add_attribution(a.values)
    with pytest.raises(explainr.ExplainrError, match="sample=5 is out of range"):
        rep.add_trace(forecast["trace"], sample=5)
    with pytest.raises(
        explainr.ExplainrError, match="time_labels has 1 labels but x has 40 time steps"
    ):
        rep.add_trace(forecast["trace"], time_labels=["a"])


def test_feature_names_argument_overrides_the_attribution(forecast):
    rep = explainr.Report().add_attribution(forecast["a"], feature_names=["p", "q", "r"])
    fig = figures_of(rep.to_html())["figures"][0]
    assert fig["data"][0]["y"] == ["p", "q", "r"]


def test_import_explainr_loads_no_plotly_and_either_import_order_works():
    code = (
        "import sys, explainr; explainr.Report; explainr.explain; "
        "assert 'plotly' not in sys.modules, 'plotly imported'; "
        "import explainr.plots; explainr.plots.gate_heatmap"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import explainr.plots, explainr.report; explainr.report.Report"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_builds_from_a_bare_module_record(forecast):
    page = explainr.Report().add_trace(forecast["trace"]["rnn"]).to_html()
    assert ">Inside the model: rnn (LSTM)<" in page


def test_most_attributed_units_come_from_a_unit_attribution(forecast):
    model, x = forecast["model"], forecast["x"]
    units = explainr.attribute_units(model, x, "rnn", progress=False)
    rep = explainr.Report(top_units=3).add_trace(forecast["trace"], units=units)
    page = rep.to_html()
    assert "the prediction used most (layer integrated gradients)" in page
    fig = figures_of(page)["figures"][1]  # gates, then states
    top = np.argsort(-np.abs(units.values[0].sum(axis=0)))[:3]
    assert units.layer == 1
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    top_layer = buttons[1]["args"][0]["visible"]
    names = [t["name"] for t, shown in zip(fig["data"], top_layer, strict=True) if shown]
    assert names[::2] == [f"unit {u}" for u in top]  # cell and hidden rows per unit
