"""sliding_windows: shapes, alignment to the last row, labels, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import explainr
from explainr import ExplainrError


@pytest.fixture
def df() -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=10, freq="D")
    return pd.DataFrame({"load": np.arange(10.0), "temp": np.arange(10.0) * 10}, index=index)


@pytest.mark.parametrize(
    ("window", "step", "last", "starts"),
    [
        (4, 1, None, list(range(7))),
        (4, 3, None, [0, 3, 6]),
        (3, 4, None, [3, 7]),
        (4, 1, 2, [5, 6]),
    ],
)
def test_windows_end_at_last_row(df, window, step, last, starts) -> None:
    w = explainr.sliding_windows(df, window, step=step, last=last)
    assert w.starts.tolist() == starts
    assert w.x.dtype == torch.float32 and tuple(w.x.shape) == (len(starts), window, 2)
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(w.x[i].numpy(), df.to_numpy()[s : s + window])
        assert w.time_labels[i] == [f"{t:%Y-%m-%d}" for t in df.index[s : s + window]]
    assert w.feature_names == ["load", "temp"]
    x, names, labels, starts = w  # unpacks like a tuple
    assert x is w.x and labels is w.time_labels and starts is w.starts
    assert names == w.feature_names


def test_windows_feed_attribute(df) -> None:
    w = explainr.sliding_windows(df, 5, last=2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 1))
    a = explainr.attribute(model, w.x, feature_names=w.feature_names, progress=False)
    assert a.values.shape == (2, 5, 2) and a.feature_names == ["load", "temp"]


def test_refusals(df) -> None:
    with pytest.raises(ExplainrError, match="window=11 is longer than the DataFrame's 10 rows"):
        explainr.sliding_windows(df, 11)
    with pytest.raises(ExplainrError, match="step must be an int >= 1"):
        explainr.sliding_windows(df, 3, step=0)
    with pytest.raises(ExplainrError, match="non-numeric columns"):
        explainr.sliding_windows(df.assign(city="x"), 3)
    with pytest.raises(ExplainrError, match="NaN/Inf"):
        explainr.sliding_windows(df.assign(load=np.nan), 3)
    with pytest.raises(ExplainrError, match="takes a pandas DataFrame"):
        explainr.sliding_windows(df.to_numpy(), 3)
