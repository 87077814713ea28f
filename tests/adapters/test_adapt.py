"""explainr.adapt and the Adapter contract, on a small adapter with per-window side inputs.

The reference for each window is the same computation as a plain module with that window's
side inputs baked in, attributed by explainr.attribute as any user's module is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import explainr
from explainr.adapters import Adapter, Windows


class Scaled(Adapter):
    """An LSTM on standardised windows; the target's scale is a per-window side input."""

    library = "test"

    def __init__(self, series: np.ndarray, window: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.LSTM(2, 6, batch_first=True)
        self.head = nn.Linear(6, 2)
        self.series, self.window = series, window
        self.feature_names = ["y", "x"]
        self.target_names = ["y t+1", "y t+2"]
        self.baseline = np.tile(series.mean(0), (window, 1))
        self.baseline_note = "the training mean"
        self.encoder = {"rnn": 0}
        self.context_names = ("scale",)

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        scale = context["scale"].to(x.dtype)  # (batch, 1)
        out = self.head(self.rnn(x / scale[:, None])[0][:, -1])
        return out * scale

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        ends = np.arange(len(self.series), self.window - 1, -stride)[::-1][-(last or 0) :]
        x = torch.tensor(np.stack([self.series[e - self.window : e] for e in ends]))
        scale = x[:, :, 0].abs().amax(1, keepdim=True) + 1.0
        return Windows(
            x=x.float(),
            feature_names=self.feature_names,
            time_labels=[[str(t) for t in range(e - self.window, e)] for e in ends],
            starts=ends - self.window,
            context={"scale": scale.float()},
        )


class Baked(nn.Module):
    """The reference: the adapter with one window's scale fixed, as a plain module."""

    def __init__(self, ad: Scaled, scale: Tensor) -> None:
        super().__init__()
        self.ad, self.scale = ad, scale

    def forward(self, x: Tensor) -> Tensor:
        return self.ad.forecast(x, {"scale": self.scale.expand(len(x), 1)})


@pytest.fixture
def adapter() -> Scaled:
    rng = np.random.default_rng(0)
    return Scaled(rng.normal(size=(40, 2)).cumsum(0), window=8)


def test_predict_binds_each_windows_context(adapter) -> None:
    w = adapter.windows(last=3)
    expected = np.concatenate(
        [
            Baked(adapter, w.context["scale"][i : i + 1])(w.x[i : i + 1]).detach().numpy()
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(adapter.predict(w), expected, rtol=1e-6)
    assert w[1].context["scale"].shape == (1, 1) and len(w[-2:]) == 2


@pytest.mark.parametrize("method", ["integrated_gradients", "kernel_shap"])
def test_attribute_windows_equals_per_window_reference(adapter, method) -> None:
    w = adapter.windows(last=3)
    a = explainr.attribute(adapter, w, method, target="y t+2", n_samples=300, seed=1)
    assert a.values.shape == (3, 8, 2) and a.feature_names == ["y", "x"]
    assert a.settings["baselines"] == "the training mean"
    for i in range(3):
        ref = explainr.attribute(
            Baked(adapter, w.context["scale"][i : i + 1]),
            w.x[i : i + 1],
            method,
            target=1,
            baselines=adapter.baseline,
            n_samples=300,
            seed=1,
        )
        np.testing.assert_allclose(a.values[i], ref.values[0], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.prediction[i], ref.prediction[0], rtol=1e-6)
    assert a.completeness_error.max() < 0.01


def test_one_window_keeps_its_time_labels_several_share_lags(adapter) -> None:
    w = adapter.windows(last=2)
    one = explainr.attribute(adapter, w[1], "occlusion", target=0)
    two = explainr.attribute(adapter, w, "occlusion", target=0)
    assert one.time_labels == w.time_labels[1]
    assert two.time_labels[-1] == "t" and two.time_labels[0] == "t-7"


def test_context_needs_its_adapter(adapter) -> None:
    w = adapter.windows(last=2)
    with pytest.raises(explainr.ExplainrError, match="side inputs"):
        explainr.attribute(nn.Sequential(nn.Flatten(), nn.Linear(16, 1)), w)
    with pytest.raises(explainr.ExplainrError, match="not one of the model's outputs"):
        explainr.attribute(adapter, w, target="z")
    with pytest.raises(explainr.ExplainrError, match="holds 2 windows"), adapter.using(w.context):
        adapter(w.x[:1])
    with pytest.raises(explainr.ExplainrError, match="side inputs"):
        adapter(w.x)


def test_adapt_plain_module_and_unknown_objects() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(8, 1))
    x = torch.randn(5, 4, 2)
    ad = explainr.adapt(net, x)
    w = ad.windows(last=2, stride=2)
    np.testing.assert_array_equal(w.x.numpy(), x[[2, 4]].numpy())
    np.testing.assert_allclose(ad.predict(w), net(x[[2, 4]]).detach().numpy(), rtol=1e-6)
    assert explainr.adapt(ad) is ad
    with pytest.raises(explainr.ExplainrError, match="does not know"):
        explainr.adapt(object())
    with pytest.raises(explainr.ExplainrError, match="Keras file"):
        explainr.adapt("model.pt")
    with pytest.raises(explainr.ExplainrError, match="last=9"):
        ad.windows(last=9)


def test_explain_windows_with_context(adapter, tmp_path) -> None:
    w = adapter.windows(last=2)
    ex = explainr.explain(adapter, w, ("integrated_gradients", "occlusion"), target="y t+1")
    ig = ex.attributions["integrated_gradients"]
    alone = explainr.attribute(adapter, w, "integrated_gradients", target=0)
    np.testing.assert_allclose(ig.values, alone.values, rtol=1e-6, atol=1e-9)
    assert ex.settings["baselines"] == "the training mean" and ex.settings["library"] == "test"
    assert ex.curves["occlusion"]["deletion"].outputs.shape[0] == 2
    # the trace ran both windows, each with its own scale
    expected = torch.cat([adapter.rnn(w.x[i : i + 1] / w.context["scale"][i])[0] for i in range(2)])
    torch.testing.assert_close(ex.trace["rnn"].hidden(), expected.detach(), rtol=1e-5, atol=1e-6)
    assert ex.trace.marked == {"rnn": 0}
    html = ex.save_html(tmp_path / "r.html").read_text()
    assert "the training mean" in html
