"""The built wheel works outside the repository: zoo inside, CLI and README quick start run.

Builds the wheel from a copy of the checkout (``pip wheel --no-deps --no-build-isolation``),
installs it with ``pip install --no-deps --target`` and runs it with this interpreter from
an empty temporary folder, ``PYTHONPATH`` holding only the install: the dependencies come
from this environment, explainr and its zoo only from the wheel (checked). About a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "reports", "_zoo_data", "tmp"
)
PIP = (sys.executable, "-m", "pip", "--no-input", "--disable-pip-version-check")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("wheel")
    source, wheels, target, work = (base / d for d in ("src", "wheels", "site", "work"))
    shutil.copytree(ROOT, source, ignore=SKIP)
    built = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "warning" not in (built.stdout + built.stderr).lower(), built.stderr
    (wheel,) = wheels.glob("explainr-*.whl")
    subprocess.run(
        [*PIP, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )
    work.mkdir()
    return {"wheel": wheel, "site": target, "work": work}


def _run(installed: dict[str, Path], *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EXPLAINR_MODELS")}
    environ.update(PYTHONPATH=str(installed["site"]), OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=installed["work"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_wheel_holds_the_zoo_and_the_licence(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    cards = sorted(p.parent.name for p in (ROOT / "models").glob("*/card.json"))
    for name in cards:
        assert f"explainr/_zoo_data/{name}/card.json" in names
        assert f"explainr/_zoo_data/{name}/model.safetensors" in names
    for csv in (ROOT / "models" / "data").glob("*.csv"):
        assert f"explainr/_zoo_data/data/{csv.name}" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(installed["wheel"]).read(
        next(n for n in names if n.endswith("METADATA"))
    )
    assert b"License-Expression: MIT" in metadata


def test_imports_the_installed_copy_not_the_checkout(installed):
    done = _run(installed, "-c", "import explainr, explainr.zoo as z; print(explainr.__file__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(installed["site"]))
    done = _run(installed, "-c", "import explainr.zoo as z; print(z.models_dir())")
    assert done.stdout.strip() == str(installed["site"] / "explainr" / "_zoo_data")


def test_models_lists_the_zoo_from_anywhere(installed):
    done = _run(installed, "-m", "explainr", "models")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == sorted(p.parent.name for p in (ROOT / "models").glob("*/card.json"))


def test_models_with_a_missing_zoo_is_an_error(installed):
    done = _run(installed, "-m", "explainr", "models", EXPLAINR_MODELS="/nonexistent/zoo")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "/nonexistent/zoo" in done.stderr


def test_demo_runs_from_anywhere(installed):
    done = _run(installed, "-m", "explainr", "demo", "--out", "demo.html")
    assert done.returncode == 0, done.stderr
    assert (installed["work"] / "demo.html").stat().st_size > 100_000
    assert "integrated_gradients" in done.stdout


def test_readme_quick_start_runs_from_anywhere(installed):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    (installed["work"] / "quickstart.py").write_text(code)
    done = _run(installed, "quickstart.py")
    assert done.returncode == 0, done.stderr
    for path in re.findall(r'"(reports/[\w.]+\.html)"', code):
        assert (installed["work"] / path).stat().st_size > 100_000
