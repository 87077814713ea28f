"""The page's encoding: quantised arrays, pooled arrays and templates, safe script JSON."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from explainr.report._page import (
    QUANTISE_MIN,
    Packer,
    dequantise,
    quantise,
    script_json,
    table,
)


@pytest.mark.parametrize(
    ("shape", "low", "high"),
    [((64, 100), 0.0, 1.0), ((3, 2000), -1.0, 1.0), ((5000,), -300.0, 7.5), ((32, 32), 2.0, 2.0)],
)
def test_quantise_round_trip_is_within_half_a_step(shape, low, high):
    rng = np.random.default_rng(1)
    values = rng.uniform(low, high, size=shape).astype(np.float32)
    values.flat[::97] = np.nan
    packed = quantise(values)
    assert len(packed["explainr_u1"]) <= 4 * values.size / 3 + 4  # one byte per value
    back = dequantise(packed)
    assert back.shape == values.shape
    np.testing.assert_array_equal(np.isnan(back), np.isnan(values))
    finite = ~np.isnan(values)
    step = (high - low) / 254
    assert np.max(np.abs(back[finite] - values[finite])) <= step / 2 + 1e-5


def test_small_or_integer_arrays_are_left_alone():
    small = np.arange(QUANTISE_MIN - 1, dtype=np.float64)
    assert quantise(small) == small.tolist()
    ints = np.arange(5000)
    assert quantise(ints) == ints.tolist()


def test_script_json_cannot_close_its_script_element():
    obj = {"t": "</script><script>alert(1)</script>", "c": "<!-- x -->", "u": "a\u2028b&c"}
    text = script_json(obj)
    for bad in ("<", ">", "&", "\u2028"):
        assert bad not in text
    assert json.loads(text) == obj


def test_script_json_rejects_nan():
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})


def test_packer_pools_repeated_arrays_and_templates():
    labels = [f"2021-01-{d:02d}" for d in range(1, 32)] + ["2021-02-01"]
    packer = Packer()
    for k in range(3):
        fig = go.Figure(go.Scatter(x=labels, y=np.arange(32.0) * k))
        fig.update_layout(template="plotly_white")
        packer.add(f"fig-{k}", fig)
    packed = packer.packed()
    assert packed.arrays == [labels]
    assert len(packed.templates) == 1
    assert [f["data"][0]["x"] for f in packed.figures] == [{"explainr_ref": 0}] * 3
    assert all(f["template"] == 0 and "template" not in f["layout"] for f in packed.figures)
    json.dumps(packed.figures, allow_nan=False)  # plain JSON, no numpy left


def test_table_escapes_every_cell():
    html = table(["<h>"], [["<td>x</td>", 1]])
    assert "<td>x</td>" not in html and "&lt;td&gt;x&lt;/td&gt;" in html and "&lt;h&gt;" in html
