"""Masked windows share their recurrent run up to where they part (`_core/prefixes.py`).

Every check compares with the plain model called row by row outside any block, so the
reference never goes through the shared path.
"""

from __future__ import annotations

import threading
from itertools import combinations
from math import factorial

import numpy as np
import pytest
import torch
from torch import nn

import explainr
from explainr._core.model import ScalarModel, rows_for
from explainr._core.prefixes import _prefixes, sharing_prefixes

STEPS, FEATURES, BLOCK = 24, 3, 6
CELL_GROUP = (np.arange(STEPS)[:, None] // BLOCK) * FEATURES + np.arange(FEATURES)[None, :]
GROUPS = int(CELL_GROUP.max()) + 1


class Net(nn.Module):
    """A recurrent layer (any kind, either layout) and a linear head on the last step."""

    def __init__(self, kind: type[nn.Module] = nn.LSTM, batch_first: bool = True, **kw) -> None:
        super().__init__()
        self.rnn = kind(FEATURES, 16, num_layers=2, batch_first=batch_first, **kw)
        width = 16 * (2 if kw.get("bidirectional") else 1)
        self.head = nn.Linear(kw.get("proj_size") or width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x if self.rnn.batch_first else x.transpose(0, 1))[0]
        out = out if self.rnn.batch_first else out.transpose(0, 1)
        return self.head(out[:, -1]).squeeze(-1)


class Stacked(nn.Module):
    """Two separate modules, the second fed the first's outputs; explicit zero states."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.GRU(FEATURES, 12, batch_first=True)
        self.second = nn.LSTM(12, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(1, len(x), 12)
        out = self.first(x, h0)[0]
        out = self.second(torch.tanh(out))[0]
        return self.head(out[:, -1]).squeeze(-1)


class Centred(nn.Module):
    """Subtracts the window mean first: every step depends on every other (little to share)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(FEATURES, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x - x.mean(dim=1, keepdim=True))[0]
        return self.head(out[:, -1]).squeeze(-1)


def made(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in model.parameters():
        nn.init.uniform_(p, -0.5, 0.5)
    return model.eval()


def plain(model: nn.Module, window: torch.Tensor, baseline: torch.Tensor, keep: np.ndarray):
    """The model on every masked row in one whole-sequence call, outside any block."""
    cells = torch.as_tensor(keep[:, CELL_GROUP])
    with torch.no_grad():
        return model(torch.where(cells, window, baseline)).double().numpy()


def coalitions(rows: int = 1500) -> np.ndarray:
    return np.random.default_rng(1).random((rows, GROUPS)) < 0.5


MODELS = {
    "lstm": lambda: Net(nn.LSTM),
    "lstm time-major": lambda: Net(nn.LSTM, batch_first=False),
    "lstm proj_size": lambda: Net(nn.LSTM, proj_size=5),
    "gru": lambda: Net(nn.GRU),
    "gru time-major": lambda: Net(nn.GRU, batch_first=False),
    "rnn": lambda: Net(nn.RNN),
    "bidirectional (not shared)": lambda: Net(nn.LSTM, bidirectional=True),
    "stacked modules, explicit h0": Stacked,
    "centred input": Centred,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_masked_outputs_equal_the_plain_model(name: str, monkeypatch) -> None:
    from explainr._core import prefixes

    runs = []
    run_shared = prefixes._run_shared
    monkeypatch.setattr(prefixes, "_run_shared", lambda *a: runs.append(1) or run_shared(*a))
    model = made(MODELS[name]())
    window = torch.randn(STEPS, FEATURES, generator=torch.Generator().manual_seed(2))
    baseline = torch.full((STEPS, FEATURES), 0.3)
    keep = coalitions()
    scalar = ScalarModel(model, 0, rows_for(model, torch.device("cpu")))
    shared = scalar.masked_groups(window, baseline[None], keep, CELL_GROUP)
    np.testing.assert_allclose(shared, plain(model, window, baseline, keep), rtol=0, atol=1e-6)
    assert all("forward" not in vars(m) for m in model.modules())
    assert bool(runs) == ("bidirectional" not in name)  # the shared path ran where it can


def test_masks_with_little_to_share_run_the_plain_model(monkeypatch) -> None:
    """Random masks per cell share almost no prefix: the layer runs whole, threads kept."""
    from explainr._core import prefixes

    runs, threads = [], torch.get_num_threads()
    run_shared = prefixes._run_shared
    monkeypatch.setattr(prefixes, "_run_shared", lambda *a: runs.append(1) or run_shared(*a))
    model = made(Net(nn.LSTM))
    scalar = ScalarModel(model, 0, rows_for(model, torch.device("cpu")))
    window = torch.randn(STEPS, FEATURES, generator=torch.Generator().manual_seed(5))
    keep = torch.as_tensor(np.random.default_rng(2).random((200, STEPS, FEATURES)) < 0.5)
    out = scalar.masked(window, torch.zeros(1, STEPS, FEATURES), keep)
    with torch.no_grad():
        reference = model(torch.where(keep, window, torch.zeros(()))).double().numpy()
    np.testing.assert_allclose(out, reference, atol=1e-6)
    assert not runs and torch.get_num_threads() == threads


def test_rows_are_grouped_by_their_actual_prefixes() -> None:
    """The distinct rows at each cut are the distinct prefixes, found by numpy."""
    keep = torch.as_tensor(coalitions(200)[:, CELL_GROUP])
    x = torch.where(keep, torch.randn(STEPS, FEATURES), torch.zeros(()))
    x[7] = x[3]  # two equal rows
    ends, ids, firsts = _prefixes(x, [6, 12, 18])
    assert ends == [6, 12, 18, 24]
    for end, row_ids, first in zip(ends, ids, firsts, strict=True):
        prefixes = x[:, :end].reshape(len(x), -1).numpy()
        _, expected = np.unique(prefixes, axis=0, return_inverse=True)
        assert len(first) == expected.max() + 1  # as many groups as distinct prefixes
        # same id exactly when same prefix, and each id's first row is one of its rows
        same = row_ids[:, None] == row_ids[None, :]
        assert torch.equal(same, torch.as_tensor(expected[:, None] == expected[None, :]))
        assert torch.equal(row_ids[first], torch.arange(len(first)))
    assert len(firsts[0]) <= 8 and len(firsts[-1]) < len(x)


def test_kernel_shap_and_exact_shapley_match_brute_force() -> None:
    """Shapley values over 12 groups from plain model calls, against both methods."""
    model = made(Net(nn.LSTM))
    window = torch.randn(1, STEPS, FEATURES, generator=torch.Generator().manual_seed(3))
    masks = np.array(
        [[(code >> g) & 1 for g in range(GROUPS)] for code in range(2**GROUPS)], dtype=bool
    )
    worth = plain(model, window[0], torch.zeros(STEPS, FEATURES), masks)
    index = {tuple(m): v for m, v in zip(masks.tolist(), worth, strict=True)}
    brute = np.zeros(GROUPS)
    for g in range(GROUPS):
        others = [o for o in range(GROUPS) if o != g]
        for size in range(GROUPS):
            weight = factorial(size) * factorial(GROUPS - size - 1) / factorial(GROUPS)
            for chosen in combinations(others, size):
                without = np.zeros(GROUPS, dtype=bool)
                without[list(chosen)] = True
                with_g = without.copy()
                with_g[g] = True
                brute[g] += weight * (index[tuple(with_g)] - index[tuple(without)])
    exact = explainr.attribute(model, window, "exact_shapley", window=BLOCK)
    kernel = explainr.attribute(model, window, "kernel_shap", window=BLOCK, n_samples=5000)
    np.testing.assert_allclose(exact.group_values[0], brute, atol=1e-6)
    np.testing.assert_allclose(kernel.group_values[0], brute, atol=1e-6)


def test_the_model_and_thread_count_are_restored_after_an_error() -> None:
    class Failing(Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            super().forward(x)
            raise RuntimeError("head broke")

    model = made(Failing())
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError), sharing_prefixes(model, [6, 12]), torch.no_grad():
        model(torch.zeros(4, STEPS, FEATURES))
    assert "forward" not in vars(model.rnn)
    assert torch.get_num_threads() == threads


def test_concurrent_blocks_on_one_model() -> None:
    """Threads explaining the same model at once each get exact values; nothing stays."""
    model = made(Net(nn.GRU))
    scalar = ScalarModel(model, 0, rows_for(model, torch.device("cpu")))
    keep = coalitions(150)
    windows = torch.randn(6, STEPS, FEATURES, generator=torch.Generator().manual_seed(4))
    baseline = torch.zeros(STEPS, FEATURES)
    out: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        out[i] = scalar.masked_groups(windows[i], baseline[None], keep, CELL_GROUP)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(windows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(len(windows)):
        np.testing.assert_allclose(out[i], plain(model, windows[i], baseline, keep), atol=1e-6)
    assert "forward" not in vars(model.rnn)


def test_gradients_and_plain_calls_are_untouched_inside_a_block() -> None:
    """With gradients on, or without starts, the layer runs as usual (same graph)."""
    model = made(Net(nn.LSTM))
    x = torch.randn(5, STEPS, FEATURES, requires_grad=True)
    reference = torch.autograd.grad(model(x).sum(), x)[0]
    with sharing_prefixes(model, [6, 12, 18]):
        inside = torch.autograd.grad(model(x).sum(), x)[0]
    torch.testing.assert_close(inside, reference, rtol=0, atol=0)
