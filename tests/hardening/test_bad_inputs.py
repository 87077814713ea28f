"""The bad inputs of issue 10, one by one: each a typed ExplainrError (or a warning) that says
what was received and what to do; never a raw error from torch/numpy/shap/lime/sklearn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr import ExplainrError, ExplainrTypeError, ExplainrValueError, ExplainrWarning, metrics

from .conftest import Tiny


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf, np.float32("nan")])
@pytest.mark.parametrize("method", ["integrated_gradients", "lime", "kernel_shap"])
def test_scalar_baseline_must_be_finite(tiny, tiny_x, value, method) -> None:
    with pytest.raises(ExplainrValueError, match=r"baselines=.* is not a finite number"):
        explainr.attribute(tiny, tiny_x, method, baselines=value, progress=False)


def test_scalar_baseline_too_large_for_float32(tiny, tiny_x) -> None:
    with pytest.raises(ExplainrValueError, match=r"baselines in the model's dtype torch.float32"):
        explainr.attribute(tiny, tiny_x, baselines=1e300, progress=False)


def test_scalar_baseline_equals_the_window(tiny, tiny_x) -> None:
    # a number is the constant window: same values as passing that window
    a = explainr.attribute(tiny, tiny_x, baselines=0.5, progress=False)
    b = explainr.attribute(tiny, tiny_x, baselines=torch.full((6, 2), 0.5), progress=False)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("method", [["lime"], None, 5, ("kernel_shap",)])
def test_method_of_wrong_type_lists_methods(tiny, tiny_x, method) -> None:
    with pytest.raises(ExplainrTypeError, match=r"method must be a str, one of \[.*'lime'"):
        explainr.attribute(tiny, tiny_x, method, progress=False)
    assert issubclass(ExplainrTypeError, TypeError)


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        (5, ExplainrTypeError, r"feature_names must be a list of 2 labels.*got 5"),
        ("ab", ExplainrTypeError, r"feature_names must be a list"),
        (["a", "b", "c"], ExplainrValueError, r"feature_names has 3 names but x has 2 features"),
    ],
)
def test_feature_names(tiny, tiny_x, names, error, message) -> None:
    with pytest.raises(error, match=message):
        explainr.attribute(tiny, tiny_x, feature_names=names, progress=False)


def test_time_labels_and_progress_types(tiny, tiny_x) -> None:
    with pytest.raises(ExplainrTypeError, match="time_labels must be a list of 6 labels"):
        explainr.attribute(tiny, tiny_x, time_labels=5, progress=False)
    with pytest.raises(ExplainrTypeError, match="progress must be True or False"):
        explainr.attribute(tiny, tiny_x, progress="no")


def test_sliding_windows_bad_arguments() -> None:
    import pandas as pd

    df = pd.DataFrame({"a": np.arange(10.0)})
    with pytest.raises(ExplainrTypeError, match=r"last must be an int >= 1, got '2'"):
        explainr.sliding_windows(df, 3, last="2")
    with pytest.raises(ExplainrValueError, match=r"step must be an int >= 1, got 0"):
        explainr.sliding_windows(df, 3, step=0)
    with pytest.raises(ExplainrError, match=r"has no columns"):
        explainr.sliding_windows(pd.DataFrame(index=range(5)), 2)


def test_metrics_and_report_refuse_none(tiny, tiny_x) -> None:
    a = explainr.attribute(tiny, tiny_x, "occlusion", progress=False)
    with pytest.raises(ExplainrTypeError, match=r"attribution must be an explainr\.Attribution"):
        metrics.deletion(tiny, tiny_x, None)
    with pytest.raises(ExplainrTypeError, match=r"b must be an explainr\.Attribution"):
        metrics.rank_agreement(a, None)
    with pytest.raises(ExplainrTypeError, match=r"by must be a str"):
        metrics.insertion(tiny, tiny_x, a, by=None)
    report = explainr.Report()
    with pytest.raises(ExplainrTypeError, match=r"add_trace\(\) needs rec.trace"):
        report.add_trace(None)
    with pytest.raises(ExplainrTypeError, match=r"metrics must map each method"):
        report.add_metrics({"lime": 0.3})
    with pytest.raises(ExplainrTypeError, match=r"path must be a str or os.PathLike"):
        report.save(None)
    with pytest.raises(ExplainrTypeError, match=r"load\(\) takes the path"):
        explainr.load(None)


def test_meta_device_model(tiny_x) -> None:
    with torch.device("meta"):
        model = Tiny()
    for call in (
        lambda: explainr.attribute(model, tiny_x, progress=False),
        lambda: explainr.memory(model, tiny_x),
        lambda: explainr.explain(model, tiny_x, ["occlusion"]),
    ):
        with pytest.raises(ExplainrValueError, match=r"'meta' device.*to_empty"):
            call()


class _Output(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.w).sum(dim=(1, 2))
        return score > 0 if self.kind == "bool" else torch.complex(score, score)


@pytest.mark.parametrize("kind", ["bool", "complex"])
@pytest.mark.parametrize("method", ["kernel_shap", "occlusion", "integrated_gradients"])
def test_bool_and_complex_outputs_refused(tiny_x, kind, method) -> None:
    with pytest.raises(ExplainrTypeError, match=rf"returned a torch.{kind}\w* tensor"):
        explainr.attribute(_Output(kind), tiny_x, method, progress=False)


@pytest.mark.parametrize(
    ("method", "kw", "message"),
    [
        ("lime", {"n_samples": 10**9}, r"lime with n_samples=1000000000 over 12 groups"),
        ("integrated_gradients", {"n_steps": 10**9}, r"integrated_gradients with n_steps="),
        ("gradient_shap", {"n_samples": 10**9}, r"gradient_shap with n_samples=1000000000"),
    ],
)
def test_memory_refused_up_front(tiny, tiny_x, method, kw, message) -> None:
    with pytest.raises(ExplainrValueError, match=message + r".* would need about [\d.]+ \w+B"):
        explainr.attribute(tiny, tiny_x, method, window=1, progress=False, **kw)


def test_kernel_shap_with_10000_groups_refused_with_the_figure(tiny) -> None:
    x = torch.zeros(1, 5000, 2)
    with pytest.raises(ExplainrValueError) as found:
        explainr.attribute(tiny, x, "kernel_shap", window=1, progress=False)
    text = str(found.value)
    assert "10000 groups and 22048 coalitions" in text
    assert "GiB of memory" in text and "larger window" in text and "EXPLAINR_MEMORY_LIMIT" in text


def test_memory_limit_from_the_environment(tiny, tiny_x, monkeypatch) -> None:
    monkeypatch.setenv("EXPLAINR_MEMORY_LIMIT", "1K")
    with pytest.raises(ExplainrValueError, match=r"limit of 1\.0 KiB"):
        explainr.attribute(tiny, tiny_x, "lime", n_samples=100, progress=False)
    monkeypatch.setenv("EXPLAINR_MEMORY_LIMIT", "lots")
    with pytest.raises(ExplainrValueError, match="EXPLAINR_MEMORY_LIMIT='lots' is not a size"):
        explainr.attribute(tiny, tiny_x, "lime", n_samples=100, progress=False)


def test_units_and_curves_memory_refused(tiny, tiny_x) -> None:
    with pytest.raises(ExplainrValueError, match=r"attribute_units with n_steps=1000000000"):
        explainr.attribute_units(tiny, tiny_x, n_steps=10**9)
    a = explainr.attribute(tiny, tiny_x, "occlusion", progress=False)
    with pytest.raises(ExplainrValueError, match=r"deletion curve with steps=1000000000"):
        metrics.deletion(tiny, tiny_x, a, steps=10**9)


class _NanBetween(nn.Module):
    """Finite on x (no zero cell) and on the zero baseline, NaN on any mixture of both."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = (x == 0).flatten(1)
        mixed = zero.any(1) & ~zero.all(1)
        out = (x * self.w).sum(dim=(1, 2))
        return torch.where(mixed, torch.full_like(out, float("nan")), out)


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap", "lime", "exact_shapley"])
def test_nan_result_for_a_finite_problem_is_an_error(tiny_x, method) -> None:
    x = tiny_x.abs() + 0.5
    with pytest.raises(
        ExplainrValueError,
        match=rf"{method}( produced NaN/Inf values for windows|: the model gives NaN/Inf)",
    ):
        explainr.attribute(_NanBetween(), x, method, window=3, n_samples=50, progress=False)


