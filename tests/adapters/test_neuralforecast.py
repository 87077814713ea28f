"""The neuralforecast adapter on tiny LSTM / GRU / DeepAR fitted by neuralforecast on US macro
data (real GDP, with unemployment as a historic and inflation as a future exogenous column).

References:
- neuralforecast's own ``nf.predict(df=<data up to the window's end>, futr_df=...)``, the
  model's column. For DeepAR that column (``"DeepAR"``, the first of its outputs) is the
  mean: neuralforecast computes it deterministically, at each step the analytic mean of the
  loss's distribution (``DistributionLoss.get_distribution(...).mean``), fed back as the
  next input; its quantile columns come from sampled draws and are not compared.
- the model's recurrent module (``hist_encoder``) run by hand on the window standardised as
  neuralforecast's ``scaler_type="standard"`` documents it (mean and population std of the
  window's input part, plus 1e-6), with the recurrent models' one-step shift.
- completeness of integrated gradients and kernel SHAP.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from neuralforecast import NeuralForecast  # installed by the dev extra: the real library
from neuralforecast.losses.pytorch import MQLoss
from neuralforecast.models import GRU, LSTM, DeepAR

import explainr

H, STEPS = 3, 8


def _macro() -> pd.DataFrame:
    from statsmodels.datasets import macrodata

    d = macrodata.load_pandas().data
    ds = pd.period_range("1959Q1", periods=len(d), freq="Q").to_timestamp()
    return pd.DataFrame(
        {
            "unique_id": "us",
            "ds": ds,
            "y": d["realgdp"].to_numpy(),
            "unemp": d["unemp"].to_numpy(),
            "infl": d["infl"].to_numpy(),
        }
    )


@pytest.fixture(scope="module")
def nf() -> dict:
    """One NeuralForecast with three tiny models, fitted once (10 steps)."""
    torch.set_num_threads(1)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    common = {
        "h": H,
        "input_size": STEPS,
        "max_steps": 10,
        "random_seed": 0,
        "batch_size": 8,
        "enable_progress_bar": False,
        "logger": False,
        "accelerator": "cpu",
        "enable_model_summary": False,
    }
    models = [
        LSTM(
            encoder_hidden_size=5,
            decoder_hidden_size=5,
            hist_exog_list=["unemp"],
            futr_exog_list=["infl"],
            scaler_type="robust",
            **common,
        ),
        GRU(encoder_hidden_size=5, decoder_hidden_size=5, scaler_type="standard", **common),
        DeepAR(
            lstm_hidden_size=5,
            decoder_hidden_size=5,
            futr_exog_list=["infl"],
            scaler_type="standard",
            trajectory_samples=20,
            **common,
        ),
    ]
    df = _macro()
    fc = NeuralForecast(models=models, freq="QS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc.fit(df)
    return {"nf": fc, "df": df}


def _library_forecast(nf: dict, name: str, end: int) -> np.ndarray:
    """neuralforecast's own forecast from the rows before ``end`` (its model's column)."""
    df = nf["df"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = nf["nf"].predict(
            df=df.iloc[:end], futr_df=df.iloc[end : end + H][["unique_id", "ds", "infl"]]
        )
    return pred[name].to_numpy()


@pytest.mark.parametrize("name", ["LSTM", "GRU", "DeepAR"])
def test_predict_equals_neuralforecast_predict(nf, name) -> None:
    ad = explainr.adapt(nf["nf"], nf["df"], model=name)
    w = ad.windows(last=4, stride=7)[:3]  # GRU's last window has no futr_df rows after it
    steps = STEPS + (1 if name == "DeepAR" else 0)  # recurrent models read input_size + 1
    assert w.x.shape[1] == steps
    ends = w.starts + steps
    expected = np.stack([_library_forecast(nf, name, int(e)) for e in ends])
    np.testing.assert_allclose(ad.predict(w), expected, rtol=1e-4)
    np.testing.assert_array_equal(ad.predict(w), ad.predict(w))  # deterministic
    assert ad.target_names == ["y t+1", "y t+2", "y t+3"]
    assert ad.point == ("mean" if name == "DeepAR" else "point")
    np.testing.assert_allclose(
        w.x[-1, :, 0].numpy(), nf["df"]["y"].to_numpy()[ends[-1] - steps : ends[-1]], rtol=1e-6
    )
    assert w.time_labels[-1][-1] == str(nf["df"]["ds"].iloc[ends[-1] - 1].date())


def _standardised(values: np.ndarray) -> np.ndarray:
    """neuralforecast's "standard" scaler: mean and population std of the rows, + 1e-6."""
    return (values - values.mean(0)) / (values.std(0) + 1e-6)


