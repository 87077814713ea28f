"""Property-based: any arguments to the public functions give a result or an `ExplainrError`.

hypothesis generates shapes, dtypes, NaN/Inf, wrong types and sizes for the arguments of
`attribute`, `explain`, `attribute_units`, `memory`, `contextual_decomposition`, the
metrics, `Report.add_*`, `sliding_windows`, `load` and result indexing. Every call must
return (with finite values) or raise an `ExplainrError`; either way the model's weights,
buffers, training flags, ``requires_grad``, grads and hooks and torch's global state (grad
mode, default dtype, threads, the global torch / numpy / Python random states) are as
before. Deterministic (``derandomize=True``): the same cases run every time.
"""

from __future__ import annotations

import math
import random
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import explainr
from explainr import ExplainrError, metrics

from .conftest import Tiny

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OUTCOMES: Counter[str] = Counter()  # (function, result | error type): counted for the report
METHODS = sorted(explainr.attribution.METHODS)


def _model() -> nn.Module:
    torch.manual_seed(1)
    return Tiny().eval()


def _snapshot(model: nn.Module) -> dict[str, Any]:
    return {
        "params": [
            (n, p.detach().clone(), p.requires_grad, p.grad) for n, p in model.named_parameters()
        ],
        "buffers": [(n, b.clone()) for n, b in model.named_buffers()],
        "training": [m.training for m in model.modules()],
        "hooks": [
            len(getattr(m, h, {}))
            for m in model.modules()
            for h in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
        ],
        "grad_mode": torch.is_grad_enabled(),
        "inference": torch.is_inference_mode_enabled(),
        "dtype": torch.get_default_dtype(),
        "threads": torch.get_num_threads(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "random": random.getstate(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def _assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for (name, p0, rg0, g0), (_, p1, rg1, g1) in zip(
        before["params"], after["params"], strict=True
    ):
        assert torch.equal(p0, p1), f"parameter {name} changed"
        assert rg0 == rg1, f"requires_grad of {name} changed"
        assert (g0 is None) == (g1 is None), f"grad of {name} changed"
    for (name, b0), (_, b1) in zip(before["buffers"], after["buffers"], strict=True):
        assert torch.equal(b0, b1), f"buffer {name} changed"
    for key in ("training", "hooks", "grad_mode", "inference", "dtype", "threads", "random"):
        assert before[key] == after[key], f"{key} changed"
    assert torch.equal(before["torch_rng"], after["torch_rng"]), "torch's global RNG moved"
    assert np.array_equal(before["numpy_rng"], after["numpy_rng"]), "numpy's global RNG moved"
    assert before["deterministic"] == after["deterministic"]


def _check(name: str, model: nn.Module, call) -> Any:
    """Run ``call()``: a result with finite values or an ExplainrError; state unchanged."""
    before = _snapshot(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", explainr.ExplainrWarning)
            result = call()
    except ExplainrError as error:
        OUTCOMES[f"{name}: {type(error).__name__}"] += 1
        assert str(error), "an ExplainrError without a message"
        result = None
    else:
        OUTCOMES[f"{name}: result"] += 1
        for field in ("values", "group_values", "outputs"):
            found = getattr(result, field, None)
            if isinstance(found, np.ndarray) and found.dtype.kind == "f":
                assert np.isfinite(found).all(), f"{name} returned non-finite {field}"
    _assert_unchanged(before, _snapshot(model))
    return result


@pytest.fixture(scope="module", autouse=True)
def _report_outcomes():
    yield
    lines = [f"  {k}: {v}" for k, v in sorted(OUTCOMES.items())]
    print(f"\n{sum(OUTCOMES.values())} generated cases:\n" + "\n".join(lines))


# ---- strategies --------------------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(0, 2), max_size=3),
    st.just({"a": 1}),
)


def windows(max_batch: int = 3, max_time: int = 6) -> st.SearchStrategy[Any]:
    """Arrays near the model's (batch, time, 2), with odd shapes, dtypes and NaN/Inf."""
    shapes = st.one_of(
        st.tuples(st.integers(1, max_batch), st.integers(1, max_time), st.just(2)),
        st.tuples(st.integers(1, max_time), st.just(2)),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
    )
    dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.bool_, np.complex64])

    def build(shape: tuple[int, ...], dtype: Any, bad: bool) -> st.SearchStrategy[np.ndarray]:
        if np.dtype(dtype).kind == "f" and bad:
            elements: Any = FLOATS
        elif np.dtype(dtype).kind == "f":
            elements = st.floats(-3, 3, width=16)
        else:
            elements = None
        return hnp.arrays(dtype, shape, elements=elements)

    arrays = st.builds(lambda *a: a, shapes, dtypes, st.booleans()).flatmap(lambda a: build(*a))
    return st.one_of(arrays, arrays.map(torch.from_numpy), JUNK)


def baselines() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**70), 2**70),
        windows(max_batch=2),
    )


