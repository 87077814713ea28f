"""Results like shap's: indexing, tables, xarray, shap plots, files, display, shared defaults.

References: the result's own arrays (slices compared with numpy slicing of ``.values``),
the model's own outputs (``base_values`` = f(baseline), ``prediction`` = f(x)), shap's own
plotting functions, and bit patterns of the values after a file round trip.
"""

from __future__ import annotations

import inspect

import matplotlib
import numpy as np
import pytest
import torch

import explainr
from explainr import ExplainrError
from explainr._core.defaults import DEFAULTS

matplotlib.use("Agg")

FEATURES = ["gdp", "infl", "<rate>"]
LABELS = [f"2020-{m:02d}" for m in range(1, 13)]


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = torch.nn.LSTM(3, 6, batch_first=True)
        self.head = torch.nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


@pytest.fixture(scope="module")
def model() -> Net:
    return Net().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 12, 3, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def shap_result(model, x) -> explainr.Attribution:
    return explainr.attribute(
        model,
        x,
        "kernel_shap",
        window=3,
        feature_names=FEATURES,
        time_labels=LABELS,
        raw=x.numpy() * 2 + 5,
    )


@pytest.fixture(scope="module")
def ig(model, x) -> explainr.Attribution:
    return explainr.attribute(model, x, feature_names=FEATURES, time_labels=LABELS)


def test_shap_like_fields(model, x, shap_result, ig):
    with torch.no_grad():
        f_x = model(x).double().numpy()
        f_0 = model(torch.zeros(1, 12, 3)).double().item()
    for a in (shap_result, ig):
        np.testing.assert_allclose(a.prediction, f_x, rtol=1e-6)
        np.testing.assert_allclose(a.base_values, f_0, rtol=1e-6)
        assert a.feature_names == FEATURES and a.time_labels == LABELS
    np.testing.assert_array_equal(shap_result.data, x.numpy() * 2 + 5)  # raw= kept
    np.testing.assert_array_equal(ig.data, x.numpy())  # default: x as given
    assert shap_result.grouped and not ig.grouped
    np.testing.assert_allclose(
        shap_result.values.sum((1, 2)) + shap_result.base_values, shap_result.prediction
    )


def test_time_labels_and_raw_are_checked(model, x):
    with pytest.raises(ExplainrError, match="time_labels has 2 labels"):
        explainr.attribute(model, x, time_labels=["a", "b"])
    with pytest.raises(ExplainrError, match="raw has shape"):
        explainr.attribute(model, x, raw=np.zeros((3, 12, 2)))


def test_index_by_window(shap_result):
    a = shap_result
    for key, rows in [(0, [0]), (-1, [2]), (slice(1, None), [1, 2]), ([2, 0], [2, 0])]:
        b = a[key]
        assert type(b) is type(a) and not b.partial
        np.testing.assert_array_equal(b.values, a.values[rows])
        np.testing.assert_array_equal(b.data, a.data[rows])
        np.testing.assert_array_equal(b.prediction, a.prediction[rows])
        np.testing.assert_array_equal(b.base_values, a.base_values[rows])
        np.testing.assert_array_equal(b.group_values, a.group_values[rows])
        assert b.groups == a.groups
        np.testing.assert_allclose(b.completeness_error, a.completeness_error[rows], atol=1e-12)
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(a[mask].values, a.values[mask])


def test_index_by_time_and_feature(shap_result):
    a = shap_result
    b = a[:, -4:]
    np.testing.assert_array_equal(b.values, a.values[:, -4:])
    np.testing.assert_array_equal(b.data, a.data[:, -4:])
    assert b.time_labels == LABELS[-4:] and b.feature_names == FEATURES
    assert b.partial and b.groups is None and b.group_values is None and b.grouped
    with pytest.raises(ExplainrError, match="completeness"):
        _ = b.completeness_error
    c = a[..., "infl"]
    np.testing.assert_array_equal(c.values, a.values[..., [1]])
    assert c.feature_names == ["infl"] and c.shape == (3, 12, 1)
    d = a[1, "2020-03", ["<rate>", "gdp"]]
    np.testing.assert_array_equal(d.values, a.values[1, 2][[2, 0]][None, None])
    assert d.time_labels == ["2020-03"] and d.feature_names == ["<rate>", "gdp"]
    e = a[:, ::-1, [2, 0, 1]]  # every cell, reordered: still whole
    assert not e.partial and e.groups is None
    np.testing.assert_allclose(e.completeness_error, a.completeness_error, atol=1e-12)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ((0, 0, 0, 0), "too many indices"),
        ((..., 0, ...), "one ..."),
        ((slice(None), "2031-01"), "not on the time axis"),
        ("gdp", "windows are numbered"),
        (5, "out of range"),
        ((slice(None), 1.5), "cannot index"),
    ],
)
def test_bad_index(shap_result, key, match):
    with pytest.raises(ExplainrError, match=match):
        shap_result[key]


def test_to_dataframe(shap_result):
    a = shap_result
    df = a.to_dataframe()
    assert df.columns.tolist() == ["window", "time", "feature", "value", "input"]
    assert len(df) == a.values.size
    cube = df.pivot_table(index=["window", "time"], columns="feature", values="value")
    np.testing.assert_array_equal(cube[FEATURES].to_numpy().reshape(a.shape), a.values)
    row = df[(df.window == 2) & (df.time == "2020-05") & (df.feature == "infl")].iloc[0]
    assert row.value == a.values[2, 4, 1] and row.input == a.data[2, 4, 1]


