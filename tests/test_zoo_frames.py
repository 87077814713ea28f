"""The zoo's frame models: real digits moving across a canvas, and a planted box.

References: scikit-learn's own digit images (every frame holds the sequence's digit
exactly), the card's split and metrics recomputed from the samples, the planted target
recomputed with numpy, and the planted box for attributions (>60% of the mass inside).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explainr
from explainr import zoo

FRAME_MODELS = {"moving_digits": (1, 16, 16), "planted_convlstm": (1, 8, 8)}


@pytest.fixture(scope="module", params=sorted(FRAME_MODELS))
def model(request) -> zoo.ZooModel:
    return zoo.load(request.param)


def test_card_split_and_samples(model):
    card = model.card
    assert model.frame_shape == FRAME_MODELS[model.name]
    assert card["data"]["kind"] == "frames" and card["architecture"]["class"] == "FrameModel"
    sizes = {s: len(model.samples(s)[0]) for s in ("train", "validation", "test", "all")}
    assert sizes["all"] == card["data"]["count"]
    assert [sizes[s] for s in ("train", "validation", "test")] == [
        card["split"][s] for s in ("train", "validation", "test")
    ]
    x, y = model.samples("test")
    assert (
        x.shape == (len(y), card["window"], *FRAME_MODELS[model.name]) and x.dtype == torch.float32
    )
    again, _ = model.samples("test")
    torch.testing.assert_close(x, again, atol=0, rtol=0)  # made from the card, the same each time
    windows, raw = model.windows(last=3)
    torch.testing.assert_close(windows, x[-3:], atol=0, rtol=0)
    np.testing.assert_array_equal(raw[-1], x[-1].numpy())


def test_test_metric_recomputed_beats_naive(model):
    x, y = model.samples("test")
    with torch.no_grad():
        out = model.model(x).numpy().astype(float)
    metrics = model.card["metrics"]
    if model.task == "classify":
        accuracy = float((out.argmax(1) == y.numpy()).mean())
        assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
        assert accuracy > metrics["naive_majority_accuracy"] + 0.3
    else:
        rmse = float(np.sqrt(np.mean((out - y.numpy()) ** 2)))
        assert rmse == pytest.approx(metrics["test_rmse"], rel=1e-5)
        assert rmse < 0.25 * metrics["naive_mean_rmse"]


def test_record_gives_maps_of_the_conv_lstm(model):
    x, _ = model.windows(last=2)
    with torch.no_grad(), explainr.record(model.model) as rec:
        model.model(x)
        hidden = model.model.rnn(x)[0]
    assert rec.trace.kind("rnn") == "conv_lstm"
    got = rec.trace["rnn"]
    assert got.gate("forget").shape == (
        2,
        x.shape[1],
        model.model.rnn.hidden_channels,
        *x.shape[3:],
    )
    torch.testing.assert_close(got.hidden(), hidden, atol=1e-6, rtol=0)


def test_every_digit_frame_holds_the_scikit_learn_image():
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0
    labels = load_digits().target
    entry = zoo.load("moving_digits")
    x, y = entry.samples("test")
    for n in range(0, len(x), 37):
        candidates = np.flatnonzero(labels == int(y[n]))
        for t in range(x.shape[1]):
            frame = x[n, t, 0].numpy()
            rows, cols = np.nonzero(frame)
            r, c = rows.min(), cols.min()
            found = False
            for r0 in range(max(0, r - 7), r + 1):
                for c0 in range(max(0, c - 7), c + 1):
                    tile = frame[r0 : r0 + 8, c0 : c0 + 8]
                    if tile.shape == (8, 8) and np.abs(tile).sum() == pytest.approx(frame.sum()):
                        found |= bool(np.any(np.abs(images[candidates] - tile).max((1, 2)) < 1e-6))
            assert found, (n, t)


def test_planted_target_is_the_box_mean():
    entry = zoo.load("planted_convlstm")
    box = entry.card["box"]
    x, y = entry.samples("test")
    t, r, c = (slice(*box[k]) for k in ("steps", "rows", "cols"))
    np.testing.assert_allclose(
        x.numpy()[:, t, 0, r, c].astype(np.float64).mean((1, 2, 3)), y.numpy(), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("integrated_gradients", {}),
        ("kernel_shap", {"group_by": "time_patch", "window": 2, "patch": 2, "n_samples": 1000}),
    ],
)
def test_attribution_mass_sits_in_the_planted_box(method, kwargs):
    entry = zoo.load("planted_convlstm")
    box = entry.card["box"]
    x, _ = entry.samples("test")
    a = explainr.attribute(entry.model, x[:8], method, **kwargs)
    mass = np.abs(a.frames)
    inside = np.zeros(mass.shape[1:], dtype=bool)
    inside[slice(*box["steps"]), :, slice(*box["rows"]), slice(*box["cols"])] = True
    share = mass[:, inside].sum() / mass.sum()
    assert share > 0.6, share
    assert float(a.completeness_error.max()) < 0.01


def test_integrated_gradients_on_digits_is_complete_for_the_predicted_class():
    from captum.attr import IntegratedGradients

    entry = zoo.load("moving_digits")
    x, _ = entry.windows(last=4)
    with torch.no_grad():
        predicted = entry.model(x).argmax(1).tolist()
    for k, target in enumerate(predicted):
        a = explainr.attribute(entry.model, x[k : k + 1], target=target)
        assert float(a.completeness_error[0]) < 0.01, (k, target)
        steps = a.settings.get("n_steps_used", [50])[0]
        ref = IntegratedGradients(entry.model).attribute(
            x[k : k + 1], torch.zeros_like(x[k : k + 1]), target=target, n_steps=int(steps)
        )
        np.testing.assert_allclose(a.frames[0], ref[0].detach().numpy(), rtol=1e-4, atol=1e-6)
