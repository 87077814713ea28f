"""Converters of the recurrent Keras layers. Weight layouts (Keras -> PyTorch):

- LSTM: gates i, f, c, o = PyTorch's i, f, g, o; ``weight_ih = kernel.T``,
  ``weight_hh = recurrent_kernel.T``, ``bias_ih = bias`` (``bias_hh`` zero).
- GRU: gates z, r, h -> PyTorch's r, z, n (columns reordered); ``reset_after=True`` has
  bias ``(2, 3H)`` = (input, recurrent) = (``bias_ih``, ``bias_hh``) and is ``nn.GRU``;
  ``reset_after=False`` has bias ``(3H,)`` and is `explainr.nn.ResetBeforeGRU`.
- SimpleRNN: ``nn.RNN`` (tanh or relu), weights as for LSTM.
- ConvLSTM2D: ``kernel (kh, kw, C, 4F)``, ``recurrent_kernel (kh, kw, F, 4F)`` ->
  ``ConvLSTM.weight_l0 = cat([kernel, recurrent_kernel], channels)`` as ``(4F, C+F, kh, kw)``.
- Bidirectional: the forward layer's weights, then the backward layer's.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from explainr._core.errors import ExplainrError
from explainr.adapters._keras._graph import LayerSpec
from explainr.adapters._keras._layers import Built, expect_count, inner_layer, put, where
from explainr.adapters._keras._modules import PairedBidirectional, Recurrent
from explainr.nn import ConvLSTM, ResetBeforeGRU
from explainr.nn.activations import ELEMENTWISE

MERGES = ("concat", "sum", "mul", "ave")


def _check_recurrent(spec: LayerSpec, cell_activations: dict[str, tuple[str, ...]]) -> None:
    """Refuse state-returning or stateful layers and activations the module cannot compute.

    ``cell_activations`` maps a config key to the names allowed for it, Keras's default first.
    """
    cfg = spec.config
    for flag in ("return_state", "stateful"):
        if cfg.get(flag):
            raise ExplainrError(
                f"{where(spec)}: {flag}=True is not supported (explainr explains a model "
                "that maps one window to one output)"
            )
    for key, allowed in cell_activations.items():
        value = cfg.get(key, allowed[0])
        if value not in allowed:
            raise ExplainrError(
                f"{where(spec)}: {key}={value!r} has no PyTorch equivalent here; "
                f"supported: {list(allowed)}"
            )


def _gru_order(a: np.ndarray) -> np.ndarray:
    """Keras's z, r, h blocks on the last axis -> PyTorch's r, z, n."""
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def _fill_rnn(
    module: nn.Module, suffix: str, spec: LayerSpec, weights: list[np.ndarray], gru: bool
) -> None:
    """Copy one direction's Keras cell weights into a torch RNN module's ``*_l0{suffix}``."""
    use_bias = spec.config.get("use_bias", True)
    expect_count(spec, weights, 3 if use_bias else 2)
    order = _gru_order if gru else (lambda a: a)
    put(module, f"weight_ih_l0{suffix}", order(weights[0]).T, spec)
    put(module, f"weight_hh_l0{suffix}", order(weights[1]).T, spec)
    if not use_bias:
        return
    bias = weights[2]
    if bias.ndim == 2:  # GRU reset_after=True: (input bias, recurrent bias)
        put(module, f"bias_ih_l0{suffix}", order(bias[0]), spec)
        put(module, f"bias_hh_l0{suffix}", order(bias[1]), spec)
    else:
        put(module, f"bias_ih_l0{suffix}", order(bias), spec)
        put(module, f"bias_hh_l0{suffix}", np.zeros_like(bias), spec)


def _rnn_module(spec: LayerSpec, weights: list[np.ndarray], bidirectional: bool) -> nn.Module:
    """An nn.LSTM / nn.GRU / nn.RNN / ResetBeforeGRU for an LSTM, GRU or SimpleRNN layer."""
    cfg, kind = spec.config, spec.class_name
    units, use_bias = int(cfg["units"]), cfg.get("use_bias", True)
    expect_count(spec, weights, (3 if use_bias else 2) * (2 if bidirectional else 1))
    size = weights[0].shape[0]
    args = {"bias": use_bias, "batch_first": True}
    if kind == "LSTM":
        _check_recurrent(spec, {"activation": ("tanh",), "recurrent_activation": ("sigmoid",)})
        module: nn.Module = nn.LSTM(size, units, bidirectional=bidirectional, **args)
    elif kind == "SimpleRNN":
        _check_recurrent(spec, {"activation": ("tanh", "relu")})
        nonlinearity = cfg.get("activation", "tanh")
        module = nn.RNN(size, units, nonlinearity=nonlinearity, bidirectional=bidirectional, **args)
    elif cfg.get("reset_after", True):
        _check_recurrent(spec, {"activation": ("tanh",), "recurrent_activation": ("sigmoid",)})
        module = nn.GRU(size, units, bidirectional=bidirectional, **args)
    else:
        others = tuple(a for a in ELEMENTWISE if a not in ("tanh", "sigmoid"))
        _check_recurrent(
            spec,
            {
                "activation": ("tanh", "sigmoid", *others),
                "recurrent_activation": ("sigmoid", "tanh", *others),
            },
        )
        module = ResetBeforeGRU(
            size,
            units,
            activation=cfg.get("activation", "tanh"),
            recurrent_activation=cfg.get("recurrent_activation", "sigmoid"),
            **args,
        )
    half = len(weights) // 2 if bidirectional else len(weights)
    _fill_rnn(module, "", spec, weights[:half], gru=kind == "GRU")
    if bidirectional:
        _fill_rnn(module, "_reverse", spec, weights[half:], gru=kind == "GRU")
    return module.eval()


def recurrent(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` -> its torch module, run as Keras runs it."""
    cfg = spec.config
    step = Recurrent(bool(cfg.get("return_sequences")), bool(cfg.get("go_backwards")))
    return _rnn_module(spec, weights, bidirectional=False), step


