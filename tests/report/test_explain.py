"""explain(): record + attribute + metrics end to end, and the report it saves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from report_helpers import Forecaster, figures_of, sine_frame, train

import explainr
from explainr._core.inputs import time_labels_of

METHODS = ("integrated_gradients", "kernel_shap", "lime")


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    frame = sine_frame(160)
    window = 40
    model = train(Forecaster(3), frame, window)
    model.train()  # explain() must evaluate in eval mode and restore this
    scaled = ((frame - frame.mean()) / frame.std()).iloc[-window:]
    raw = frame.iloc[-window:]
    ex = explainr.explain(
        model, scaled, METHODS, raw=raw, title="Sunspots LSTM", data_summary="sine + noise",
        input_units={"level": "count"}, n_samples=300,
    )  # fmt: skip
    return {"ex": ex, "model": model, "scaled": scaled, "raw": raw}


def test_everything_is_computed_for_code(run):
    ex, model, scaled = run["ex"], run["model"], run["scaled"]
    assert list(ex.attributions) == list(METHODS)
    dates = time_labels_of(scaled.index)
    x = torch.tensor(scaled.to_numpy(), dtype=torch.float32)[None]
    for a in ex.attributions.values():
        assert a.values.shape == (1, 40, 3)
        assert a.time_labels == dates and a.feature_names == list(scaled.columns)
    # The trace is the model's own gates, from a fresh recording of an eval-mode pass.
    model.eval()
    with explainr.record(model) as rec:
        model(x)
    model.train()
    for gate in ("input", "forget", "cell", "output"):
        torch.testing.assert_close(ex.trace["rnn"].gate(gate, 1), rec.trace["rnn"].gate(gate, 1))
    # Metrics are the metrics module's numbers for each method.
    for method, a in ex.attributions.items():
        deletion = explainr.metrics.deletion(model, x, a)
        assert ex.metrics[method]["deletion_auc"] == pytest.approx(deletion.auc[0])
        assert ex.metrics[method]["completeness"] == pytest.approx(a.completeness_error[0])
        np.testing.assert_allclose(ex.curves[method]["insertion"].fractions, deletion.fractions)
    agreement = explainr.metrics.rank_agreement(
        ex.attributions["lime"], ex.attributions["kernel_shap"]
    )
    assert ex.rank_agreement[2, 1] == pytest.approx(agreement.spearman[0])
    np.testing.assert_allclose(np.diag(ex.rank_agreement), 1.0)


def test_model_modes_are_restored(run):
    assert all(m.training for m in run["model"].modules())


def test_save_html_writes_the_whole_report(run, tmp_path):
    path = run["ex"].save_html(tmp_path / "reports" / "run.html")
    page = path.read_text()
    for heading in (
        "Input and attribution",
        "What the prediction used: kernel_shap",
        "Methods side by side",
        "Deletion and insertion curves",
        "Inside the model: rnn (LSTM)",
        "Memory: rnn",
    ):
        assert f">{heading}<" in page
    assert "<b>Forecaster</b>" in page and "sine + noise" in page
    doc = figures_of(page)
    assert len(doc["figures"]) == 12  # 10 (gate values too) + memory timescales and lag shares
    # The input figure shows the raw window (original units), not the scaled one.
    first = doc["figures"][0]["data"][0]
    level = run["raw"]["level"].to_numpy()
    np.testing.assert_allclose(first["y"], level, rtol=1e-5)
    assert "level (count)" in str(doc["figures"][0]["layout"])
    # A notebook display is small and runs nothing; the full report stays one call away.
    shown = run["ex"]._repr_html_()
    assert len(shown) < 20_000 and "<script" not in shown and "kernel_shap" in shown
    assert "surrogate fit R²" in shown  # lime's row says how well its surrogate fits
    assert run["ex"].report()._repr_html_().startswith("<iframe srcdoc=")


def test_a_model_without_recurrent_modules_gets_attributions_only(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 2, 1))
    frame = pd.DataFrame(
        np.random.default_rng(0).standard_normal((8, 2)),
        index=pd.date_range("2024-01-01 06:00", periods=8, freq="h"),
        columns=["a", "b"],
    )
    ex = explainr.explain(net, frame, ("integrated_gradients",))
    assert ex.trace is None
    assert ex.attributions["integrated_gradients"].time_labels[0] == "2024-01-01 06:00:00"
    page = ex.to_html()
    assert "Inside the model" not in page and "What the prediction used" in page


def test_bad_arguments_raise_explainr_errors():
    net = torch.nn.LSTM(2, 3, batch_first=True)
    with pytest.raises(explainr.ExplainrError, match="at least one method"):
        explainr.explain(net, torch.randn(1, 5, 2), methods=())
    with pytest.raises(explainr.ExplainrError, match="x has shape \\(1, 1, 5, 2\\)"):
        explainr.explain(net, torch.randn(1, 1, 5, 2))
    with pytest.raises(explainr.ExplainrError, match="sample=3 is out of range"):
        explainr.explain(net, torch.randn(2, 5, 2), sample=3)


def test_explain_bad_input_is_an_explainr_error() -> None:
    import pandas as pd
    import pytest

    from explainr import ExplainrError

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0][:, -1, 0]

    with pytest.raises(ExplainrError, match=r"failed on input of shape \(2, 10, 4\)"):
        explainr.explain(Net(), torch.randn(2, 10, 4), ("occlusion",))
    frame = pd.DataFrame({"a": [1.0] * 6, "b": [2.0] * 6, "c": ["x"] * 6})
    with pytest.raises(ExplainrError, match="non-numeric"):
        explainr.explain(Net(), frame, ("occlusion",))
