"""A run killed mid-way (SIGKILL of a subprocess) resumes to the values of an uninterrupted run,
computing only the chunks it had not finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import explainr
from tests.dataset import models

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {"methods": ("integrated_gradients",), "chunk": 2, "n_steps": 16}
N = 20  # 10 chunks
SCRIPT = """
import sys, explainr
from tests.dataset import models
explainr.explain_dataset(models.slow(), models.windows({n}), store=sys.argv[1], **{options})
"""


def _done(store: Path) -> int:
    folder = store / "done" / "c"
    return len(os.listdir(folder)) if folder.is_dir() else 0


def test_a_killed_run_resumes_with_only_the_missing_chunks(tmp_path):
    store = tmp_path / "run.zarr"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = SCRIPT.format(n=N, options=OPTIONS)
    child = subprocess.Popen([sys.executable, "-c", code, str(store)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 120
        while _done(store) < 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    finished = explainr.open_run(store).done
    missing = np.flatnonzero(~finished).tolist()
    assert 2 <= finished.sum() < len(finished)
    resumed = explainr.explain_dataset(models.slow(), models.windows(N), store=store, **OPTIONS)
    assert resumed.computed == missing
    assert resumed.complete
    whole = explainr.explain_dataset(  # the same weights, never interrupted
        models.model(), models.windows(N), store=tmp_path / "whole.zarr", **OPTIONS
    )
    for name in ("attr_integrated_gradients", "prediction", "x", "chunk_gate_rnn_0_sum"):
        np.testing.assert_array_equal(resumed.dataset[name].values, whole.dataset[name].values)
    np.testing.assert_array_equal(
        resumed.dataset["gate_rnn_0_forget_mean"].values,
        whole.dataset["gate_rnn_0_forget_mean"].values,
    )
    again = explainr.explain_dataset(models.slow(), models.windows(N), store=store, **OPTIONS)
    assert again.computed == []
