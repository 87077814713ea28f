"""Size and build time of the report of a 2-layer H=128 LSTM over T=500 steps.

    python benchmarks/report_size.py

Not a test (timings depend on the machine); tests/report/test_report.py checks the size.
Targets: at most 6 MB, built in at most 5 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
from report_helpers import Forecaster, grad_x_input, scaled, sine_frame

import explainr


def main() -> None:
    torch.manual_seed(0)
    frame = sine_frame(500)
    model = Forecaster(3, hidden=128, layers=2)
    x = scaled(frame)
    with explainr.record(model) as rec:
        model(x)
    a = grad_x_input(model, x, frame, "integrated_gradients")
    b = grad_x_input(model, x * 0.9, frame, "lime")
    with tempfile.TemporaryDirectory() as folder:
        for shared in ("inline", "shared"):
            start = time.perf_counter()
            rep = explainr.Report(title="T=500", model=model)
            rep.add_trace(rec.trace)
            rep.add_attribution(a)
            rep.add_attribution(b)
            rep.add_input(frame)
            path = rep.save(Path(folder) / f"{shared}.html", plotlyjs=shared)
            seconds = time.perf_counter() - start
            print(
                f"plotlyjs={shared}: {path.stat().st_size:,} bytes, built and saved in {seconds:.2f} s"
            )


if __name__ == "__main__":
    main()
