"""The Keras models of these tests, built once per session by Keras in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .make_keras_models import MODELS, REFUSED

MAKER = Path(__file__).with_name("make_keras_models.py")


@pytest.fixture(scope="session")
def keras_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved models and Keras's answers, made once per session."""
    out = tmp_path_factory.mktemp("keras_models")
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run(
        [sys.executable, str(MAKER), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, f"building the Keras models failed:\n{res.stderr[-4000:]}"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {"models": list(MODELS), "refused": list(REFUSED)}
    return out
