"""Build small Keras 3 models like users write, save them, and save Keras's own predictions.

Run in its own process with ``KERAS_BACKEND=torch`` (the tests do that)::

    KERAS_BACKEND=torch python tests/adapters/make_keras_models.py OUT_DIR

For every model NAME it writes ``NAME.keras``, ``NAME.h5``, ``NAME.x.npy`` (a fixed input),
``NAME.y.npy`` (``model.predict`` on it), ``NAME.weights.npz`` (each layer's weights as
Keras holds them, keys ``"<layer>/<i>"``) and ``NAME.outputs.npz`` (each layer's output on
``x`` as Keras computes it, keyed by layer name), then ``manifest.json``. Importing this module does
not import keras: the builders take the ``keras`` module as their argument.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ACTIVATIONS = (
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "gelu",
    "exponential",
    "leaky_relu",
    "relu6",
    "hard_silu",
    "mish",
    "log_softmax",
)


def _seq(keras: Any, shape: tuple[int, ...], *layers: Any) -> Any:
    return keras.Sequential([keras.Input(shape), *layers])


def stacked_lstm(keras: Any) -> Any:
    L = keras.layers
    return _seq(keras, (12, 3), L.LSTM(50, return_sequences=True), L.LSTM(50), L.Dense(1))


def gru_dropout(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (10, 2),
        L.GRU(16, return_sequences=True),
        L.Dropout(0.2),
        L.GRU(8),
        L.Dropout(0.2),
        L.Dense(3, activation="softmax"),
    )


def bidirectional(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (9, 3),
        L.Bidirectional(L.LSTM(8, return_sequences=True)),
        L.Bidirectional(L.GRU(5, return_sequences=True), merge_mode="mul"),
        L.Bidirectional(L.SimpleRNN(4, activation="relu", return_sequences=True), merge_mode="sum"),
        L.Bidirectional(L.LSTM(6), merge_mode="ave"),
        L.Dense(2),
    )


def conv_lstm(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (4, 6, 5, 2),
        L.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
        L.ConvLSTM2D(2, (3, 1), padding="same", go_backwards=True, use_bias=False),
        L.Flatten(),
        L.Dense(1),
    )


def gru_reset_before(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (8, 3),
        L.GRU(7, reset_after=False, return_sequences=True),
        L.GRU(5, reset_after=False, go_backwards=True, return_sequences=True),
        L.Bidirectional(L.GRU(4, reset_after=False, use_bias=False)),
        L.Dense(1),
    )


def gru_reset_before_activations(keras: Any) -> Any:
    L = keras.layers
    gru = L.GRU(5, reset_after=False, activation="relu", recurrent_activation="hard_sigmoid")
    return _seq(keras, (6, 2), gru, L.Dense(1))


def simple_rnn(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (7, 2),
        L.SimpleRNN(6, return_sequences=True),
        L.SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True),
        L.Flatten(),
        L.Dense(3, activation="tanh", use_bias=False),
        L.Dense(2),
    )


def conv1d_batchnorm_lstm(keras: Any) -> Any:
    """A Functional chain: Conv1D (same, strided, causal dilated, valid) + BatchNorm + LSTM."""
    L = keras.layers
    inputs = keras.Input((16, 3))
    x = L.Conv1D(8, 3, padding="same", activation="relu")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Conv1D(6, 3, strides=2, padding="same", groups=2)(x)
    x = L.Conv1D(6, 2, padding="causal", dilation_rate=2, activation="tanh")(x)
    x = L.Conv1D(5, 3, use_bias=False)(x)
    x = L.BatchNormalization(center=False, epsilon=0.01)(x)
    x = L.LSTM(6)(x)
    x = L.BatchNormalization(scale=False)(x)
    return keras.Model(inputs, L.Dense(1)(x))


def time_distributed(keras: Any) -> Any:
    L = keras.layers
    return _seq(
        keras,
        (6, 4),
        L.LSTM(6, return_sequences=True, go_backwards=True, use_bias=False),
        L.TimeDistributed(L.Dense(3, activation="tanh")),
        L.GRU(5, return_sequences=True, use_bias=False),
        L.Activation("relu"),
        L.Flatten(),
        L.Dense(1),
    )


def _activation(name: str) -> Callable[[Any], Any]:
    def build(keras: Any) -> Any:
        return _seq(keras, (5,), keras.layers.Dense(4, activation=name))

    return build


MODELS: dict[str, Callable[[Any], Any]] = {
    "stacked_lstm": stacked_lstm,
    "gru_dropout": gru_dropout,
    "bidirectional": bidirectional,
    "conv_lstm": conv_lstm,
    "gru_reset_before": gru_reset_before,
    "gru_reset_before_activations": gru_reset_before_activations,
    "simple_rnn": simple_rnn,
    "conv1d_batchnorm_lstm": conv1d_batchnorm_lstm,
    "time_distributed": time_distributed,
} | {f"activation_{a}": _activation(a) for a in ACTIVATIONS}


def lambda_layer(keras: Any) -> Any:
    L = keras.layers
    return _seq(keras, (5, 2), L.LSTM(3), L.Lambda(lambda t: t * 2.0), L.Dense(1))


def unknown_layer(keras: Any) -> Any:
    L = keras.layers
    return _seq(keras, (5, 2), L.LSTM(3), L.LayerNormalization(), L.Dense(1))


def branching(keras: Any) -> Any:
    L = keras.layers
    inputs = keras.Input((5, 2))
    a = L.LSTM(3)(inputs)
    b = L.GRU(3)(inputs)
    return keras.Model(inputs, L.Dense(1)(L.Add()([a, b])))


def hard_sigmoid_lstm(keras: Any) -> Any:
    L = keras.layers
    return _seq(keras, (5, 2), L.LSTM(3, recurrent_activation="hard_sigmoid"), L.Dense(1))


def valid_conv_lstm(keras: Any) -> Any:
    L = keras.layers
    return _seq(keras, (3, 5, 5, 1), L.ConvLSTM2D(2, 3), L.Flatten(), L.Dense(1))


def return_state(keras: Any) -> Any:
    L = keras.layers
    inputs = keras.Input((5, 2))
    output, _, _ = L.LSTM(3, return_state=True)(inputs)
    return keras.Model(inputs, L.Dense(1)(output))


REFUSED: dict[str, Callable[[Any], Any]] = {
    "lambda_layer": lambda_layer,
    "unknown_layer": unknown_layer,
    "branching": branching,
    "hard_sigmoid_lstm": hard_sigmoid_lstm,
    "valid_conv_lstm": valid_conv_lstm,
    "return_state": return_state,
}


def _randomise(model: Any, rng: np.random.Generator) -> None:
    """Seeded weights of a useful size; BatchNorm gets non-trivial moving statistics."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        names = [w.path.rsplit("/", 1)[-1] for w in layer.weights]
        new = []
        for name, w in zip(names, weights, strict=True):
            if name == "moving_variance":
                new.append(rng.uniform(0.3, 2.0, w.shape))
            elif name == "gamma":
                new.append(rng.uniform(0.5, 1.5, w.shape))
            else:
                new.append(rng.normal(0.0, 0.4, w.shape))
        layer.set_weights([n.astype(np.float32) for n in new])


