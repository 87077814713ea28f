"""Look inside a ConvLSTM: gate maps over a moving square, and which frames the forecast used.

The zoo's ``moving_convlstm`` reads 8 frames of 8x8 pixels with a bouncing square and
forecasts the square's next column. Its gates are convolutions, so `record` gives gate
*maps* (batch, time, channels, height, width).

    python examples/convlstm.py [--quick]
"""

from __future__ import annotations

import argparse

import torch

import explainr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.parse_args()

    zoo = explainr.zoo.load("moving_convlstm")
    x, _ = zoo.windows(last=1)  # (1, 8, 64): frames flattened to features
    with torch.no_grad(), explainr.record(zoo.model) as rec:
        prediction = zoo.model(x)
    name = next(iter(rec.trace))
    r = rec.trace[name]
    forget = r.gate("forget")  # (1, 8, channels, 8, 8)
    print(f"module {name!r} ({r.kind}): forget-gate maps {tuple(forget.shape)}")
    print(
        "mean forget gate per frame:",
        " ".join(f"{v:.2f}" for v in forget.mean(dim=(0, 2, 3, 4)).tolist()),
    )

    a = explainr.attribute(zoo.model, x, method="integrated_gradients", progress=False)
    by_frame = a.by_time()[0]
    print(
        f"predicted column {prediction.item():.2f}; |attribution| per frame:",
        " ".join(f"{abs(v):.2f}" for v in by_frame),
    )
    pixels = a.values[0, -1].reshape(8, 8)
    row, col = divmod(int(abs(pixels).argmax()), 8)
    print(f"most important pixel of the last frame: row {row}, column {col}")


if __name__ == "__main__":
    main()
