"""The report's own numbers, each against an independent answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainr.nn import ConvLSTM
from explainr.report._model_summary import model_summary
from explainr.report.figures import arrays as _stats


def test_saturation_counts_steps_like_a_loop():
    rng = np.random.default_rng(0)
    gate = rng.uniform(size=(7, 50))
    gate[2, 40:] = np.nan  # past a packed sequence's end
    left, right = _stats.saturation(gate)
    for u in range(7):
        steps = [v for v in gate[u] if not np.isnan(v)]
        assert left[u] == pytest.approx(sum(v < 0.1 for v in steps) / len(steps))
        assert right[u] == pytest.approx(sum(v > 0.9 for v in steps) / len(steps))


def test_bin_time_averages_bins_and_keeps_a_short_last_bin():
    values = np.arange(2 * 7, dtype=np.float32).reshape(2, 7)
    binned = _stats.bin_time(values, 3)
    np.testing.assert_allclose(binned, [[1, 4, 6], [8, 11, 13]])
    assert _stats.bin_labels(list("abcdefg"), 3) == ["a", "d", "g"]
    assert _stats.bin_time(values, 1) is values
    assert _stats.time_factor(1000, 300) == 4 and _stats.time_factor(10, 300) == 1


def test_most_active_finds_planted_units():
    rng = np.random.default_rng(0)
    hidden = 0.01 * rng.standard_normal((10, 60))
    hidden[7] += np.sin(np.arange(60))
    hidden[3] += 0.5 * np.sin(np.arange(60))
    hidden[5] = 0.9  # saturated: constant, not active
    assert _stats.most_active(hidden, 2) == [7, 3]


def test_unit_matrix_averages_convlstm_maps_per_channel():
    conv = torch.randn(2, 4, 3, 5, 5)  # (batch, time, channels, height, width)
    got = _stats.unit_matrix(conv, 1)
    np.testing.assert_allclose(got, conv[1].mean(dim=(2, 3)).T.numpy(), rtol=1e-5, atol=1e-6)
    pooled = _stats.unit_matrix(torch.randn(2, 4, 6), None)
    assert pooled.shape == (6, 8)


def test_model_summary_counts_lstm_parameters_in_closed_form():
    model = torch.nn.Sequential()
    model.add_module("lstm", torch.nn.LSTM(3, 8, num_layers=2, bidirectional=True))
    model.add_module("conv", ConvLSTM(2, 4, kernel_size=3))
    summary = model_summary(model)
    # LSTM layer: 4H(I + H) weights + 8H biases, per direction; layer 1 sees 2H inputs.
    lstm = 2 * (4 * 8 * (3 + 8) + 8 * 8) + 2 * (4 * 8 * (16 + 8) + 8 * 8)
    conv = 4 * 4 * (2 + 4) * 9 + 4 * 4
    assert summary["parameters"] == lstm + conv
    rows = {m["name"]: m for m in summary["modules"]}
    assert rows["lstm"]["bidirectional"] and rows["lstm"]["hidden_size"] == 8
    assert rows["conv"]["input_size"] == 2 and rows["conv"]["hidden_size"] == 4