def test_to_xarray(shap_result):
    a = shap_result
    ds = a.to_xarray()
    assert ds["values"].dims == ("window", "time", "feature")
    assert ds["time"].values.tolist() == LABELS and ds["feature"].values.tolist() == FEATURES
    cell = ds["values"].sel(window=1, time="2020-07", feature="<rate>")
    assert float(cell) == a.values[1, 6, 2]
    np.testing.assert_array_equal(ds["data"].values, a.data)
    np.testing.assert_array_equal(ds["baseline_prediction"].values, a.base_values)


def test_to_shap_is_a_real_explanation(shap_result, tmp_path):
    import matplotlib.pyplot as plt
    import shap

    a = shap_result
    e = a.to_shap()
    assert isinstance(e, shap.Explanation)
    assert e.values.shape == (3, 36) and e.feature_names[4] == "infl @ 2020-02"
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, a.prediction)  # additive
    for name, draw in [
        ("beeswarm", lambda: shap.plots.beeswarm(e, show=False)),
        ("bar", lambda: shap.plots.bar(e, show=False)),
        ("bar_feature", lambda: shap.plots.bar(a.to_shap(by="feature"), show=False)),
        ("waterfall", lambda: shap.plots.waterfall(a.to_shap(by="feature")[0], show=False)),
        ("heatmap", lambda: shap.plots.heatmap(e, show=False)),
    ]:
        plt.figure()
        draw()
        out = tmp_path / f"{name}.png"
        plt.savefig(out)
        plt.close("all")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000
    by_feature = a.to_shap(by="feature")
    np.testing.assert_allclose(by_feature.values, a.by_feature())
    np.testing.assert_allclose(by_feature.data, a.data.mean(axis=1))
    np.testing.assert_allclose(a.to_shap(by="time").values, a.by_time())
    with pytest.raises(ExplainrError, match="by="):
        a.to_shap(by="unit")


def _bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).view(np.uint8)


@pytest.mark.parametrize("method", ["kernel_shap", "lime", "integrated_gradients"])
def test_save_load_round_trip_exact(model, x, method, tmp_path):
    a = explainr.attribute(
        model, x, method, n_samples=64, feature_names=FEATURES, time_labels=LABELS
    )
    path = a.save(tmp_path / "sub" / "a.nc")
    b = explainr.load(path)
    assert b == a and type(b) is type(a)
    for name in ("values", "prediction", "baseline_prediction", "data"):
        np.testing.assert_array_equal(_bits(getattr(b, name)), _bits(getattr(a, name)))
        assert getattr(b, name).dtype == getattr(a, name).dtype
    assert b.settings == a.settings and b.groups == a.groups and b.seconds == a.seconds
    changed = b.values.copy()
    changed.flat[7] = np.nextafter(changed.flat[7], np.inf)  # one ulp off: no longer equal
    b.values = changed
    assert b != a
    partial = a[1:, 2:5, ["infl"]]
    assert explainr.load(partial.save(tmp_path / "p.nc")) == partial


def test_unit_attribution_like_shap(model, x, tmp_path):
    u = explainr.attribute_units(model, x, time_labels=LABELS)
    assert u.shape == (3, 12, 6) and u.time_labels == LABELS
    first = u[0, :, "h2"]
    np.testing.assert_array_equal(first.values, u.values[:1, :, [2]])
    np.testing.assert_array_equal(first.uncovered, u.uncovered[:1])
    assert first.partial and u[-1:].completeness_error == pytest.approx(u.completeness_error[-1:])
    assert u.to_dataframe().columns.tolist() == ["window", "time", "unit", "value"]
    assert u.to_xarray()["values"].dims == ("window", "time", "unit")
    assert explainr.load(u.save(tmp_path / "u.nc")) == u
    assert "<svg" in u._repr_html_()


def test_load_rejects_other_files(tmp_path):
    import xarray as xr

    with pytest.raises(ExplainrError, match="no such file"):
        explainr.load(tmp_path / "missing.nc")
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(ExplainrError, match="cannot read"):
        explainr.load(tmp_path / "text.nc")
    xr.Dataset({"v": ("x", np.arange(3.0))}).to_netcdf(tmp_path / "other.nc", engine="scipy")
    with pytest.raises(ExplainrError, match="not an explainr result"):
        explainr.load(tmp_path / "other.nc")


def test_repr_html_is_small_and_escaped(shap_result):
    html = shap_result._repr_html_()
    assert len(html) < 12_000 and "<svg" in html and "plotly" not in html
    assert "&lt;rate&gt;" in html and "<rate>" not in html
    assert "completeness error" in html
    assert "partial" in shap_result[:, :3]._repr_html_()
    assert len(repr(shap_result)) < 200


def test_one_set_of_defaults():
    from explainr.cli import build_parser

    attribute = inspect.signature(explainr.attribute).parameters
    explain = inspect.signature(explainr.explain).parameters
    for name in ("group_by", "n_steps", "seed", "progress"):
        assert attribute[name].default == explain[name].default == getattr(DEFAULTS, name)
    assert explain["methods"].default == DEFAULTS.methods
    assert attribute["method"].default == DEFAULTS.method
    args = build_parser().parse_args(
        ["explain", "--model", "m", "--data", "d.csv", "--window", "3", "--out", "r.html"]
    )
    assert args.group_by == DEFAULTS.group_by and args.n_steps == DEFAULTS.n_steps
    assert tuple(args.methods.split(",")) == DEFAULTS.methods and args.seed == DEFAULTS.seed


def test_repr_html_of_lime_states_its_fit_not_completeness(model, x):
    a = explainr.attribute(model, x, "lime", n_samples=64)
    html = a._repr_html_()
    assert f"R² {min(a.settings['r2']):.2f}" in html and "completeness" not in html
