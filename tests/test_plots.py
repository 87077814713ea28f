"""explainr.plots: figures hold exactly the recorded / attributed numbers, reshaped."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import explainr
from explainr import plots
from explainr.attribution._result import Attribution
from explainr.nn import ConvLSTM, PeepholeLSTM

XSS = "<img src=x onerror=alert(1)>"

# (module factory, input shape (batch, time, ...)), one row per recurrent kind and layout.
MODULES = {
    "lstm": (lambda: torch.nn.LSTM(3, 5, batch_first=True), (2, 11, 3)),
    "lstm-2-layers-bidirectional": (
        lambda: torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True),
        (2, 11, 3),
    ),
    "gru-2-layers": (lambda: torch.nn.GRU(3, 4, num_layers=2, batch_first=True), (2, 9, 3)),
    "peephole": (lambda: PeepholeLSTM(3, 4, batch_first=True), (2, 8, 3)),
    "convlstm": (lambda: ConvLSTM(1, 3, kernel_size=3), (2, 6, 1, 4, 4)),
}


def recorded(name: str):
    make, shape = MODULES[name]
    torch.manual_seed(0)
    module = make()
    with explainr.record(module) as rec:
        module(torch.randn(*shape))
    return rec.trace[""]


def per_unit(values: torch.Tensor, sample: int) -> np.ndarray:
    """(units, time) of one sample; ConvLSTM maps averaged per channel."""
    v = values[sample]
    if v.dim() == 4:
        v = v.mean(dim=(2, 3))
    return v.T.numpy()


@pytest.mark.parametrize("name", list(MODULES))
def test_gate_heatmap_has_one_trace_per_gate_layer_direction(name):
    rec = recorded(name)
    fig = plots.gate_heatmap(rec, sample=1, time_labels=[f"t{i}" for i in range(rec.time_steps)])
    assert isinstance(fig, go.Figure)
    slots = [(la, d) for la in range(rec.num_layers) for d in range(rec.num_directions)]
    want = [per_unit(rec.gate(g, la, d), 1) for la, d in slots for g in rec.gate_names]
    assert len(fig.data) == len(want)
    for trace, z in zip(fig.data, want, strict=True):
        np.testing.assert_allclose(trace.z, z, rtol=1e-5, atol=1e-6)
        assert list(trace.x) == [f"t{i}" for i in range(rec.time_steps)]
        assert "unit %{y}" in trace.hovertemplate and "%{x}" in trace.hovertemplate
    buttons = fig.layout.updatemenus[0].buttons
    assert len(buttons) == len(want)
    for k, button in enumerate(buttons):
        visible = button.args[0]["visible"]
        assert visible == [j == k for j in range(len(want))]
    assert [t.visible for t in fig.data] == [True] + [False] * (len(want) - 1)


@pytest.mark.parametrize("name", list(MODULES))
def test_gate_saturation_is_one_marker_per_unit_per_sigmoid_gate(name):
    rec = recorded(name)
    fig = plots.gate_saturation(rec)
    sigmoid = [g for g in rec.gate_names if g not in ("cell", "new")]
    slots = [(la, d) for la in range(rec.num_layers) for d in range(rec.num_directions)]
    assert len(fig.data) == len(slots) * len(sigmoid)
    for trace, (la, d, g) in zip(
        fig.data, [(la, d, g) for la, d in slots for g in sigmoid], strict=True
    ):
        gate = rec.gate(g, la, d)
        gate = gate.mean(dim=(3, 4)) if gate.dim() == 5 else gate
        pooled = gate.reshape(-1, gate.shape[-1]).numpy()  # (batch * time, units)
        np.testing.assert_allclose(trace.x, (pooled < 0.1).mean(axis=0))
        np.testing.assert_allclose(trace.y, (pooled > 0.9).mean(axis=0))
        assert trace.name == f"{g} gate"


def test_state_trajectories_draw_the_most_varying_units_per_layer():
    rec = recorded("lstm-2-layers-bidirectional")
    fig = plots.state_trajectories(rec, sample=0, top=2)
    rows = 2  # cell and hidden
    assert len(fig.data) == 2 * 2 * 2 * rows  # layers x directions x units x rows
    hidden = rec.hidden(1, 1)[0].numpy()  # (time, units)
    top = list(np.argsort(-hidden.std(axis=0))[:2])
    last = fig.data[-2 * rows :]
    assert [t.name for t in last[::rows]] == [f"unit {u}" for u in top]
    np.testing.assert_allclose(last[1].y, hidden[:, top[0]], rtol=1e-6)
    np.testing.assert_allclose(last[0].y, rec.cell(1, 1)[0, :, top[0]].numpy(), rtol=1e-6)


def test_gru_trajectories_have_only_a_hidden_row():
    fig = plots.state_trajectories(recorded("gru-2-layers"), units=[0, 3])
    assert len(fig.data) == 2 * 2
    assert [a.text for a in fig.layout.annotations] == ["hidden state"]


def attribution(method: str = "ig", names=("a", "b", XSS), seed: int = 0) -> Attribution:
    rng = np.random.default_rng(seed)
    return Attribution(
        method=method,
        values=rng.standard_normal((2, 12, 3)),
        prediction=np.array([1.0, 2.0]),
        baseline_prediction=np.array([0.0, 0.5]),
        feature_names=list(names),
        time_labels=[f"2024-01-{d:02d}" for d in range(1, 13)],
    )


def test_attribution_summary_bars_are_sums_of_the_heatmap():
    a = attribution()
    fig = plots.attribution_summary(a, sample=1)
    heat, by_feature, by_time = fig.data
    np.testing.assert_allclose(heat.z, a.values[1].T, rtol=1e-6)
    assert heat.zmid == 0 and heat.zmin == -heat.zmax
    np.testing.assert_allclose(by_feature.x, a.values[1].sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(by_time.y, a.values[1].sum(axis=1), rtol=1e-5)
    assert list(by_time.x) == a.time_labels
    assert list(heat.y) == ["a", "b", "&lt;img src=x onerror=alert(1)&gt;"]


def test_attribution_heatmap_uses_given_feature_names_escaped():
    fig = plots.attribution_heatmap(attribution(), feature_names=["x", "<b>y</b>", "z"])
    assert list(fig.data[0].y) == ["x", "&lt;b&gt;y&lt;/b&gt;", "z"]


def test_input_attribution_colours_each_point_by_its_attribution():
    a, b = attribution("ig"), attribution("lime", seed=1)
    x = np.arange(36, dtype=float).reshape(12, 3)
    fig = plots.input_attribution(x, {"ig": a, "lime": b}, sample=0, max_features=2)
    assert len(fig.data) == 2 * (2 + 1)  # per method: 2 feature rows + a row of step sums
    order = np.argsort(-np.abs(a.values[0]).sum(axis=0))[:2]
    lines = fig.data[0:2]
    for trace, j in zip(lines, order, strict=True):
        np.testing.assert_allclose(trace.y, x[:, j])
        np.testing.assert_allclose(trace.marker.color, a.values[0][:, j], rtol=1e-6)
    masks = [b.args[0]["visible"] for b in fig.layout.updatemenus[0].buttons]
    assert masks == [[True] * 3 + [False] * 3, [False] * 3 + [True] * 3]
    with pytest.raises(explainr.ExplainrError, match="expected \\(time, feature\\)"):
        plots.input_attribution(x[:5], a)


def test_method_comparison_shares_and_agreement():
    a, b = attribution("ig"), attribution("<i>lime</i>", seed=1)
    agreement = np.array([[1.0, 0.3], [0.3, 1.0]])
    fig = plots.method_comparison({"ig": a, "<i>lime</i>": b}, agreement=agreement)
    lines = [t for t in fig.data if t.type == "scatter"]
    bars = [t for t in fig.data if t.type == "bar"]
    share = a.values[0] / np.abs(a.values[0]).sum()
    np.testing.assert_allclose(lines[0].y, share.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(bars[0].x, share.sum(axis=0), rtol=1e-5)  # horizontal bars
    heat = next(t for t in fig.data if t.type == "heatmap")
    np.testing.assert_array_equal(heat.z, agreement)
    assert list(heat.x) == ["ig", "&lt;i&gt;lime&lt;/i&gt;"]


def test_plots_reject_bad_arguments():
    a = attribution()
    with pytest.raises(explainr.ExplainrError, match="sample=2 is out of range"):
        plots.attribution_summary(a, sample=2)
    with pytest.raises(explainr.ExplainrError, match="2 feature names for 3 features"):
        plots.attribution_heatmap(a, feature_names=["a", "b"])
    rec = recorded("lstm")
    with pytest.raises(explainr.ExplainrError, match="3 time labels for 11 time steps"):
        plots.gate_heatmap(rec, time_labels=["a", "b", "c"])


def test_a_trace_with_one_module_can_be_passed_whole():
    model = torch.nn.GRU(2, 3, batch_first=True)
    with explainr.record(model) as rec:
        model(torch.randn(1, 5, 2))
    assert len(plots.gate_heatmap(rec.trace).data) == 3


def test_repeated_time_labels_stay_distinct_steps():
    rec = recorded("lstm")
    labels = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed", "Thu"]
    fig = plots.gate_heatmap(rec, time_labels=labels)
    x = list(fig.data[0].x)
    assert len(set(x)) == 11 and x[0] == "Mon (0)" and x[7] == "Mon (7)"