@pytest.mark.parametrize(("name", "calls"), [("DeepAR", H), ("GRU", 1)])
def test_record_marks_the_encoder_call(nf, name, calls) -> None:
    ad = explainr.adapt(nf["nf"], nf["df"], model=name)
    w = ad.windows(last=4)[1]
    with explainr.record(ad) as rec:
        ad.predict(w)
    assert rec.trace.marked == {"net.hist_encoder": 0}
    assert len(rec.trace.calls("net.hist_encoder")) == calls
    steps, start = w.x.shape[1], int(w.starts[0])
    df = nf["df"]
    y = _standardised(df["y"].to_numpy()[start : start + steps, None])
    if name == "DeepAR":  # y at t with inflation at t + 1, scaled on the window's own rows
        infl = df["infl"].to_numpy()[start : start + steps + 1, None]
        scaled = (infl - infl[:-1].mean(0)) / (infl[:-1].std(0) + 1e-6)
        y = np.concatenate([y, scaled[1:]], axis=1)
    rnn = ad.net.hist_encoder  # DeepAR's 2-layer LSTM has dropout: run it in eval mode
    training = rnn.training
    try:
        with torch.no_grad():
            expected, _ = rnn.eval()(torch.tensor(y[None], dtype=torch.float32))
    finally:
        rnn.train(training)
    top = rnn.num_layers - 1  # nn.LSTM / nn.GRU return the top layer's hidden states
    got = rec.trace["net.hist_encoder"].hidden(layer=top)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "DeepAR"])
def test_explain_is_complete_with_the_training_mean(nf, name, tmp_path) -> None:
    ad = explainr.adapt(nf["nf"], nf["df"], model=name)
    w = ad.windows(last=2, stride=9)
    ex = explainr.explain(
        ad, w, methods=("integrated_gradients", "kernel_shap"), target="y t+2", n_samples=300
    )
    for method in ("integrated_gradients", "kernel_shap"):
        a = ex.attributions[method]
        assert a.values.shape == (2, *w.x.shape[1:])
        assert a.completeness_error.max() < 0.01, (method, a.completeness_error)
        np.testing.assert_allclose(a.prediction, ad.predict(w)[:, 1], rtol=1e-5)
    assert ex.settings["baselines"].startswith("the training mean")
    assert ex.settings["point forecast"] == ("mean" if name == "DeepAR" else "point")
    assert ("time axis" in ex.settings) == (name == "DeepAR")  # the recurrent one-step shift
    np.testing.assert_allclose(ad.baseline[0], nf["df"][ad.feature_names].mean().to_numpy())


def test_the_model_is_left_as_found(nf) -> None:
    model = nf["nf"].models[2]
    before = (model.input_size, model.h, model.maintain_state, model.training)
    ad = explainr.adapt(nf["nf"], nf["df"], model="DeepAR")
    explainr.attribute(ad, ad.windows(last=1), "integrated_gradients", target=0)
    assert (model.input_size, model.h, model.maintain_state, model.training) == before


def test_bad_input_is_refused(nf) -> None:
    fc, df = nf["nf"], nf["df"]
    with pytest.raises(explainr.ExplainrError, match="holds 3 models"):
        explainr.adapt(fc, df)
    with pytest.raises(explainr.ExplainrError, match="not one of"):
        explainr.adapt(fc, df, model="TFT")
    with pytest.raises(explainr.ExplainrError, match="lacks columns"):
        explainr.adapt(fc, df.drop(columns="infl"), model="DeepAR")
    two = pd.concat([df, df.assign(unique_id="copy")])
    with pytest.raises(explainr.ExplainrError, match="pass unique_id"):
        explainr.adapt(fc, two, model="GRU")
    assert len(explainr.adapt(fc, two, model="GRU", unique_id="copy").windows()) > 100
    with pytest.raises(explainr.ExplainrError, match="quantiles"):
        explainr.adapt(LSTM(h=H, input_size=STEPS, loss=MQLoss()), df)
    with pytest.raises(explainr.ExplainrError, match="not fitted"):
        explainr.adapt(NeuralForecast(models=[GRU(h=H, input_size=STEPS)], freq="QS"), df)
    with pytest.raises(explainr.ExplainrError, match="long DataFrame"):
        explainr.adapt(fc, df.to_numpy(), model="GRU")
