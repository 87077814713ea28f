"""What attribute accepts (tensors, arrays, DataFrames, output shapes) and what it refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError

from .conftest import Recurrent


class Outputs(nn.Module):
    """Wraps a (batch, k) model to return another output layout."""

    def __init__(self, inner: nn.Module, layout: str) -> None:
        super().__init__()
        self.inner, self.layout = inner, layout

    def forward(self, x: torch.Tensor):
        out = self.inner(x)
        if self.layout == "flat":
            return out[:, 0]
        if self.layout == "tuple":
            return out, {"extra": 1}
        if self.layout == "sequence":  # (batch, time, k)
            return out[:, None].expand(-1, x.shape[1], -1)
        if self.layout == "time_major":
            return out.T
        return out


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Recurrent(3, 5).eval()


def test_one_window_numpy_and_tensor_agree(model) -> None:
    x = torch.randn(7, 3)
    from_tensor = explainr.attribute(model, x, progress=False)
    from_numpy = explainr.attribute(model, x.numpy().astype(np.float64), progress=False)
    assert from_tensor.values.shape == (1, 7, 3)
    np.testing.assert_allclose(from_tensor.values, from_numpy.values, rtol=1e-6)
    assert from_tensor.feature_names == ["f0", "f1", "f2"]
    assert from_tensor.time_labels == [str(t) for t in range(7)]


def test_dataframe_names_features_and_time(model) -> None:
    index = pd.date_range("2024-01-01", periods=6, freq="h")
    df = pd.DataFrame(
        np.random.default_rng(0).normal(size=(6, 3)), index=index, columns=["load", "temp", "wind"]
    )
    a = explainr.attribute(
        model, df, "kernel_shap", window=2, group_by="time_feature", progress=False
    )
    assert a.feature_names == ["load", "temp", "wind"]
    assert a.time_labels == [str(t) for t in index]
    assert a.groups[0].label == f"load @ {index[0]}..{index[1]}"
    ref = explainr.attribute(
        model,
        torch.tensor(df.to_numpy(), dtype=torch.float32),
        "kernel_shap",
        window=2,
        group_by="time_feature",
        progress=False,
    )
    np.testing.assert_allclose(a.group_values, ref.group_values, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("layout", ["flat", "tuple", "matrix"])
def test_output_layouts(model, layout) -> None:
    x = torch.randn(2, 5, 3)
    a = explainr.attribute(Outputs(model, layout), x, progress=False)
    ref = explainr.attribute(model, x, progress=False)
    np.testing.assert_allclose(a.values, ref.values)
    np.testing.assert_allclose(a.prediction, model(x)[:, 0].detach().double().numpy(), rtol=1e-6)


def test_feature_names_argument(model) -> None:
    a = explainr.attribute(
        model, torch.randn(4, 3), feature_names=["a", "b", "c"], group_by="feature", progress=False
    )
    assert [g.label for g in a.groups] == ["a", "b", "c"]


BAD = [
    ("nan", {"x": "nan"}, r"NaN/Inf.*index \[1, 2, 0\]"),
    ("inf", {"x": "inf"}, r"NaN/Inf"),
    ("rank 1", {"x": torch.randn(5)}, r"shape \(5,\).*\(batch, time, feature\)"),
    ("rank 4", {"x": torch.randn(1, 2, 5, 3)}, r"shape \(1, 2, 5, 3\)"),
    ("empty batch", {"x": torch.randn(0, 5, 3)}, r"shape \(0, 5, 3\).*at least one window"),
    (
        "wrong features",
        {"x": torch.randn(2, 5, 4)},
        r"failed on input of shape \(2, 5, 4\).*feature count",
    ),
    ("no target", {"outputs": 3}, r"3 outputs; pass target=<0..2>"),
    ("target range", {"outputs": 3, "target": 3}, r"target=3 is out of range.*0..2"),
    ("target range 1", {"target": 1}, r"target=1 is out of range: the model has 1 output"),
    ("target type", {"outputs": 3, "target": "a"}, r"target must be an int"),
    (
        "method",
        {"method": "shapley"},
        r"method='shapley' is not one of \['contextual_decomposition'",
    ),
    ("window", {"window": 6}, r"window=6 is longer than the input's 5 time steps"),
    ("window zero", {"window": 0}, r"window must be a positive int"),
    ("group_by", {"group_by": "step"}, r"group_by='step' is not one of"),
    ("baselines", {"baselines": torch.zeros(4, 3)}, r"baselines has shape \(4, 3\).*\(5, 3\)"),
    ("baselines nan", {"baselines": torch.full((5, 3), float("nan"))}, r"baselines .*NaN/Inf"),
    ("names", {"feature_names": ["a"]}, r"feature_names has 1 names but x has 3 features"),
    ("n_steps", {"n_steps": 0}, r"n_steps must be an int >= 1"),
    ("seed", {"seed": -1}, r"seed must be an int"),
    (
        "sequence output",
        {"layout": "sequence"},
        r"returned shape \(2, 5, 1\).*one number per window",
    ),
    (
        "time-major output",
        {"layout": "time_major"},
        r"returned shape \(1, 2\) for 2 windows.*batch_first",
    ),
    ("not a module", {"model": "f"}, r"model must be a torch.nn.Module"),
    ("list input", {"x": [[1.0, 2.0, 3.0]]}, r"x is a list; pass a torch tensor"),
    ("text frame", {"x": pd.DataFrame({"a": ["x", "y"]})}, r"non-numeric columns \['a'\]"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_explained(case, change, message) -> None:
    change = dict(change)
    torch.manual_seed(0)
    model: nn.Module = Recurrent(3, 5, outputs=change.pop("outputs", 1)).eval()
    if "layout" in change:
        model = Outputs(model, change.pop("layout"))
    if change.pop("model", None) is not None:
        model = torch.sin
    x = torch.randn(2, 5, 3)
    if isinstance(change.get("x"), str):
        x[1, 2, 0] = float(change.pop("x"))
    x = change.pop("x", x)
    method = change.pop("method", "integrated_gradients")
    with pytest.raises(ExplainrError, match=message):
        explainr.attribute(model, x, method, progress=False, **change)


def test_model_error_is_chained(model) -> None:
    with pytest.raises(ExplainrError) as caught:
        explainr.attribute(model, torch.randn(2, 5, 4), progress=False)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_progress_bar_goes_to_stderr(model, capsys) -> None:
    explainr.attribute(model, torch.randn(3, 5, 3), "occlusion", progress=True)
    assert capsys.readouterr().out == ""


def test_import_explainr_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, explainr; explainr.attribute; explainr.metrics; print(sorted(m for m in ('captum', 'shap', 'lime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
