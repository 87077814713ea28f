"""`memory`: how far back a recurrent model looks, per unit and per input lag.

- Per layer, direction and unit, the timescale of its state: with a mean forget gate f over
  the windows (GRU: the update gate z, which keeps the old state), a state decays as f^k,
  so its timescale is ``-1 / ln f`` steps (``inf`` when f = 1).
- Per lag k (k = 0 is the last step), the share of the prediction's absolute contextual
  decomposition that comes from the inputs k steps back: the relevant part of the output
  with step T-1-k's cells chosen (bias products irrelevant), in absolute value, normalised
  to sum to 1 per window and averaged over windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._core.inputs import check_finite, to_inputs
from explainr._core.model import ScalarModel, check_module, model_device_dtype
from explainr._core.state import preserved
from explainr.attribution._contextual_decomposition import relevance_of_sets
from explainr.attribution._graph import analyse

__all__ = ["Memory", "memory"]


@dataclass
class Memory:
    """What `memory` returns."""

    module: str  # name of the recurrent module in the model
    kind: str  # "lstm", "gru" or "peephole_lstm"
    gate: str  # the gate whose mean sets the timescale: "forget" (LSTMs) or "update" (GRU)
    mean_gate: np.ndarray  # (layers, directions, hidden) mean over windows and steps
    timescale: np.ndarray  # (layers, directions, hidden) steps: -1 / ln(mean_gate)
    lag_share: np.ndarray  # (time,) lag 0 = the last step; sums to 1
    window_lag_share: np.ndarray  # (batch, time) per window; each row sums to 1

    def lag_within(self, share: float = 0.9) -> int:
        """The smallest lag k such that lags 0..k hold at least ``share`` of the prediction."""
        return int(np.searchsorted(np.cumsum(self.lag_share), share - 1e-12))


def memory(model: nn.Module, x: Any, *, target: int | None = None) -> Memory:
    """Forget-gate timescales per unit and the share of the prediction per input lag.

    Args:
        model: a torch module with one ``nn.LSTM``, ``nn.GRU`` or
            ``explainr.nn.PeepholeLSTM`` followed by a head of linear layers, activations and
            indexing (as for ``attribute(method="lrp")``); it is not changed.
        x: windows ``(batch, time, feature)`` or one window ``(time, feature)``.
        target: output column; required when the model has several outputs.

    Returns:
        `Memory` with ``timescale`` ``(layers, directions, hidden)`` in steps and
        ``lag_share`` ``(time,)`` (lag 0 = the last step), which sums to 1.

    >>> import torch, explainr
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.LSTM(3, 8, num_layers=2, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[0][:, -1])
    >>> m = explainr.memory(Net(), torch.randn(4, 12, 3))
    >>> m.timescale.shape, m.lag_share.shape, round(float(m.lag_share.sum()), 6)
    ((2, 1, 8), (12,), 1.0)
    """
    check_module(model)
    xs = to_inputs(x, None).x
    device, dtype = model_device_dtype(model)
    xs = xs.to(device, dtype)
    check_finite(xs, f"x in the model's dtype {dtype}")
    _, steps, features = xs.shape
    with preserved(model):
        scalar, _ = ScalarModel.probe(model, xs, target)
        a = analyse(model, xs, scalar.column, "memory")
        rec = a.call.recurrent
        gate, key = ("forget", "f") if rec.has_cell else ("update", "z")
        mean_gate = np.array(
            [[run.values[key].mean(dim=(0, 1)).cpu().numpy() for run in row] for row in a.runs]
        )
        masks = torch.zeros(steps, steps, features, dtype=torch.bool, device=device)
        masks[torch.arange(steps), torch.arange(steps)] = True  # set t = step t
        by_step = relevance_of_sets(model, xs, masks, scalar.column, "irrelevant", method="memory")
    size = np.abs(by_step[:, ::-1])  # lag k = step T-1-k
    total = size.sum(axis=1, keepdims=True)
    per_window = size / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore"):
        decay = -np.log(np.clip(mean_gate, 0.0, 1.0))
        timescale = np.where(decay > 0, 1.0 / np.where(decay > 0, decay, 1.0), np.inf)
    return Memory(
        module=rec.name,
        kind=rec.kind,
        gate=gate,
        mean_gate=mean_gate,
        timescale=timescale,
        lag_share=per_window.mean(axis=0),
        window_lag_share=per_window,
    )
