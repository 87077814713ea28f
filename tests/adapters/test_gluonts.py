"""explainr.adapt on a GluonTS torch DeepAR trained here on yearly sunspot numbers.

DeepAR is probabilistic and its predictor returns sampled paths, so the references are the
library's own numbers without sampling:
- the past targets and side inputs GluonTS's own input pipeline (the predictor's
  ``input_transform`` and ``InferenceDataLoader``) builds for the series cut at each
  window's end, as a user would cut it;
- the mean of the library's own output distribution (``output_distribution(params,
  scale).mean``) from ``unroll_lagged_rnn`` run teacher-forced with the adapter's
  earlier-step means as the future targets (step 1 needs no feed at all);
- the library's sampled forecast (``predictor.predict``) agrees with step 1's mean within
  its sampling noise;
- record: the LSTM's hidden states vs ``model.rnn`` on ``prepare_rnn_input`` of the
  library's batch.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import explainr

pytest.importorskip("gluonts.torch")  # the `gluonts` extra (make test)

HORIZON = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Sunspots 1700-2008, a tiny DeepAR trained on all but the last 20 years, its data."""
    import pandas as pd
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.model.deepar import DeepAREstimator
    from statsmodels.datasets import sunspots

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    y = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float32)
    start = pd.Period("1700", freq="Y")
    train = ListDataset([{"start": start, "target": y[:-20]}], freq="Y")
    data = ListDataset([{"start": start, "target": y}], freq="Y")
    torch.manual_seed(0)
    np.random.seed(0)
    estimator = DeepAREstimator(
        freq="Y",
        prediction_length=HORIZON,
        context_length=24,
        num_layers=1,
        hidden_size=8,
        batch_size=16,
        num_batches_per_epoch=5,
        trainer_kwargs=dict(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(tmp_path_factory.mktemp("gluonts")),  # its checkpoint
        ),
    )
    predictor = estimator.train(train)
    return y, start, data, predictor


@pytest.fixture(scope="module")
def with_inflation(tmp_path_factory):
    """Real investment (quarterly, 1959-2009) with inflation as a dynamic real."""
    import pandas as pd
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.model.deepar import DeepAREstimator
    from statsmodels.datasets import macrodata

    m = macrodata.load_pandas().data
    y = m["realinv"].to_numpy(dtype=np.float32)
    infl = m["infl"].to_numpy(dtype=np.float32)
    start = pd.Period("1959Q1", freq="Q")
    torch.manual_seed(0)
    np.random.seed(0)
    estimator = DeepAREstimator(
        freq="Q",
        prediction_length=HORIZON,
        context_length=12,
        num_feat_dynamic_real=1,
        num_layers=1,
        hidden_size=8,
        batch_size=16,
        num_batches_per_epoch=5,
        trainer_kwargs=dict(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(tmp_path_factory.mktemp("gluonts_q")),
        ),
    )
    entry = {"start": start, "target": y[:-20], "feat_dynamic_real": infl[None, :-20]}
    predictor = estimator.train(ListDataset([entry], freq="Q"))
    # known ahead: inflation runs HORIZON quarters past the last target
    data = ListDataset(
        [{"start": start, "target": y[:-HORIZON], "feat_dynamic_real": infl[None]}], freq="Q"
    )
    return y[:-HORIZON], infl, start, data, predictor


def _library_batch(predictor, start, y, ends):
    """GluonTS's own inputs for the series cut at each end (as a user cuts a series)."""
    from gluonts.dataset.common import ListDataset
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    cut = ListDataset([{"start": start, "target": y[:end]} for end in ends], freq="Y")
    names = predictor.input_names
    loader = InferenceDataLoader(
        cut,
        transform=predictor.input_transform + SelectFields(names),
        batch_size=len(ends),
        stack_fn=batchify,
    )
    return cut, next(iter(loader))


def test_predict_is_the_librarys_distribution_mean(trained) -> None:
    y, start, data, predictor = trained
    ad = explainr.adapt(predictor, data)
    w = ad.windows(last=3, stride=7)
    ends = [len(y) - 14, len(y) - 7, len(y)]
    assert [int(labels[-1]) for labels in w.time_labels] == [1700 + e - 1 for e in ends]
    cut, batch = _library_batch(predictor, start, y, ends)
    np.testing.assert_array_equal(w.x[..., 0].numpy(), batch["past_target"].numpy())
    assert w.x.shape == (3, 30, 1)  # 24 context steps + the largest lag (7) - 1
    ours = ad.predict(w)
    assert ad.point == "mean" and ad.target_names == ["target t+1", "target t+2", "target t+3"]
    model = predictor.prediction_net.model
    was = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            inputs = {name: batch[name] for name in predictor.input_names}
            params, scale, *_ = model.unroll_lagged_rnn(
                **inputs, future_target=torch.tensor(ours, dtype=torch.float32)
            )
            distribution = model.output_distribution(params, scale=scale, trailing_n=HORIZON)
    finally:
        for m, flag in zip(model.modules(), was, strict=True):
            m.training = flag
    np.testing.assert_allclose(ours, distribution.mean.double().numpy(), rtol=1e-4)
    # the library's own sampled forecasts agree with step 1's mean within their noise
    torch.manual_seed(0)
    forecasts = list(predictor.predict(cut, num_samples=100))
    sampled = np.array([f.samples[:, 0].mean() for f in forecasts])
    sd = distribution.stddev[:, 0].double().numpy()
    assert np.all(np.abs(sampled - ours[:, 0]) < 5 * sd / np.sqrt(100))