def main(out: Path) -> None:
    import keras

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    manifest: dict[str, list[str]] = {"models": [], "refused": []}
    for name, build in MODELS.items():
        model = build(keras)
        _randomise(model, rng)
        x = rng.normal(0.0, 1.0, (3, *model.input_shape[1:])).astype(np.float32)
        y = model.predict(x, verbose=0)
        model.save(out / f"{name}.keras")
        model.save(out / f"{name}.h5")
        np.save(out / f"{name}.x.npy", x)
        np.save(out / f"{name}.y.npy", np.asarray(y))
        weights = {
            f"{layer.name}/{i}": np.asarray(w)
            for layer in model.layers
            for i, w in enumerate(layer.get_weights())
        }
        np.savez(out / f"{name}.weights.npz", **weights)
        layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
        outputs = probe.predict(x, verbose=0)
        outputs = outputs if len(layers) > 1 else [outputs]
        np.savez(
            out / f"{name}.outputs.npz",
            **{layer.name: np.asarray(o) for layer, o in zip(layers, outputs, strict=True)},
        )
        manifest["models"].append(name)
    for name, build in REFUSED.items():
        model = build(keras)
        model.save(out / f"{name}.keras")
        model.save(out / f"{name}.h5")
        manifest["refused"].append(name)
    (out / "manifest.json").write_text(json.dumps(manifest))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