COUNTS = st.one_of(st.none(), st.integers(-1, 12), st.just(10**12), JUNK)


# ---- attribute ---------------------------------------------------------------------------


def good_windows(draw, steps: int) -> Any:
    """A valid input of ``steps`` time steps: tensor, array or DataFrame; float/int/bool."""
    batch = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.bool_]))
    elements = st.floats(-3, 3, width=16) if np.dtype(dtype).kind == "f" else None
    array = draw(hnp.arrays(dtype, (batch, steps, 2), elements=elements))
    kind = draw(st.sampled_from(["tensor", "array", "frame"]))
    if kind == "frame":
        return pd.DataFrame(array[0].astype(np.float64), columns=["a", "b"])
    return torch.from_numpy(array) if kind == "tensor" else array


BAD_ATTRIBUTE = {
    "x": windows(),
    "method": st.one_of(JUNK, st.just(["lime"]), st.just("LIME")),
    "target": st.one_of(st.integers(-2, 3), JUNK),
    "baselines": baselines(),
    "window": st.one_of(st.integers(-1, 9), JUNK),
    "group_by": JUNK,
    "n_steps": COUNTS,
    "n_samples": COUNTS,
    "seed": st.one_of(st.integers(-(2**40), 2**40), JUNK),
    "feature_names": st.one_of(st.lists(st.text(max_size=2), max_size=3), JUNK),
    "time_labels": st.one_of(st.lists(st.integers(), max_size=7), JUNK),
    "progress": JUNK,
}


@st.composite
def attribute_arguments(draw) -> dict[str, Any]:
    """Valid arguments of `attribute`, with (mostly) one of them replaced by a bad value."""
    steps = draw(st.integers(1, 6))
    method = draw(st.sampled_from(METHODS))
    kw: dict[str, Any] = {
        "x": good_windows(draw, steps),
        "method": method,
        "target": draw(st.sampled_from([None, 0])),
        "baselines": draw(
            st.one_of(
                st.none(),
                st.floats(-2, 2),
                hnp.arrays(
                    np.float32,
                    st.sampled_from([(steps, 2), (2, steps, 2)]),
                    elements=st.floats(-2, 2, width=32),
                ),
            )
        ),
        "window": draw(st.one_of(st.none(), st.integers(1, steps))),
        "group_by": draw(st.sampled_from(["time", "feature", "time_feature"])),
        "n_steps": draw(st.integers(1, 12)),
        "n_samples": draw(st.integers(1, 40)),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "feature_names": draw(st.one_of(st.none(), st.just(["u", "v"]))),
        "progress": False,
    }
    bad = _one_bad(draw, kw, BAD_ATTRIBUTE)
    if bad == "window" and kw["method"] == "exact_shapley":
        kw["method"] = "kernel_shap"  # keep 2**G small: a property test, not a benchmark
    return kw


def _one_bad(draw, kw: dict[str, Any], bad: dict[str, st.SearchStrategy[Any]]) -> str | None:
    """Replace one of ``kw`` (or none) by a value drawn from its bad strategy; its name."""
    name = draw(st.one_of(st.none(), st.sampled_from(sorted(bad))))
    if name is not None:
        kw[name] = draw(bad[name])
    return name


@settings(SETTINGS, max_examples=120)
@given(kw=attribute_arguments())
def test_attribute(kw):
    model = _model()
    _check("attribute", model, lambda: explainr.attribute(model, **kw))