def test_windows_and_baseline(trained) -> None:
    y, _, data, predictor = trained
    ad = explainr.adapt(predictor, data)
    w = ad.windows()
    assert len(w) == len(y) - 30 + 1
    np.testing.assert_allclose(w.x[0, :, 0].numpy(), y[:30])
    assert w.time_labels[0][0] == "1700" and w.time_labels[-1][-1] == "2008"
    np.testing.assert_allclose(
        ad.baseline, np.full((30, 1), y.astype(np.float64).mean()), rtol=1e-6
    )
    assert "last 24 of the window's 30 steps" in ad.time_note
    with pytest.raises(explainr.ExplainrError, match="last="):
        ad.windows(last=len(w) + 1)


def test_record_marks_the_encoder_call(trained) -> None:
    y, start, data, predictor = trained
    ad = explainr.adapt(predictor, data)
    w = ad.windows(last=2)
    with explainr.record(ad) as rec, ad.using(w.context), torch.no_grad():
        ad(w.x)
    assert rec.trace.marked == {"model.rnn": 0}
    assert len(rec.trace.calls("model.rnn")) == HORIZON  # the context, then 1 step each
    _, batch = _library_batch(predictor, start, y, [len(y) - 1, len(y)])
    model = predictor.prediction_net.model
    with torch.no_grad():
        inputs = {name: batch[name] for name in predictor.input_names}
        inputs["future_time_feat"] = inputs["future_time_feat"][:, :1]
        rnn_input, _, _ = model.prepare_rnn_input(**inputs)
        expected = model.rnn(rnn_input)[0]  # dropout is 0 with one layer
    assert expected.shape[1] == 24
    torch.testing.assert_close(rec.trace["model.rnn"].hidden(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", ["target t+1", "target t+3"])
def test_explain_is_complete(trained, target, tmp_path) -> None:
    _, _, data, predictor = trained
    ad = explainr.adapt(predictor, data)
    ex = explainr.explain(
        ad,
        ad.windows(last=1),
        methods=("integrated_gradients", "kernel_shap"),
        target=target,
        n_samples=200,
        metrics=False,
        memory=False,
    )
    for method, a in ex.attributions.items():
        assert a.completeness_error.max() < 0.01, method
    assert ex.settings["baselines"] == ad.baseline_note
    assert ex.trace.marked == {"model.rnn": 0}
    html = ex.save_html(tmp_path / "r.html").read_text()
    assert "over the last 24 of the window" in html


def test_dynamic_reals_are_window_features(with_inflation) -> None:
    from gluonts.dataset.common import ListDataset
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    y, infl, start, data, predictor = with_inflation
    ad = explainr.adapt(predictor, data, dynamic_names=["infl"])
    w = ad.windows(last=2, stride=5)
    assert w.feature_names == ["target", "infl"] and w.x.shape == (2, 24, 2)
    ends = [len(y) - 5, len(y)]
    np.testing.assert_array_equal(w.x[1, :, 1].numpy(), infl[ends[1] - 24 : ends[1]])
    ours = ad.predict(w)
    # the library's own pipeline and distribution on the series cut by hand
    cut = ListDataset(
        [
            {"start": start, "target": y[:e], "feat_dynamic_real": infl[None, : e + HORIZON]}
            for e in ends
        ],
        freq="Q",
    )
    loader = InferenceDataLoader(
        cut,
        transform=predictor.input_transform + SelectFields(predictor.input_names),
        batch_size=2,
        stack_fn=batchify,
    )
    batch = next(iter(loader))
    np.testing.assert_array_equal(w.x[..., 0].numpy(), batch["past_target"].numpy())
    model = predictor.prediction_net.model.eval()
    with torch.no_grad():
        inputs = {name: batch[name] for name in predictor.input_names}
        params, scale, *_ = model.unroll_lagged_rnn(
            **inputs, future_target=torch.tensor(ours, dtype=torch.float32)
        )
        mean = model.output_distribution(params, scale=scale, trailing_n=HORIZON).mean
    np.testing.assert_allclose(ours, mean.double().numpy(), rtol=1e-4)
    # the window's inflation is an input of the module: attributions see it, completely
    a = explainr.attribute(ad, w[1], "integrated_gradients", target="target t+1")
    assert a.completeness_error.max() < 0.01
    assert np.abs(a.values[0, :, 1]).sum() > 0
    np.testing.assert_allclose(ad.baseline[0], [y.mean(), infl.mean()], rtol=1e-5)
    with pytest.raises(explainr.ExplainrError, match="dynamic_names"):
        explainr.adapt(predictor, data, dynamic_names=["a", "b"])
