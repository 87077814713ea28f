"""LSTM vs GRU on the same data: do they look at the same years, and how do their gates behave?

Trains a small LSTM and a small GRU on yearly sunspot numbers (shipped with the zoo) for a
few seconds each, then compares their integrated-gradients attributions over time (rank
agreement) and their gate saturation (Karpathy et al. 2015), and writes one report per model.

    python examples/lstm_vs_gru.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

import explainr
from explainr import metrics


class Forecaster(nn.Module):
    def __init__(self, cell: type[nn.Module], hidden: int = 24) -> None:
        super().__init__()
        self.rnn = cell(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train briefly (smoke run)")
    args = parser.parse_args()
    torch.manual_seed(0)

    zoo = explainr.zoo.load("sunspots_gru")  # for its data and scaling only
    series = zoo.scale(zoo.data()[zoo.feature_names].to_numpy()).astype(np.float32)
    window = zoo.window
    x = torch.as_tensor(np.stack([series[i : i + window] for i in range(len(series) - window)]))
    y = torch.as_tensor(series[window:, 0])
    test_x, _ = zoo.windows(last=1)

    reports = {}
    for name, cell in (("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        model = Forecaster(cell)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(30 if args.quick else 300):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        model.eval()
        ex = explainr.explain(
            model, test_x, methods=("integrated_gradients",), title=f"Sunspots {name}"
        )
        r = ex.trace["rnn"]
        gates = r.gate_names
        saturated = {
            g: float(((r.gate(g) < 0.1) | (r.gate(g) > 0.9)).float().mean())
            for g in gates
            if g not in ("cell", "new")
        }
        print(
            f"{name}: train MSE {loss.item():.3f}; fraction of saturated gate values: "
            + ", ".join(f"{g} {v:.0%}" for g, v in saturated.items())
        )
        reports[name] = ex
        print(f"  report: {ex.save_html(f'reports/sunspots_{name.lower()}.html')}")

    a, b = (reports[k].attributions["integrated_gradients"] for k in ("LSTM", "GRU"))
    agreement = metrics.rank_agreement(a, b)
    print(
        f"LSTM vs GRU attributions: Spearman {agreement.spearman[0]:.2f}, "
        f"top-{agreement.k} overlap {agreement.top_k_overlap[0]:.0%}"
    )


if __name__ == "__main__":
    main()