class _Sampling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(2, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.rnn(x)[0][:, -1, 0]
        return mean + torch.randn_like(mean)


@pytest.mark.parametrize(
    "method", ["kernel_shap", "lime", "gradient_shap", "occlusion", "exact_shapley"]
)
def test_stochastic_model_refused_by_every_method(tiny_x, method) -> None:
    with pytest.raises(ExplainrError, match="different outputs for the same input"):
        explainr.attribute(_Sampling(), tiny_x, method, window=3, progress=False)


class _WindowScaled(nn.Module):
    """A per-window scaler in front of a linear head: x / (std(x) + 1e-7).

    Scale-invariant for x != 0 and 0 at x = 0: along the straight path from the zero
    baseline the output jumps at the start, which no quadrature can follow.
    """

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[0.7, -0.4]]).repeat(6, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = x / (x.std(dim=(1, 2), keepdim=True) + 1e-7)
        return (scaled * self.w).sum(dim=(1, 2))


def test_ig_warns_when_completeness_stays_off_and_a_real_window_fixes_it(tiny_x) -> None:
    model = _WindowScaled()
    x = tiny_x + 1.0
    with pytest.warns(ExplainrWarning, match=r"misses completeness by more than 1%.*baseline"):
        a = explainr.attribute(model, x, progress=False)
    assert a.completeness_error.max() > 0.01  # the warning is about a real miss
    real = tiny_x[0] + 0.5  # a real window as the baseline: the path stays away from 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplainrWarning)
        b = explainr.attribute(model, x, baselines=real, progress=False)
    assert b.completeness_error.max() < 0.01


def test_ig_does_not_warn_on_a_smooth_model(tiny, tiny_x) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplainrWarning)
        explainr.attribute(tiny, tiny_x, progress=False)


def test_typed_errors_are_explainr_errors() -> None:
    assert issubclass(ExplainrTypeError, ExplainrError) and issubclass(ExplainrTypeError, TypeError)
    assert issubclass(ExplainrValueError, ExplainrError)
    assert issubclass(ExplainrValueError, ValueError)
    assert issubclass(ExplainrWarning, UserWarning)


def test_nan_curve_for_a_finite_problem_is_an_error(tiny_x) -> None:
    x = tiny_x.abs() + 0.5
    a = explainr.attribute(_NanBetween(), x, "integrated_gradients", n_steps=4, progress=False)
    with pytest.raises(ExplainrValueError, match=r"the deletion curve: the model gives NaN/Inf"):
        metrics.deletion(_NanBetween(), x, a, steps=4)
