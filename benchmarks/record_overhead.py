"""Time of a forward under `explainr.record` vs the plain fused forward, and memory on a long
sequence.

Part 1 (B=64, T=100, F=8, H=64, 2 layers, CPU, 2 threads): nn.LSTM and nn.GRU, each under
``torch.no_grad()`` and in grad mode (as in ``with record(model): y = model(x)``), recording
everything, one gate, or hidden states only; each ratio is to the plain forward in the same
mode. The naive alternative users write, a Python LSTMCell/GRUCell loop storing its gates,
is timed too (no_grad). All variants of a model alternate within each repeat; medians after
a warm-up.

Part 2: a 2-layer H=128 LSTM over T=10,000 steps (B=16) under no_grad, one gate kept in
float16, each variant in a fresh process: its peak resident memory above the process's
state before the call, next to the bytes kept.

Each row also gives the median minor page faults per call (first touches of fresh memory,
which cost several microseconds each on a VM and explain much of what is left).

    python benchmarks/record_overhead.py [--repeats 21] [--skip-long] [--threads 2]
        [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

import explainr

B, T, F, H, LAYERS = 64, 100, 8, 64, 2
LONG = {"batch": 16, "steps": 10_000, "features": 8, "hidden": 128, "layers": 2}
KEEP = {  # what the record block keeps: (gates, states)
    "all kept": (None, ("cell", "hidden")),
    "one gate": (None, ()),  # the gate is filled in per model kind
    "hidden only": ((), ("hidden",)),
}
ONE_GATE = {"LSTM": "forget", "GRU": "update"}


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


def measure(variants: dict, repeats: int, clock=time.perf_counter) -> dict[str, tuple]:
    """Median ms and median minor page faults per call, per variant, variants alternated
    within each repeat (A B C A B C ...) after one warm-up round."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    faults: dict[str, list[int]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in variants.items():
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = clock()
            fn()
            times[name].append((clock() - t0) * 1e3)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return {k: (statistics.median(times[k]), statistics.median(faults[k])) for k in variants}


def variants_for(kind: str, rnn: nn.Module, x: torch.Tensor) -> dict:
    """Name -> callable: plain and recorded forwards in both modes, and the Python loop."""
    out = {}
    for mode in ("no_grad", "grad"):
        context = torch.no_grad if mode == "no_grad" else contextlib.nullcontext

        def plain(context=context):
            with context():
                rnn(x)

        out[(mode, "fused")] = plain
        for keep, (gates, states) in KEEP.items():
            if keep == "one gate":
                gates = (ONE_GATE[kind],)

            def recorded(context=context, gates=gates, states=states):
                with context(), explainr.record(rnn, gates=gates, states=states):
                    rnn(x)

            out[(mode, keep)] = recorded
    cells = cells_of(rnn)
    naive = naive_lstm if kind == "LSTM" else naive_gru

    def python_loop():
        with torch.no_grad():
            naive(cells, x)

    out[("no_grad", "Python cell loop")] = python_loop
    return out


def overhead_table(repeats: int, clock_name: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    clock = {"wall": time.perf_counter, "cpu": time.process_time}[clock_name]
    print(
        f"# record overhead: B={B} T={T} F={F} H={H} layers={LAYERS}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, median of {repeats}, "
        f"{clock_name} time; load average {_load()}"
    )
    print("| model | mode | plain forward ms | kept | record ms | ratio | page faults/call |")
    print("|---|---|---|---|---|---|---|")
    for kind, cls in (("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        rnn = cls(F, H, num_layers=LAYERS, batch_first=True).eval()
        ms = measure(variants_for(kind, rnn, x), repeats, clock)
        for mode in ("no_grad", "grad"):
            base, base_faults = ms[(mode, "fused")]
            print(f"| {kind} | {mode} | {base:.2f} | (plain) | | 1.00x | {base_faults:.0f} |")
            for keep in (*KEEP, "Python cell loop"):
                if (mode, keep) in ms:
                    got, faults = ms[(mode, keep)]
                    print(
                        f"| {kind} | {mode} | {base:.2f} | {keep} | {got:.2f} | "
                        f"{got / base:.2f}x | {faults:.0f} |"
                    )
    print(f"(load average after: {_load()})")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def long_child(variant: str) -> None:
    """One variant of part 2 in this (fresh) process; prints one table row."""
    torch.manual_seed(0)
    c = LONG
    lstm = nn.LSTM(c["features"], c["hidden"], num_layers=c["layers"], batch_first=True)
    x = torch.randn(c["batch"], c["steps"], c["features"])
    with torch.no_grad():  # warm-up on a short piece: allocator and oneDNN set up
        lstm(x[:, :50])
        with explainr.record(lstm, gates=("forget",), states=(), dtype=torch.float16):
            lstm(x[:, :50])
    # Resident memory now, not the high-water mark so far (which the imports may have set
    # higher): the call's peak (ru_maxrss after it) minus this is what the call added.
    before = _resident_mib()
    t0 = time.perf_counter()
    kept = 0
    with torch.no_grad():
        if variant == "plain":
            out, _ = lstm(x)
        else:
            with explainr.record(lstm, gates=("forget",), states=(), dtype=torch.float16) as rec:
                out, _ = lstm(x)
            kept = rec.trace.nbytes
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output = out.numel() * out.element_size() / 2**20
    print(
        f"| {variant} | {seconds:.2f} | {peak - before:.0f} | {output:.0f} | {kept / 2**20:.0f} |"
    )


def _resident_mib() -> float:
    """Resident memory now (Linux ``/proc/self/statm``), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_table(threads: int) -> None:
    c = LONG
    print()
    print(
        f"# long sequence: {c['layers']}-layer LSTM, B={c['batch']} T={c['steps']} "
        f"F={c['features']} H={c['hidden']}, no_grad, forget gate of both layers kept in "
        "float16; each row a fresh process"
    )
    print("| variant | s | peak RSS above start, MiB | model output, MiB | kept, MiB |")
    print("|---|---|---|---|---|")
    for variant in ("plain", "record"):
        subprocess.run(
            [sys.executable, __file__, "--long-child", variant, "--threads", str(threads)],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--skip-long", action="store_true", help="skip part 2")
    parser.add_argument("--long-child", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2 as prescribed)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time (prescribed), or process CPU time (steadier on a loaded machine "
        "with --threads 1)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.long_child:
        long_child(args.long_child)
        return
    overhead_table(args.repeats, args.clock)
    if not args.skip_long:
        long_table(args.threads)


if __name__ == "__main__":
    main()
