"""Reading a Keras 3 model file: its JSON config and each layer's weights, with h5py only.

A ``.keras`` file is a zip archive holding ``config.json`` and ``model.weights.h5``; a
legacy ``.h5`` file holds the config as its ``model_config`` attribute and the weights
under ``model_weights/<layer>``. Nothing in either is ever executed or unpickled.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explainr._core.errors import ExplainrError

# Sub-objects of a layer in ``model.weights.h5``, in the order Keras lists their weights.
_CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")


@dataclass(frozen=True)
class KerasFile:
    """What a Keras model file holds: ``config`` (the model's JSON config) and ``weights``
    (layer name -> that layer's weight arrays, in the order of ``layer.weights``)."""

    path: str
    config: dict[str, Any]
    weights: dict[str, list[np.ndarray]]


def read(path: str | Path) -> KerasFile:
    """Read a ``.keras`` archive or a Keras ``.h5`` file (told apart by content)."""
    file = Path(path)
    if not file.is_file():
        raise ExplainrError(f"Keras model file {str(path)!r} does not exist")
    h5py = _h5py()
    if zipfile.is_zipfile(file):
        return _read_archive(file, h5py)
    if h5py.is_hdf5(file):
        return _read_legacy(file, h5py)
    raise ExplainrError(
        f"{file} is neither a .keras archive (zip) nor an HDF5 file; save the model with "
        "model.save('model.keras')"
    )


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise ExplainrError(
            "reading Keras files needs h5py: pip install 'explainr[keras]' (Keras and "
            "TensorFlow are not needed)"
        ) from e
    return h5py


def _read_archive(file: Path, h5py: Any) -> KerasFile:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise ExplainrError(
                    f"{file} is a zip archive but not a Keras model: it lacks "
                    f"{sorted(missing)} (it holds {sorted(names)[:5]})"
                )
            config = _json(archive.read("config.json"), file)
            raw = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, OSError, RuntimeError) as e:
        raise ExplainrError(f"cannot read the Keras archive {file}: {e}") from e
    try:
        with h5py.File(io.BytesIO(raw), "r") as h5:
            weights = _archive_weights(h5, h5py)
    except (OSError, KeyError, ValueError) as e:
        raise ExplainrError(f"cannot read the weights in {file}: {e}") from e
    return KerasFile(str(file), config, weights)


def _archive_weights(h5: Any, h5py: Any) -> dict[str, list[np.ndarray]]:
    weights: dict[str, list[np.ndarray]] = {}
    for key, group in h5.get("layers", {}).items():
        name = _text(group["vars"].attrs.get("name", key)) if "vars" in group else key
        weights[name] = _flat_vars(group, h5py)
    return weights


def _flat_vars(group: Any, h5py: Any) -> list[np.ndarray]:
    """The group's own ``vars/0, 1, ...`` then its sub-objects' (cell, forward, backward)."""
    arrays = []
    if "vars" in group:
        own = group["vars"]
        arrays = [np.asarray(own[k]) for k in sorted(own, key=int)]
    children = [k for k in group if k != "vars" and isinstance(group[k], h5py.Group)]
    known = [k for k in _CHILD_ORDER if k in children]
    for key in known + sorted(set(children) - set(known)):
        arrays += _flat_vars(group[key], h5py)
    return arrays


def _read_legacy(file: Path, h5py: Any) -> KerasFile:
    try:
        with h5py.File(file, "r") as h5:
            if "model_config" not in h5.attrs:
                raise ExplainrError(
                    f"{file} is an HDF5 file without a model_config attribute (weights only?); "
                    "explainr needs the whole model: model.save('model.keras')"
                )
            config = _json(h5.attrs["model_config"], file)
            root = h5.get("model_weights", h5)
            weights = {}
            for name in (_text(n) for n in root.attrs.get("layer_names", [])):
                group = root[name]
                weights[name] = [
                    np.asarray(group[_text(w)]) for w in group.attrs.get("weight_names", [])
                ]
    except (OSError, KeyError, ValueError) as e:
        raise ExplainrError(f"cannot read the Keras HDF5 file {file}: {e}") from e
    return KerasFile(str(file), config, weights)


def _json(raw: bytes | str, file: Path) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ExplainrError(f"the model config in {file} is not valid JSON: {e}") from e
    if not isinstance(config, dict) or "class_name" not in config:
        raise ExplainrError(f"the model config in {file} has no class_name: not a Keras model")
    return config


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
