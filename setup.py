"""Build step: ship the model zoo inside the package.

``models/`` stays where models are trained and documented. When a wheel is built,
`build_py` copies each model's ``card.json`` and ``model.safetensors`` and the CSVs of
``models/data/`` into ``explainr/_zoo_data/`` (same layout), where `explainr.zoo` finds
them once installed. Editable installs skip the copy: the package reads ``models/`` itself.
Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ZOO_FILES = ("*/card.json", "*/model.safetensors", "data/*.csv", "data/README.md", "README.md")


def zoo_files() -> list[Path]:
    """The zoo's shipped files, relative to ``models/``, sorted."""
    models = ROOT / "models"
    found = {p.relative_to(models) for pattern in ZOO_FILES for p in models.glob(pattern)}
    return sorted(found)


class BuildWithZoo(build_py):
    """`build_py` that also copies the zoo into ``explainr/_zoo_data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        files = zoo_files()
        if not any(f.name == "card.json" for f in files):
            raise SystemExit("explainr build: no models/*/card.json found; the zoo is missing")
        target = Path(self.build_lib) / "explainr" / "_zoo_data"
        for rel in files:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / "models" / rel, dest)


setup(cmdclass={"build_py": BuildWithZoo})
