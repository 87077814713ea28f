"""Smoke run of every script in examples/ (quick mode), as a user would start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"forecasting", "classification", "lstm_vs_gru", "convlstm", "analysis"} <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    if "report:" in res.stdout:
        path = Path(tmp_path, res.stdout.split("report:")[-1].split()[0])
        assert path.is_file() and path.stat().st_size > 100_000
