"""Small, real-looking data and models for report tests: a quickly trained LSTM forecaster
on a sine + noise DataFrame with a DatetimeIndex, and gradient x input attributions.

A uniquely named module (not conftest.py) so that test files can import its helpers
whatever else is on sys.path; the fixtures are re-exported by this folder's conftest.py."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from explainr._core.inputs import time_labels_of
from explainr.attribution._result import Attribution
from explainr.report._page import _decode, dequantise

XSS = "<img src=x onerror=alert(1)>"


class Forecaster(nn.Module):
    """LSTM over a window, linear head on the last hidden state: one number per window."""

    def __init__(self, features: int, hidden: int = 16, layers: int = 2, cell: type = nn.LSTM):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def sine_frame(steps: int, seed: int = 0, names: tuple[str, ...] = ("level", "season", XSS)):
    """A daily series: a noisy sine, a slow cosine and noise, indexed by dates."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    data = {
        names[0]: 50 + 40 * np.sin(t / 9) + 4 * rng.standard_normal(steps),
        names[1]: np.cos(t / 30),
        names[2]: rng.standard_normal(steps),
    }
    return pd.DataFrame(data, index=pd.date_range("2021-03-01", periods=steps, freq="D"))


def scaled(frame: pd.DataFrame) -> torch.Tensor:
    """The frame standardised per column, as a (1, time, feature) tensor."""
    z = (frame - frame.mean()) / frame.std()
    return torch.tensor(z.to_numpy(), dtype=torch.float32)[None]


def train(model: nn.Module, frame: pd.DataFrame, window: int, steps: int = 25) -> nn.Module:
    """A few Adam steps to forecast the next 'level' value from a window."""
    series = scaled(frame)[0]
    xs = torch.stack([series[i : i + window] for i in range(len(series) - window)])
    ys = series[window:, 0]
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(xs) - ys) ** 2).mean()
        loss.backward()
        opt.step()
    return model.eval()


def grad_x_input(
    model: nn.Module, x: torch.Tensor, frame: pd.DataFrame, method: str
) -> Attribution:
    """Gradient x input against a zero baseline, as an Attribution (a stand-in method)."""
    x = x.clone().requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    with torch.no_grad():
        base = model(torch.zeros_like(x))
    return Attribution(
        method=method,
        values=(grad * x).detach().numpy(),
        prediction=out.detach().numpy(),
        baseline_prediction=base.numpy(),
        feature_names=[str(c) for c in frame.columns],
        time_labels=time_labels_of(frame.index),
        settings={"baseline": "zeros"},
        seconds=0.01,
    )


@pytest.fixture(scope="module")
def forecast() -> dict[str, Any]:
    """A trained 2-layer LSTM, its window, trace and two attributions."""
    import explainr

    torch.manual_seed(0)
    frame = sine_frame(160)
    window = 40
    model = train(Forecaster(3), frame, window)
    raw = frame.iloc[-window:]
    x = scaled(frame)[:, -window:]
    with explainr.record(model) as rec:
        model(x)
    a = grad_x_input(model, x, raw, "integrated_gradients")
    b = grad_x_input(model, x * 0.9, raw, "lime")
    return {"model": model, "raw": raw, "x": x, "trace": rec.trace, "a": a, "b": b}


def figures_of(page: str) -> dict[str, Any]:
    """The figure document embedded in a saved report, with shared arrays resolved and
    quantised or typed arrays decoded to numpy."""
    start = page.index('id="explainr-figures">') + len('id="explainr-figures">')
    doc = json.loads(page[start : page.index("</script>", start)])
    for fig in doc["figures"]:
        for trace in fig["data"]:
            for key, value in list(trace.items()):
                if isinstance(value, dict) and "explainr_ref" in value:
                    trace[key] = doc["arrays"][value["explainr_ref"]]
                elif isinstance(value, dict) and "explainr_u1" in value:
                    trace[key] = dequantise(value)
                elif isinstance(value, dict) and "bdata" in value:
                    trace[key] = _decode(value)
    return doc
