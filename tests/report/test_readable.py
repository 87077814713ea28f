"""What the report says and draws for people: settings, units, hidden features, gate scales,
gate value spreads, LIME's own promise. Checked against numpy on the same arrays."""

from __future__ import annotations

import numpy as np
import torch
from report_helpers import figures_of

import explainr
from explainr.report import figures
from explainr.report._page import dequantise
from explainr.report.figures.attribution import short_unit
from explainr.report.sections.overview import _setting


def lstm_trace(hidden: int = 6, steps: int = 25) -> explainr.Trace:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, hidden, num_layers=2, batch_first=True)
    with explainr.record(lstm) as rec:
        lstm(torch.randn(3, steps, 2))
    return rec.trace


def attribution(features: int, method: str = "integrated_gradients", **kw) -> explainr.Attribution:
    values = np.random.default_rng(1).normal(size=(1, 10, features))
    return explainr.Attribution(
        values=values,
        method=method,
        prediction=np.array([values.sum() + 2.0]),
        baseline_prediction=np.array([2.0]),
        feature_names=[f"f{j}" for j in range(features)],
        **kw,
    )


def test_settings_read_like_text_not_reprs():
    assert _setting([0.9018354136442868]) == "0.902"
    assert _setting(0.25) == "0.25"
    assert _setting([0.5, 0.75]) == "[0.5, 0.75]"
    assert _setting(list(np.linspace(0.1, 0.9, 9))) == "0.1 to 0.9 (9 values)"
    a = attribution(3, "lime", settings={"r2": [0.9018354136442868], "kernel_width": 0.25})
    page = explainr.Report(prediction_unit="% per year").add_attribution(a).to_html()
    assert "surrogate fit R² 0.902, kernel width 0.25" in page
    assert "0.9018354136442868" not in page.split('id="explainr-figures"')[0]
    assert "<th>time taken</th>" in page and "<th>s</th>" not in page
    assert "<th>f(x) (% per year)</th>" in page


def test_lime_shows_its_surrogate_fit_not_completeness():
    lime = attribution(3, "lime", settings={"r2": [0.42]})
    ig = attribution(3)
    rep = explainr.Report().add_attribution(ig).add_attribution(lime)
    rep.add_metrics({"lime": {"completeness": 0.3, "deletion_auc": 1.0}})
    page = rep.to_html()
    header = page.split("Faithfulness metrics")[1].split("</thead>")[0]
    assert "completeness error" in header and "surrogate fit R²" in header
    table = page.split("Faithfulness metrics")[1].split("</table>")[0]
    lime_cells = table.split("<td>lime</td>")[1].split("</tr>")[0]
    assert "<td>0.42</td>" in lime_cells and "0.3<" not in lime_cells
    ig_cells = table.split("<td>integrated_gradients</td>")[1].split("</tr>")[0]
    error = float(ig.completeness_error[0])
    assert f"<td>{error:.4g}</td>" in ig_cells


def test_every_input_feature_is_drawn_or_named():
    for count, panels, note in ((11, 11, False), (30, 24, True)):
        a = attribution(count)
        x = np.random.default_rng(2).normal(size=(10, count))
        page = explainr.Report().add_attribution(a).add_input(x, feature_names=a.feature_names)
        html = page.to_html()
        fig = figures_of(html)["figures"][0]
        titles = [t["text"] for t in fig["layout"]["annotations"]]
        assert len(titles) == panels + 1
        assert ('class="note">Showing the 24 most attributed of 30' in html) == note
        if note:
            order = np.argsort(-np.abs(a.values[0]).sum(axis=0), kind="stable")
            hidden = [f"f{j}" for j in sorted(order[24:])]
            assert "not shown: " + ", ".join(hidden) + "." in html


def test_units_shown_short_on_panels_and_in_full_on_hover():
    assert short_unit("% per quarter, 100 x log-difference of real GDP") == "% per quarter"
    assert short_unit("count") == "count"
    a = attribution(2)
    x = np.zeros((10, 2))
    units = {"f0": "% per quarter, 100 x log-difference of real GDP", "f1": "°C"}
    fig = figures.input_attribution(x, a, units=units, unit="% per year")
    titles = [ann.text for ann in fig.layout.annotations]
    assert titles[:2] == ["f0 (% per quarter)", "f1 (°C)"]
    assert "100 x log-difference of real GDP" in fig.data[0].hovertemplate
    assert fig.data[0].marker.colorbar.title.text == "attribution (% per year)"


def test_gate_colours_span_each_gates_own_values():
    trace = lstm_trace()
    rec = trace[""]
    fig = figures.gate_heatmap(rec, 1)
    k = 0
    for layer in range(2):
        for gate, values in rec.gates(layer).items():
            z = values[1].numpy().T  # (units, time), numpy's own view of the record
            heat = fig.data[k]
            if gate == "cell":
                top = float(np.abs(z).max())
                assert np.isclose(heat.zmin, -top) and np.isclose(heat.zmax, top)
            else:
                assert np.isclose(heat.zmin, z.min()) and np.isclose(heat.zmax, z.max())
                assert heat.zmax - heat.zmin < 1.0  # narrower than the fixed 0..1 scale
            assert f"{z.min():.2f}" in heat.colorbar.title.text or gate == "cell"
            k += 1


def test_gate_value_boxes_are_numpys_quartiles_per_gate_and_layer():
    trace = lstm_trace()
    rec = trace[""]
    fig = figures.gate_distributions(rec)
    assert [t.name for t in fig.data] == ["layer 0", "layer 1"]
    for layer, box in enumerate(fig.data):
        gates = rec.gates(layer)
        assert list(box.x) == [f"{g} gate" for g in gates]
        for j, values in enumerate(gates.values()):
            flat = values.numpy().ravel()
            q = np.percentile(flat, [0, 25, 50, 75, 100])
            got = [box.lowerfence[j], box.q1[j], box.median[j], box.q3[j], box.upperfence[j]]
            np.testing.assert_allclose(got, q, rtol=1e-6)
            assert np.isclose(box.mean[j], flat.mean(), rtol=1e-6)


def test_report_has_gate_values_beside_saturation_and_says_when_nothing_saturates():
    trace = lstm_trace()
    page = explainr.Report().add_trace(trace).to_html()
    assert ">Gate values<" in page and ">Gate saturation<" in page
    sigmoid = ("gate:input", "gate:forget", "gate:output")
    values = np.concatenate(
        [v.numpy().ravel() for k, v in trace[""].data.items() if k[0] in sigmoid]
    )
    saturates = bool(((values < 0.1) | (values > 0.9)).any())
    assert ("No sigmoid gate of this module" in page) == (not saturates)
    doc = figures_of(page)
    heat = doc["figures"][0]["data"][0]
    z = dequantise(heat["z"]) if isinstance(heat["z"], dict) else np.asarray(heat["z"])
    assert np.isclose(heat["zmin"], np.nanmin(z), atol=1e-6)
    assert np.isclose(heat["zmax"], np.nanmax(z), atol=1e-6)


def test_attribution_summary_bars_beside_have_tick_labels():
    fig = figures.attribution_summary(attribution(4), unit="K")
    assert fig.layout.xaxis2.showticklabels is True
    assert fig.data[0].colorbar.title.text == "attribution (K)"
