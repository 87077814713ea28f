"""explainr.adapt on pytorch-forecasting models trained here on real data (statsmodels).

Three macro series (real GDP, consumption, investment; quarterly, 1959-2009) form one
long DataFrame with the series as a static categorical, inflation and unemployment as
known reals and a GroupNormalizer per series: each window's side inputs (series,
target scale, the decoder's known reals) ride in the context. The references:
- RecurrentNetwork / TFT: the library's own ``predict(mode="prediction")``.
- DeepAR: ``predict`` averages sampled paths, so the reference is the library's own
  ``forward`` (teacher-forced, no sampling) fed the adapter's earlier-step means as the
  decoder's past targets: its normal distribution's mean ``center + scale * loc`` per step
  must equal the adapter's forecast (step 1 needs no feed at all).
- record: the encoder call's hidden states vs the library's RNN run on the library's own
  normalised input (``construct_input_vector`` of the dataset's batch).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch

import explainr

pytest.importorskip("pytorch_forecasting")  # the `pytorch-forecasting` extra (make test)
# sklearn warns each time the library's dataset scales a sample while training
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

SERIES = ("realgdp", "realcons", "realinv")
TRAINER = dict(
    accelerator="cpu",
    devices=1,
    logger=False,
    enable_progress_bar=False,
    enable_checkpointing=False,
    enable_model_summary=False,
)


def _frame():
    import pandas as pd
    from statsmodels.datasets import macrodata

    m = macrodata.load_pandas().data
    parts = [
        pd.DataFrame(
            {
                "series": name,
                "value": m[name].astype("float32"),
                "infl": m["infl"].astype("float32"),
                "unemp": m["unemp"].astype("float32"),
                "time_idx": np.arange(len(m)),
            }
        )
        for name in SERIES
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def trained():
    """The data, the training dataset and three tiny models, each trained for a few batches."""
    import lightning.pytorch as pl
    from pytorch_forecasting import (
        DeepAR,
        RecurrentNetwork,
        TemporalFusionTransformer,
        TimeSeriesDataSet,
    )
    from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    torch.set_num_threads(1)
    df = _frame()
    ds = TimeSeriesDataSet(
        df[df.time_idx < 180],
        time_idx="time_idx",
        target="value",
        group_ids=["series"],
        max_encoder_length=12,
        max_prediction_length=4,
        static_categoricals=["series"],
        time_varying_known_reals=["infl", "unemp"],
        time_varying_unknown_reals=["value"],
        target_normalizer=GroupNormalizer(groups=["series"]),
    )
    # a log target scaled per window (EncoderNormalizer), relative time and target scales
    ds_log = TimeSeriesDataSet(
        df[df.time_idx < 180],
        time_idx="time_idx",
        target="value",
        group_ids=["series"],
        max_encoder_length=12,
        max_prediction_length=4,
        static_categoricals=["series"],
        time_varying_known_reals=["infl"],
        time_varying_unknown_reals=["value"],
        target_normalizer=EncoderNormalizer(transformation="log"),
        add_relative_time_idx=True,
        add_target_scales=True,
    )
    builders = {
        "rnn": lambda: RecurrentNetwork.from_dataset(
            ds, hidden_size=8, rnn_layers=1, cell_type="LSTM"
        ),
        "deepar": lambda: DeepAR.from_dataset(ds, hidden_size=8, rnn_layers=1, cell_type="GRU"),
        "tft": lambda: TemporalFusionTransformer.from_dataset(
            ds, hidden_size=8, attention_head_size=1, hidden_continuous_size=4
        ),
        "deepar_log": lambda: DeepAR.from_dataset(ds_log, hidden_size=8, rnn_layers=1),
    }
    sets = {"deepar_log": ds_log}
    models = {}
    for name, build in builders.items():
        pl.seed_everything(0, verbose=False)
        models[name] = build()
        trainer = pl.Trainer(max_epochs=1, limit_train_batches=6, **TRAINER)
        loader = sets.get(name, ds).to_dataloader(train=True, batch_size=32, num_workers=0)
        trainer.fit(models[name], loader)
    return df, ds, models


def _predict(model, data):
    return model.predict(data, mode="prediction", return_index=True, trainer_kwargs=dict(TRAINER))


@pytest.mark.parametrize("name", ["rnn", "tft"])
def test_predict_equals_the_librarys_predict(trained, name) -> None:
    df, _, models = trained
    model = models[name]
    ad = explainr.adapt(model, df)  # a DataFrame: the model's own dataset parameters
    w = ad.windows()
    theirs = _predict(model, ad.dataset)
    # same samples, same order: the library's index names each row's first forecast step
    np.testing.assert_array_equal(
        theirs.index["time_idx"].to_numpy(), w.context["decoder_time_idx"][:, 0].numpy()
    )
    flags = [m.training for m in model.modules()]
    ours = ad.predict(w)
    assert [m.training for m in model.modules()] == flags  # the model is left as it was
    expected = theirs.output.double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert ours.shape == (len(w), 4) and ad.target_names[0] == "value t+1"
    assert ad.point == ("median" if name == "tft" else "point")
    assert w.feature_names == ["value", "infl", "unemp"]


def test_windows_are_in_original_units(trained) -> None:
    df, _, models = trained
    ad = explainr.adapt(models["rnn"], df)
    w = ad.windows(last=3, stride=2)
    last = df[df.series == SERIES[-1]]
    for i, labels in enumerate(w.time_labels):
        rows = last.set_index("time_idx").loc[[int(t) for t in labels]]
        np.testing.assert_allclose(
            w.x[i].numpy(), rows[["value", "infl", "unemp"]].to_numpy(), rtol=1e-5, atol=1e-4
        )
    assert np.diff([int(labels[0]) for labels in w.time_labels]).tolist() == [2, 2]
    # the baseline is the data's mean, in original units
    assert ad.baseline.shape == (12, 3) and ad.baseline[0, 0] > 500
    # one series: its rows alone give its windows and forecasts (the scalers are the model's)
    one = explainr.adapt(models["rnn"], df[df.series == SERIES[0]])
    w1, w_all = one.windows(), ad.windows()
    mine = w_all.context["groups"][:, 0] == w1.context["groups"][0, 0]
    np.testing.assert_array_equal(w1.x.numpy(), w_all.x[mine].numpy())
    np.testing.assert_allclose(one.predict(w1), ad.predict(w_all)[mine.numpy()], rtol=1e-6)


def test_deepar_mean_is_the_librarys_distribution_mean(trained) -> None:
    df, _, models = trained
    model = models["deepar"]
    ad = explainr.adapt(model, df)
    w = ad.windows(last=5)
    ours = ad.predict(w)
    assert ad.point == "mean"
    # the library's own forward (no sampling): feed our means as the decoder's past targets
    batch = dict(w.context)
    batch["encoder_target"] = w.x[..., 0]
    scale = batch["target_scale"]
    fed = model.output_transformer.transform(
        torch.tensor(ours, dtype=torch.float32), target_scale=scale
    )
    column = list(model.hparams.x_reals).index("value")
    cont = batch["decoder_cont"].clone()
    cont[:, :, column] = fed
    batch["decoder_cont"] = cont
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            params = model(batch)["prediction"]  # (n, 4, 4): center, scale, loc, sigma
    finally:
        model.train(was)
    mean = (params[..., 0] + params[..., 1] * params[..., 2]).double().numpy()
    np.testing.assert_allclose(ours, mean, rtol=1e-4)
    # the library's own sampled forecast (what its predict averages) agrees within its noise
    model.eval()
    try:
        with torch.no_grad():
            torch.manual_seed(0)
            samples = model(batch, n_samples=2000)["prediction"]  # (n, 4, 2000)
    finally:
        model.train(was)
    sigma = (params[:, 0, 1] * params[:, 0, 3]).double().numpy()  # step 1's std
    error = np.abs(samples[:, 0].double().mean(-1).numpy() - ours[:, 0])
    assert np.all(error < 5 * sigma / np.sqrt(2000))


@pytest.mark.parametrize(
    ("name", "module"),
    [("rnn", "model.rnn"), ("deepar", "model.rnn"), ("tft", "model.lstm_encoder")],
)
def test_record_marks_the_encoder_call(trained, name, module) -> None:
    df, _, models = trained
    model = models[name]
    ad = explainr.adapt(model, df)
    w = ad.windows(last=2)
    with explainr.record(ad) as rec, ad.using(w.context), torch.no_grad():
        ad(w.x)
    assert rec.trace.marked == {module: 0}
    hidden = rec.trace[module].hidden()
    # the library's own module on the library's own normalised input (the dataset's batch)
    batch = dict(w.context)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            if name == "tft":
                hidden_ref = _tft_encoder(model, batch)
            else:
                vector = model.construct_input_vector(batch["encoder_cat"], batch["encoder_cont"])
                hidden_ref = model.rnn(
                    vector, lengths=batch["encoder_lengths"] - 1, enforce_sorted=False
                )[0]
    finally:
        model.train(was)
    torch.testing.assert_close(hidden, hidden_ref, rtol=1e-5, atol=1e-6)
    calls = rec.trace.calls(module)
    assert len(calls) == (1 if name == "tft" else 1 + 4)  # encoder, then one per step


def _tft_encoder(model, batch):
    """TFT's encoder LSTM output on the library's inputs (its forward up to lstm_encoder)."""
    out = {}

    def keep(module, inputs, output) -> None:
        out["h"] = output[0]

    handle = model.lstm_encoder.register_forward_hook(keep)
    try:
        model(batch)
    finally:
        handle.remove()
    return out["h"]


@pytest.mark.parametrize("name", ["rnn", "deepar", "tft", "deepar_log"])
def test_explain_is_complete(trained, name) -> None:
    df, _, models = trained
    ad = explainr.adapt(models[name], df)
    w = ad.windows(last=1)
    ex = explainr.explain(
        ad,
        w,
        methods=("integrated_gradients", "kernel_shap"),
        target="value t+1",
        n_samples=200,
        metrics=False,
        memory=False,
    )
    for method, a in ex.attributions.items():
        assert a.completeness_error.max() < 0.01, method
    assert ex.settings["baselines"] == ad.baseline_note
    assert ex.trace.marked == ad.encoder


def test_deepar_log_target_median_is_the_librarys(trained) -> None:
    """EncoderNormalizer(transformation="log"): the median exp(center + scale * loc)."""
    df, _, models = trained
    model = models["deepar_log"]
    ad = explainr.adapt(model, df)
    w = ad.windows(last=3)
    assert ad.point == "median" and w.feature_names == ["value", "infl"]
    ours = ad.predict(w)
    batch = dict(w.context)
    batch["encoder_target"] = w.x[..., 0]
    scale = batch["target_scale"]
    fed = model.output_transformer.transform(
        torch.tensor(ours, dtype=torch.float32), target_scale=scale
    )
    cont = batch["decoder_cont"].clone()
    cont[:, :, list(model.hparams.x_reals).index("value")] = fed
    batch["decoder_cont"] = cont
    model.eval()
    with torch.no_grad():
        params = model(batch)["prediction"]  # (n, 4, 4): center, scale, loc, sigma
    median = torch.exp(params[..., 0] + params[..., 1] * params[..., 2]).double().numpy()
    np.testing.assert_allclose(ours, median, rtol=1e-4)
    # the rebuilt encoder input equals the dataset's own (log, then the window's scale)
    np.testing.assert_allclose(
        ad._inputs(w.x, w.context)["encoder_cont"].numpy(),
        w.context["encoder_cont"].numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