@st.composite
def explain_arguments(draw) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "x": torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0)),
        "methods": draw(
            st.lists(
                st.sampled_from(["integrated_gradients", "occlusion", "lime"]),
                min_size=1,
                max_size=2,
                unique=True,
            )
        ),
        "sample": draw(st.integers(0, 1)),
        "feature_names": draw(st.one_of(st.none(), st.just(["u", "v"]))),
        "time_labels": draw(st.one_of(st.none(), st.just(list(range(5))))),
        "input_units": draw(st.one_of(st.none(), st.just("kW"))),
        "metrics": draw(st.booleans()),
    }
    _one_bad(
        draw,
        kw,
        {
            "x": windows(max_batch=2, max_time=5),
            "methods": st.one_of(st.lists(JUNK, min_size=1, max_size=2), JUNK),
            "sample": st.one_of(st.integers(-1, 3), JUNK),
            "feature_names": st.one_of(st.lists(st.text(max_size=2), max_size=3), JUNK),
            "time_labels": st.one_of(st.lists(st.integers(), max_size=7), JUNK),
            "input_units": JUNK,
            "metrics": JUNK,
        },
    )
    return kw


@settings(SETTINGS, max_examples=10)
@given(kw=explain_arguments())
def test_explain(kw):
    model = _model()
    _check(
        "explain",
        model,
        lambda: explainr.explain(model, n_steps=8, n_samples=32, memory=False, **kw),
    )


# ---- units, memory, contextual decomposition --------------------------------------------


@st.composite
def units_arguments(draw) -> dict[str, Any]:
    steps = draw(st.integers(1, 5))
    kw: dict[str, Any] = {
        "x": good_windows(draw, steps),
        "module": "rnn",
        "layer": draw(st.sampled_from([None, 0])),
        "n_steps": draw(st.integers(1, 8)),
        "baselines": draw(st.one_of(st.none(), st.floats(-2, 2))),
        "target": draw(st.sampled_from([None, 0])),
        "progress": False,
    }
    _one_bad(
        draw,
        kw,
        {
            "x": windows(max_batch=2, max_time=5),
            "module": st.one_of(st.sampled_from(["head", ""]), JUNK),
            "layer": st.one_of(st.integers(-1, 2), JUNK),
            "n_steps": COUNTS,
            "baselines": baselines(),
            "target": st.one_of(st.integers(-1, 2), JUNK),
            "progress": JUNK,
        },
    )
    return kw


@settings(SETTINGS, max_examples=30)
@given(kw=units_arguments())
def test_attribute_units(kw):
    model = _model()
    _check("attribute_units", model, lambda: explainr.attribute_units(model, **kw))


@settings(SETTINGS, max_examples=30)
@given(
    x=st.one_of(
        st.integers(1, 5).flatmap(lambda t: st.composite(lambda d: good_windows(d, t))()),
        windows(max_batch=2, max_time=5),
    ),
    cells=st.one_of(hnp.arrays(np.bool_, st.sampled_from([(5, 2), (2, 5, 2), (3,)])), JUNK),
    target=st.one_of(st.sampled_from([None, 0]), st.integers(-1, 2), JUNK),
    bias=st.one_of(st.sampled_from(["share", "irrelevant"]), JUNK),
)
def test_memory_and_decomposition(x, cells, target, bias):
    model = _model()
    _check("memory", model, lambda: explainr.memory(model, x, target=target))
    _check(
        "contextual_decomposition",
        model,
        lambda: explainr.contextual_decomposition(
            model, x, cells, target=target, bias_products=bias
        ),
    )


# ---- metrics -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explained() -> tuple[nn.Module, torch.Tensor, explainr.Attribution]:
    model = _model()
    x = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0))
    return model, x, explainr.attribute(model, x, "occlusion", window=2, progress=False)


@st.composite
def metrics_arguments(draw) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "x": None,  # the explained windows
        "attribution": None,  # the explained attribution
        "steps": draw(st.integers(1, 6)),
        "by": draw(st.sampled_from(["value", "abs"])),
        "baselines": draw(st.one_of(st.none(), st.floats(-2, 2))),
        "k": draw(st.integers(1, 12)),
        "level": draw(st.sampled_from(["auto", "group", "cell"])),
        "sample": draw(st.integers(0, 1)),
    }
    _one_bad(
        draw,
        kw,
        {
            "x": windows(max_batch=2, max_time=5),
            "attribution": JUNK,
            "steps": COUNTS,
            "by": JUNK,
            "baselines": baselines(),
            "k": st.one_of(st.integers(-1, 0), JUNK),
            "level": JUNK,
            "sample": st.one_of(st.integers(-1, 3), JUNK),
        },
    )
    return kw


