"""Time of a forward under `explainr.record` (all gates and cells kept) vs the plain fused forward.

Both in ``torch.no_grad()`` and in grad mode (the default, as in ``with record(model): y =
model(x)``): in grad mode on CPU the LSTM's gates come from oneDNN's training workspace.
Also times the naive alternative users write today: a Python LSTMCell/GRUCell loop that
stores its gates. Setting: B=64, T=100, F=8, H=64, 2 layers, CPU, 2 threads; ratios come
from one run, alternating the variants, median of repeats after a warm-up.

    python benchmarks/record_overhead.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

import explainr

B, T, F, H, LAYERS = 64, 100, 8, 64, 2


def naive_lstm(cells: list[nn.LSTMCell], x: torch.Tensor) -> list[list[torch.Tensor]]:
    """The usual rewrite: step LSTMCells in Python and store i, f, g, o, c per step."""
    store = []
    inp = x
    for cell in cells:
        h = x.new_zeros(x.shape[0], cell.hidden_size)
        c = torch.zeros_like(h)
        outs, gates = [], []
        for t in range(inp.shape[1]):
            pre = (
                inp[:, t] @ cell.weight_ih.t()
                + cell.bias_ih
                + h @ cell.weight_hh.t()
                + cell.bias_hh
            )
            i, f, g, o = pre.chunk(4, dim=1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            outs.append(h)
            gates.append((i, f, g, o, c))
        store.append(gates)
        inp = torch.stack(outs, dim=1)
    return store


def naive_gru(cells: list[nn.GRUCell], x: torch.Tensor) -> list[list[torch.Tensor]]:
    """The same for a GRU: r, z, n per step."""
    store = []
    inp = x
    for cell in cells:
        h = x.new_zeros(x.shape[0], cell.hidden_size)
        outs, gates = [], []
        for t in range(inp.shape[1]):
            gi = inp[:, t] @ cell.weight_ih.t() + cell.bias_ih
            gh = h @ cell.weight_hh.t() + cell.bias_hh
            r = (gi[:, :H] + gh[:, :H]).sigmoid()
            z = (gi[:, H : 2 * H] + gh[:, H : 2 * H]).sigmoid()
            n = (gi[:, 2 * H :] + r * gh[:, 2 * H :]).tanh()
            h = (1 - z) * n + z * h
            outs.append(h)
            gates.append((r, z, n))
        store.append(gates)
        inp = torch.stack(outs, dim=1)
    return store


def cells_of(rnn: nn.Module) -> list[nn.Module]:
    cls = nn.LSTMCell if isinstance(rnn, nn.LSTM) else nn.GRUCell
    cells = []
    for layer in range(rnn.num_layers):
        cell = cls(rnn.input_size if layer == 0 else rnn.hidden_size, rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(rnn, f"{name}_l{layer}"))
        cells.append(cell)
    return cells


def measure(variants: dict, repeats: int) -> dict[str, float]:
    """Median ms per variant, variants alternated within each repeat."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    rows = []
    for kind, cls in (("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        rnn = cls(F, H, num_layers=LAYERS, batch_first=True).eval()
        cells = cells_of(rnn)
        naive = naive_lstm if kind == "LSTM" else naive_gru

        def fused(rnn=rnn):
            with torch.no_grad():
                rnn(x)

        def recorded(rnn=rnn):
            with torch.no_grad(), explainr.record(rnn):
                rnn(x)

        def fused_grad(rnn=rnn):  # grad mode, as in `with record(model): y = model(x)`
            rnn(x)

        def recorded_grad(rnn=rnn):
            with explainr.record(rnn):
                rnn(x)

        def python_loop(cells=cells, naive=naive):
            with torch.no_grad():
                naive(cells, x)

        variants = {
            "fused": fused,
            "record": recorded,
            "fused_grad": fused_grad,
            "record_grad": recorded_grad,
            "loop": python_loop,
        }
        rows.append((kind, measure(variants, args.repeats)))
    print(
        f"# record overhead: B={B} T={T} F={F} H={H} layers={LAYERS}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, median of {args.repeats}"
    )
    print("| model | mode | fused ms | record ms | ratio | Python cell loop ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    for kind, ms in rows:
        loop = f"{ms['loop']:.2f} | {ms['loop'] / ms['fused']:.2f}x"
        print(
            f"| {kind} | no_grad | {ms['fused']:.2f} | {ms['record']:.2f} | "
            f"{ms['record'] / ms['fused']:.2f}x | {loop} |"
        )
        print(
            f"| {kind} | grad | {ms['fused_grad']:.2f} | {ms['record_grad']:.2f} | "
            f"{ms['record_grad'] / ms['fused_grad']:.2f}x | | |"
        )


if __name__ == "__main__":
    main()
