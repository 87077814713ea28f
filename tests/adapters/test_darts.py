"""The darts adapter on tiny RNNModel / BlockRNNModel fitted by darts on US macro data.

References: darts' own ``model.predict(n, series=...)`` (on the Scaler-transformed data,
inverse-transformed by the same Scaler) for each window; the recurrent module of darts'
fitted network (``model.model.rnn``) run by hand on the scaled window as darts documents its
inputs; completeness of integrated gradients and kernel SHAP.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from darts import TimeSeries  # installed by the dev extra: these tests run the real darts
from darts.dataprocessing.transformers import Scaler
from darts.models import BlockRNNModel, RNNModel

import explainr

ICL, N = 8, 3
TRAINER = {"enable_progress_bar": False, "logger": False, "accelerator": "cpu"}


def _macro() -> tuple[TimeSeries, TimeSeries]:
    import pandas as pd
    from statsmodels.datasets import macrodata

    df = macrodata.load_pandas().data
    index = pd.period_range("1959Q1", periods=len(df), freq="Q").to_timestamp()
    gdp = pd.DataFrame({"realgdp": df["realgdp"].to_numpy()}, index=index)
    cov = pd.DataFrame(
        {"infl": df["infl"].to_numpy(), "unemp": df["unemp"].to_numpy()}, index=index
    )
    return (
        TimeSeries.from_dataframe(gdp.astype("float32")),
        TimeSeries.from_dataframe(cov.astype("float32")),
    )


@pytest.fixture(scope="module")
def fitted() -> dict:
    """Four tiny models, each fitted once by darts on the scaled series (2 epochs)."""
    torch.set_num_threads(1)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    y, cov = _macro()
    ys, cs = Scaler().fit(y), Scaler().fit(cov)
    common = {"n_epochs": 2, "random_state": 0, "batch_size": 32, "pl_trainer_kwargs": TRAINER}
    models = {
        "rnn_lstm_future": RNNModel(ICL, "LSTM", hidden_dim=5, training_length=12, **common),
        "rnn_gru": RNNModel(ICL, "GRU", hidden_dim=5, training_length=12, **common),
        "block_lstm_past": BlockRNNModel(ICL, 2, model="LSTM", hidden_dim=5, **common),
        "block_gru": BlockRNNModel(ICL, 3, model="GRU", hidden_dim=5, **common),
    }
    covariates = {
        "rnn_lstm_future": {"future_covariates": cov},
        "block_lstm_past": {"past_covariates": cov},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model in models.items():
            scaled = {kind: cs.transform(ts) for kind, ts in covariates.get(name, {}).items()}
            model.fit(ys.transform(y), verbose=False, **scaled)
    return {"y": y, "cov": cov, "ys": ys, "cs": cs, "models": models, "covariates": covariates}


def _adapter(fitted: dict, name: str, n: int = N) -> explainr.adapters.Adapter:
    covs = fitted["covariates"].get(name, {})
    scaler = {"series": fitted["ys"], **{kind: fitted["cs"] for kind in covs}}
    return explainr.adapt(fitted["models"][name], fitted["y"], n=n, scaler=scaler, **covs)


def _darts_forecast(fitted: dict, name: str, end: int, n: int = N) -> np.ndarray:
    """darts' own predict from the series up to ``end``, back in original units."""
    ys, cs = fitted["ys"], fitted["cs"]
    covs = {kind: cs.transform(ts) for kind, ts in fitted["covariates"].get(name, {}).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fitted["models"][name].predict(
            n, series=ys.transform(fitted["y"][:end]), verbose=False, **covs
        )
    return ys.inverse_transform(pred).values(copy=True).ravel()


MODELS = ["rnn_lstm_future", "rnn_gru", "block_lstm_past", "block_gru"]


@pytest.mark.parametrize("name", MODELS)
def test_predict_equals_darts_predict(fitted, name) -> None:
    ad = _adapter(fitted, name)
    w = ad.windows(last=3, stride=5)
    ends = w.starts + ICL
    expected = np.stack([_darts_forecast(fitted, name, int(e)) for e in ends])
    got = ad.predict(w)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert ad.target_names == ["realgdp t+1", "realgdp t+2", "realgdp t+3"]
    assert w.x.shape[1:] == (ICL, len(ad.feature_names))
    # the windows hold the data in original units, labelled by the series' dates
    raw = fitted["y"].values(copy=True)[:, 0]
    np.testing.assert_allclose(w.x[-1, :, 0].numpy(), raw[ends[-1] - ICL : ends[-1]])
    assert w.time_labels[-1][-1] == str(fitted["y"].time_index[ends[-1] - 1].date())


def test_last_window_ends_at_the_series_end(fitted) -> None:
    ad = _adapter(fitted, "rnn_gru")
    w = ad.windows(last=1)
    np.testing.assert_allclose(
        ad.predict(w)[0], _darts_forecast(fitted, "rnn_gru", len(fitted["y"])), rtol=1e-4
    )
    # future covariates must reach n steps past a window: the last windows have none
    future = _adapter(fitted, "rnn_lstm_future")
    assert future.windows(last=1).starts[0] + ICL == len(fitted["y"]) - N


def _scaled_window(fitted: dict, end: int, shift_covariates: bool) -> torch.Tensor:
    """The scaled window darts' rnn reads, built from darts' documented input layout."""
    y = fitted["ys"].transform(fitted["y"]).values(copy=True)
    cov = fitted["cs"].transform(fitted["cov"]).values(copy=True)
    lo = end - ICL + (1 if shift_covariates else 0)  # RNNModel: target[t] with cov[t + 1]
    return torch.tensor(np.concatenate([y[end - ICL : end], cov[lo : lo + ICL]], axis=1))[None]


@pytest.mark.parametrize(
    ("name", "calls", "shift"),
    [("rnn_lstm_future", N, True), ("block_lstm_past", 2, False)],
)
def test_record_marks_the_call_over_the_window(fitted, name, calls, shift) -> None:
    ad = _adapter(fitted, name)
    w = ad.windows(last=2)
    with explainr.record(ad) as rec:
        ad.predict(w[-1])
    assert rec.trace.marked == {"net.rnn": 0}
    assert len(rec.trace.calls("net.rnn")) == calls  # autoregressive steps after call 0
    end = int(w.starts[-1]) + ICL
    rnn = fitted["models"][name].model.rnn
    with torch.no_grad():
        expected, _ = rnn(_scaled_window(fitted, end, shift).to(rnn.weight_ih_l0.dtype))
    torch.testing.assert_close(rec.trace["net.rnn"].hidden(), expected, rtol=1e-5, atol=1e-6)
    assert rec.trace["net.rnn"].hidden().shape == (1, ICL, 5)


@pytest.mark.parametrize("name", ["rnn_lstm_future", "block_gru"])
def test_explain_is_complete_in_original_units(fitted, name, tmp_path) -> None:
    ad = _adapter(fitted, name)
    w = ad.windows(last=2)
    ex = explainr.explain(
        ad, w, methods=("integrated_gradients", "kernel_shap"), target="realgdp t+3", n_samples=300
    )
    for method in ("integrated_gradients", "kernel_shap"):
        a = ex.attributions[method]
        assert a.values.shape == (2, ICL, len(ad.feature_names))
        assert a.completeness_error.max() < 0.01, (method, a.completeness_error)
        np.testing.assert_allclose(a.prediction, ad.predict(w)[:, 2], rtol=1e-5)
    assert ex.settings["baselines"].startswith("the training mean")
    assert ex.settings["library"] == "darts" and ex.settings["point forecast"] == "point"
    assert ex.trace.marked == {"net.rnn": 0}
    assert ("time axis" in ex.settings) == (name == "rnn_lstm_future")  # covariates at t+1


def test_model_is_left_as_found(fitted) -> None:
    net = fitted["models"]["rnn_gru"].model
    net.train()
    ad = _adapter(fitted, "rnn_gru")
    ad.predict(ad.windows(last=1))
    assert net.training and net.rnn.training


def test_bad_input_is_refused(fitted) -> None:
    from sklearn.preprocessing import PowerTransformer

    y, cov = fitted["y"], fitted["cov"]
    with pytest.raises(explainr.ExplainrError, match="fitted with future_covariates"):
        explainr.adapt(fitted["models"]["rnn_lstm_future"], y)
    with pytest.raises(explainr.ExplainrError, match="fitted without past_covariates"):
        explainr.adapt(fitted["models"]["rnn_gru"], y, past_covariates=cov)
    with pytest.raises(explainr.ExplainrError, match="not fitted"):
        explainr.adapt(RNNModel(ICL, "GRU", training_length=12), y)
    with pytest.raises(explainr.ExplainrError, match="unknown options"):
        explainr.adapt(fitted["models"]["rnn_gru"], y, horizon=3)
    with pytest.raises(explainr.ExplainrError, match="TimeSeries the model"):
        explainr.adapt(fitted["models"]["rnn_gru"])
    power = Scaler(PowerTransformer()).fit(y)
    with pytest.raises(explainr.ExplainrError, match="not affine"):
        explainr.adapt(fitted["models"]["rnn_gru"], y, scaler=power)
    ad = _adapter(fitted, "rnn_gru")
    with pytest.raises(explainr.ExplainrError, match="last=999"):
        ad.windows(last=999)
