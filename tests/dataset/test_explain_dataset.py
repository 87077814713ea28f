"""explain_dataset against explainr.attribute, PyTorch's outputs, sliding_windows and a
step-by-step recomputation of the memory gates from the weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explainr
from explainr.report import global_report
from tests.dataset import models

METHODS = ("integrated_gradients", "kernel_shap")


def test_values_equal_attribute_on_each_chunk_and_each_window(tmp_path):
    model, x = models.model(), models.windows(6)
    run = explainr.explain_dataset(
        model, x, methods=METHODS, store=tmp_path / "r.zarr", chunk=4, group_by="feature"
    )
    assert run.complete and run.computed == [0, 1]
    ds = run.dataset
    for rows in (slice(0, 4), slice(4, 6)):
        for m in METHODS:
            a = explainr.attribute(model, x[rows], m, group_by="feature")
            assert np.array_equal(run.attributions[m].values[rows], a.values)
            assert run.attributions[m].dtype == np.float64
            assert np.array_equal(ds[f"completeness_{m}"].values[rows], a.completeness_error)
            assert np.array_equal(ds[f"baseline_prediction_{m}"].values[rows], a.base_values)
    with torch.no_grad():
        expected = model(x).double().numpy()
    np.testing.assert_allclose(ds["prediction"].values, expected, rtol=1e-6)
    np.testing.assert_array_equal(ds["x"].values, x.double().numpy())
    for i in (0, 5):  # one window at a time: the same up to float rounding
        for m in METHODS:
            a = explainr.attribute(model, x[i : i + 1], m, group_by="feature")
            np.testing.assert_allclose(
                run.attributions[m].values[i], a.values[0], rtol=1e-5, atol=1e-8
            )
    assert ds["lag"].values.tolist() == list(range(7, -1, -1))
    assert run.attributions["kernel_shap"].dims == ("window", "time", "feature")


def test_dataframe_is_cut_like_sliding_windows_with_labels_and_actual(tmp_path):
    df = models.frame(40)
    run = explainr.explain_dataset(
        models.model(),
        df,
        window=6,
        stride=3,
        methods=("occlusion",),
        chunk=5,
        store=tmp_path / "r.zarr",
        actual="c0",
    )
    cut = explainr.sliding_windows(df, 6, step=3)
    ds = run.dataset
    np.testing.assert_array_equal(ds["x"].values, cut.x.double().numpy())
    ends = [labels[-1] for labels in cut.time_labels]
    assert ds["window_end"].values.tolist() == ends
    after = df["c0"].shift(-1).to_numpy()[cut.starts + 5]
    np.testing.assert_array_equal(ds["actual"].values, after)
    assert ds["feature"].values.tolist() == ["c0", "c1", "c2"]
    # a time column instead of the index, and the sliding_windows object itself: same run
    by_column = explainr.explain_dataset(
        models.model(),
        df.reset_index(names="date"),
        window=6,
        stride=3,
        methods=("occlusion",),
        chunk=5,
        store=tmp_path / "c.zarr",
    )
    by_windows = explainr.explain_dataset(
        models.model(), cut, methods=("occlusion",), chunk=5, store=tmp_path / "w.zarr"
    )
    for other in (by_column, by_windows):
        assert other.dataset["window_end"].values.tolist() == ends
        np.testing.assert_array_equal(
            other.attributions["occlusion"].values, run.attributions["occlusion"].values
        )


class _Counted:
    """Windows whose .x remembers every slice asked of it (checks memory stays by chunk)."""

    def __init__(self, x: torch.Tensor) -> None:
        self.inner, self.asked = x, []
        self.x = self

    @property
    def shape(self):
        return self.inner.shape

    def __getitem__(self, rows):
        self.asked.append(len(range(*rows.indices(len(self.inner)))))
        return self.inner[rows]


def test_windows_are_taken_one_chunk_at_a_time(tmp_path):
    data = _Counted(models.windows(23))
    explainr.explain_dataset(
        models.model(),
        data,
        methods=("occlusion",),
        chunk=5,
        store=tmp_path / "r.zarr",
        gates=False,
    )
    assert max(data.asked) <= 5 and sum(data.asked) >= 23


def _memory_gate(model, x: torch.Tensor) -> np.ndarray:
    """(windows, steps, hidden) forget (LSTM) or update (GRU) gate, step by step from the weights."""
    rnn = model.rnn
    h_all, _ = rnn(x)
    hidden = rnn.hidden_size
    rows = slice(hidden, 2 * hidden)  # f in (i, f, g, o); z in (r, z, n)
    w_i, w_h = rnn.weight_ih_l0[rows], rnn.weight_hh_l0[rows]
    b = rnn.bias_ih_l0[rows] + rnn.bias_hh_l0[rows]
    previous = torch.cat([torch.zeros(len(x), 1, hidden), h_all[:, :-1]], dim=1)
    return torch.sigmoid(x @ w_i.T + previous @ w_h.T + b).double().detach().numpy()


@pytest.mark.parametrize(("cell", "gate"), [("lstm", "forget"), ("gru", "update")])
def test_gate_statistics_equal_a_recomputation_from_the_weights(tmp_path, cell, gate):
    model, x = models.model(cell), models.windows(9)
    run = explainr.explain_dataset(
        model, x, methods=("occlusion",), chunk=4, store=tmp_path / "r.zarr"
    )
    f = _memory_gate(model, x)
    ds = run.dataset
    mean = ds["gate_rnn_0_forget_mean"]
    assert mean.attrs["gate"] == gate and mean.attrs["kind"] == cell
    np.testing.assert_allclose(mean.values, f.mean(axis=(0, 1)), rtol=1e-5)
    saturated = ((f < 0.1) | (f > 0.9)).mean(axis=(0, 1))
    assert saturated.max() > 0  # the test model saturates some units
    np.testing.assert_allclose(ds["gate_rnn_0_forget_saturation"].values, saturated, atol=1e-12)
    np.testing.assert_allclose(
        ds["gate_rnn_0_forget_timescale"].values, -1 / np.log(f.mean(axis=(0, 1))), rtol=1e-4
    )


def test_summary_is_the_mean_over_windows_per_feature_and_lag(tmp_path):
    run = explainr.explain_dataset(
        models.model(),
        models.windows(7),
        methods=("integrated_gradients", "occlusion"),
        chunk=3,
        store=tmp_path / "r.zarr",
    )
    table = run.summary()
    for m in run.methods:
        values = run.attributions[m].values  # (window, time, feature)
        rows = table[table.method == m]
        for feature in (0, 2):
            name = f"f{feature}"
            got = rows[rows.feature == name].set_index("lag")
            for t in (0, 5, 7):
                lag = 7 - t
                cell = values[:, t, feature]
                assert got.loc[lag, "mean_abs"] == pytest.approx(np.abs(cell).mean())
                assert got.loc[lag, "mean"] == pytest.approx(cell.mean())
                share = np.abs(cell).mean() / np.abs(values).mean(axis=0).sum()
                assert got.loc[lag, "share"] == pytest.approx(share)
        assert rows["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 5}, "window=5"),
        ({"stride": 2}, "stride=2"),
        ({"methods": ("nope",)}, "unknown methods"),
        ({"methods": ()}, "methods is empty"),
        ({"chunk": 0}, "chunk"),
        ({"actual": [1.0, 2.0]}, "one observed target per window"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    options = {"methods": ("occlusion",), "store": tmp_path / "r.zarr", **kwargs}
    with pytest.raises(explainr.ExplainrError, match=message):
        explainr.explain_dataset(models.model(), models.windows(4), **options)
    assert not (tmp_path / "r.zarr").exists()


def test_a_dataframe_with_text_columns_is_refused(tmp_path):
    df = models.frame(20).assign(kind="a")
    with pytest.raises(explainr.ExplainrError, match="non-numeric columns"):
        explainr.explain_dataset(models.model(), df, window=5, store=tmp_path / "r.zarr")


def test_global_report_reads_the_engines_gate_statistics(tmp_path):
    """The stored run, as the engine writes it, drawn by the global report: the page's gate
    table holds the stored per-unit statistics and every window is counted."""
    model, x = models.model(layers=2), models.windows(9)
    run = explainr.explain_dataset(
        model, x, methods=("integrated_gradients", "occlusion"), store=tmp_path / "r.zarr", chunk=4
    )
    report = global_report(run.dataset)
    gates = report.contents.gates
    assert [(g.module, g.layer) for g in gates] == [("rnn", 0), ("rnn", 1)]
    for g in gates:
        base = f"gate_rnn_{g.layer}_forget"
        np.testing.assert_array_equal(g.mean, run.dataset[f"{base}_mean"].values)
        np.testing.assert_array_equal(g.saturation, run.dataset[f"{base}_saturation"].values)
        np.testing.assert_array_equal(g.timescale, run.dataset[f"{base}_timescale"].values)
    path = run.save_html(tmp_path / "global.html")
    assert path.stat().st_size > 0 and "rnn" in path.read_text()
