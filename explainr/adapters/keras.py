"""Keras 3 models as PyTorch modules, read from their files without Keras or TensorFlow.

`load` reads a ``.keras`` archive (``config.json`` + ``model.weights.h5``) or a Keras 3
``.h5`` file with ``json``, ``zipfile`` and ``h5py`` and builds the same computation from
``torch.nn`` and ``explainr.nn`` modules, named as the Keras layers are, so that
``explainr.record`` and the attribution methods work on it like on any PyTorch model.
Nothing from the file is unpickled or executed.

Supported layers: InputLayer, Dense, Activation, Dropout (identity: inference),
Flatten, Conv1D, BatchNormalization (inference, last axis), TimeDistributed(Dense and
the other per-step layers), LSTM, GRU (``reset_after=True`` -> ``nn.GRU``; ``False`` ->
`explainr.nn.ResetBeforeGRU`), SimpleRNN (-> ``nn.RNN``), Bidirectional (merge modes
concat, sum, mul, ave) and ConvLSTM2D (``padding="same"`` -> `explainr.nn.ConvLSTM`), in a
Sequential model or a Functional model that is a single chain of layers.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from explainr._core.errors import ExplainrError
from explainr.adapters._keras._convert import convert
from explainr.adapters._keras._files import read
from explainr.adapters._keras._graph import layer_chain
from explainr.adapters._keras._modules import KerasModel

__all__ = ["KerasModel", "load"]


def load(path: str | Path) -> nn.Module:
    """Build the PyTorch twin of a saved Keras model.

    Args:
        path: a ``.keras`` file (``model.save("model.keras")``) or a Keras 3 ``.h5`` file.

    Returns:
        A `KerasModel` in eval mode; ``model(x)`` equals Keras's ``model.predict(x)`` for
        ``x`` shaped as Keras's input, e.g. ``(batch, time, feature)``. Each Keras layer is a
        child module of the same name (``model.lstm_1`` is an ``nn.LSTM``).

    Raises:
        ExplainrError: the file is missing, not a Keras model, or holds a layer explainr
            cannot convert (a ``Lambda`` layer, an unsupported layer or option, a
            branching graph), named in the message.

    >>> import explainr.adapters.keras as keras_files
    >>> keras_files.load("no_such_model.keras")
    Traceback (most recent call last):
    ...
    explainr._core.errors.ExplainrError: Keras model file 'no_such_model.keras' does not exist
    """
    file = read(path)
    chain = layer_chain(file.config, file.path)
    if not chain:
        raise ExplainrError(f"{file.path}: the model has no layers to convert")
    layers, used = [], set()
    for spec in chain:
        weights = file.weights.get(spec.name, [])
        module, step = convert(spec, weights)
        layers.append((_attribute_name(spec.name, used), module, step))
    return KerasModel(layers).eval()


def _attribute_name(name: str, used: set[str]) -> str:
    """The Keras name as a torch child name (letters, digits, underscores), made unique."""
    base = re.sub(r"\W", "_", name) or "layer"
    if base[0].isdigit() or base.startswith("_") or hasattr(KerasModel, base):
        base = f"layer_{base}"
    candidate, k = base, 1
    while candidate in used:
        candidate, k = f"{base}_{k}", k + 1
    used.add(candidate)
    return candidate