@settings(SETTINGS, max_examples=40)
@given(kw=metrics_arguments())
def test_metrics(explained, kw):
    model, x, a = explained
    xs = x if kw["x"] is None else kw["x"]
    attribution = a if kw["attribution"] is None else kw["attribution"]
    steps, by, base = kw["steps"], kw["by"], kw["baselines"]
    for kind in (metrics.deletion, metrics.insertion):
        _check(
            kind.__name__,
            model,
            lambda kind=kind: kind(model, xs, attribution, steps=steps, by=by, baselines=base),
        )
    _check("completeness", model, lambda: metrics.completeness(attribution))
    _check(
        "rank_agreement",
        model,
        lambda: metrics.rank_agreement(a, attribution, k=kw["k"], level=kw["level"]),
    )
    _check(
        "agreement_matrix", model, lambda: metrics.agreement_matrix([a, attribution], kw["sample"])
    )


# ---- Report.add_* ------------------------------------------------------------------------


@settings(SETTINGS, max_examples=40)
@given(
    what=st.sampled_from(["trace", "attribution", "input", "metrics", "memory"]),
    good=st.booleans(),
    junk=st.one_of(JUNK, windows()),
    sample=st.one_of(st.integers(-1, 3), JUNK),
    names=st.one_of(st.none(), st.lists(st.text(max_size=2), max_size=3), JUNK),
    number=st.one_of(st.floats(allow_nan=True), JUNK),
)
def test_report_add(explained, what, good, junk, sample, names, number):
    model, x, a = explained
    report = explainr.Report()
    if what == "trace":
        with explainr.record(model) as rec:
            model(x)
        arg = rec.trace if good else junk
        call = lambda: report.add_trace(arg, sample, modules=names)  # noqa: E731
    elif what == "attribution":
        call = lambda: report.add_attribution(a if good else junk, sample, names)  # noqa: E731
    elif what == "input":
        call = lambda: report.add_input(x[0] if good else junk, feature_names=names)  # noqa: E731
    elif what == "metrics":
        table = {"lime": {"deletion_auc": number}} if good else junk
        call = lambda: report.add_metrics(table, sample=sample)  # noqa: E731
    else:
        call = lambda: report.add_memory(junk)  # noqa: E731
    _check(f"Report.add_{what}", model, call)


# ---- sliding_windows, load, indexing -----------------------------------------------------


@settings(SETTINGS, max_examples=40)
@given(
    frame=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=6),
        elements=FLOATS,
    ),
    window=st.one_of(st.integers(-1, 8), JUNK),
    step=st.one_of(st.integers(-1, 4), JUNK),
    last=st.one_of(st.none(), st.integers(-1, 5), JUNK),
    as_frame=st.booleans(),
)
def test_sliding_windows(frame, window, step, last, as_frame):
    model = _model()
    df = pd.DataFrame(frame) if as_frame else frame
    result = _check(
        "sliding_windows", model, lambda: explainr.sliding_windows(df, window, step, last)
    )
    if result is not None:
        assert torch.isfinite(result.x).all()
        assert result.x.shape[1:] == (window, frame.shape[1])


@settings(SETTINGS, max_examples=15)
@given(path=st.one_of(JUNK, st.sampled_from(["/nonexistent.nc", "/", __file__])))
def test_load(path):
    _check("load", _model(), lambda: explainr.load(path))


INDEX = st.one_of(
    st.integers(-4, 4),
    st.slices(4),
    st.sampled_from(["f0", "f1", "0", "zz"]),
    st.lists(st.integers(-3, 3), max_size=3),
    hnp.arrays(np.bool_, st.sampled_from([(2,), (5,), (3,)])),
    st.just(Ellipsis),
    st.builds(slice, JUNK, JUNK, JUNK),
    JUNK,
)


@settings(SETTINGS, max_examples=60)
@given(key=st.one_of(INDEX, st.lists(INDEX, max_size=4).map(tuple)))
def test_attribution_indexing(explained, key):
    model, _, a = explained
    result = _check("Attribution[...]", model, lambda: a[key])
    if result is not None:
        assert result.values.ndim == 3
        assert math.isfinite(float(np.abs(result.values).sum()))
