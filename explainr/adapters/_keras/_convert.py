"""The table of Keras layer classes explainr converts, and `convert` that reads it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explainr._core.errors import ExplainrError
from explainr.adapters._keras import _layers as plain
from explainr.adapters._keras import _recurrent as recurrent
from explainr.adapters._keras._graph import LayerSpec
from explainr.adapters._keras._layers import Built, inner_layer, where
from explainr.adapters._keras._modules import Apply, TimeDistributed


def convert(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """The torch module and call step for one Keras layer; ExplainrError if unsupported."""
    if spec.class_name == "Lambda":
        raise ExplainrError(
            f"layer {spec.name!r} is a Lambda layer: it holds Python code, which explainr never "
            "runs from a file; rewrite it as built-in layers or port the model to PyTorch"
        )
    converter = CONVERTERS.get(spec.class_name)
    if converter is None:
        raise ExplainrError(
            f"layer {spec.name!r} is a Keras {spec.class_name}, which explainr cannot convert; "
            f"supported layers: {sorted([*CONVERTERS, 'InputLayer'])}"
        )
    return converter(spec, weights)


def time_distributed(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``TimeDistributed(layer)``: any per-step layer (Dense, Activation, ...)."""
    inner = inner_layer(spec)
    module, step = convert(inner, weights)
    if not isinstance(step, Apply) or inner.class_name == "TimeDistributed":
        raise ExplainrError(f"{where(spec)}: TimeDistributed({inner.class_name}) is not supported")
    return module, TimeDistributed()


CONVERTERS: dict[str, Callable[[LayerSpec, list[np.ndarray]], Built]] = {
    "Dense": plain.dense,
    "Activation": plain.activation_layer,
    "Dropout": plain.dropout,
    "Flatten": plain.flatten,
    "Conv1D": plain.conv1d,
    "BatchNormalization": plain.batch_norm,
    "TimeDistributed": time_distributed,
    "LSTM": recurrent.recurrent,
    "GRU": recurrent.recurrent,
    "SimpleRNN": recurrent.recurrent,
    "Bidirectional": recurrent.bidirectional,
    "ConvLSTM2D": recurrent.conv_lstm_2d,
}