def bidirectional(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Bidirectional(LSTM | GRU | SimpleRNN)`` with merge concat, sum, mul or ave."""
    cfg = spec.config
    mode = cfg.get("merge_mode", "concat")
    if mode not in MERGES:
        raise ExplainrError(
            f"{where(spec)}: merge_mode={mode!r} is not supported (it returns two tensors); "
            f"use one of {list(MERGES)}"
        )
    inner = inner_layer(spec)
    if inner.class_name not in ("LSTM", "GRU", "SimpleRNN"):
        raise ExplainrError(f"{where(spec)}: Bidirectional({inner.class_name}) is not supported")
    if inner.config.get("go_backwards") or cfg.get("backward_layer") is not None:
        _check_backward(spec, inner)
    sequences = bool(inner.config.get("return_sequences"))
    if inner.class_name == "GRU" and not inner.config.get("reset_after", True):
        half = len(weights) // 2
        pair = nn.ModuleDict(
            {
                "forward_layer": _rnn_module(inner, weights[:half], bidirectional=False),
                "backward_layer": _rnn_module(inner, weights[half:], bidirectional=False),
            }
        )
        return pair, PairedBidirectional(sequences, mode)
    return _rnn_module(inner, weights, bidirectional=True), Recurrent(sequences, merge=mode)


_SAME_IN_BOTH = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "return_sequences",
    "reset_after",
    "return_state",
    "stateful",
)


def _check_backward(spec: LayerSpec, inner: LayerSpec) -> None:
    """Refuse a backward layer that is not the forward one run backwards."""
    layer = spec.config.get("backward_layer") or {}
    backward = layer.get("config") or {}
    same = layer.get("class_name", inner.class_name) == inner.class_name and all(
        backward.get(k) == inner.config.get(k) for k in _SAME_IN_BOTH
    )
    if inner.config.get("go_backwards") or not same or not backward.get("go_backwards", True):
        raise ExplainrError(
            f"{where(spec)}: a custom backward layer (or go_backwards on the forward layer) is "
            "not supported; explainr reads Bidirectional(layer) with the default backward layer"
        )


def conv_lstm_2d(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``ConvLSTM2D`` (``padding="same"``, stride 1) -> `explainr.nn.ConvLSTM`."""
    cfg = spec.config
    _check_recurrent(spec, {"activation": ("tanh",), "recurrent_activation": ("sigmoid",)})
    if cfg.get("padding", "valid") != "same":
        raise ExplainrError(
            f"{where(spec)}: padding={cfg.get('padding', 'valid')!r}; explainr.nn.ConvLSTM keeps "
            "the frame size, so only padding='same' converts"
        )
    for key in ("strides", "dilation_rate"):
        if any(int(v) != 1 for v in np.atleast_1d(cfg.get(key, 1))):
            raise ExplainrError(f"{where(spec)}: {key}={cfg.get(key)!r} is not supported (1 only)")
    use_bias = cfg.get("use_bias", True)
    expect_count(spec, weights, 3 if use_bias else 2)
    kernel, rec = weights[0], weights[1]  # (kh, kw, C, 4F), (kh, kw, F, 4F)
    kh, kw, channels, gates = kernel.shape
    module = ConvLSTM(channels, gates // 4, kernel_size=(kh, kw), bias=use_bias)
    both = np.concatenate([kernel, rec], axis=2).transpose(3, 2, 0, 1)
    put(module, "weight_l0", both, spec)
    if use_bias:
        put(module, "bias_l0", weights[2], spec)
    step = Recurrent(
        bool(cfg.get("return_sequences")),
        bool(cfg.get("go_backwards")),
        channels_last=cfg.get("data_format", "channels_last") != "channels_first",
    )
    return module.eval(), step
