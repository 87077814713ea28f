"""One converter per Keras layer class: its config and weights in, a torch module and the
step that calls it out. Weight layouts (Keras -> PyTorch):

- Dense: ``kernel (in, out)`` -> ``weight = kernel.T``.
- LSTM: gates i, f, c, o = PyTorch's i, f, g, o; ``weight_ih = kernel.T``,
  ``weight_hh = recurrent_kernel.T``, ``bias_ih = bias`` (``bias_hh`` zero).
- GRU: gates z, r, h -> PyTorch's r, z, n (columns reordered); ``reset_after=True`` has
  bias ``(2, 3H)`` = (input, recurrent) = (``bias_ih``, ``bias_hh``) and is ``nn.GRU``;
  ``reset_after=False`` has bias ``(3H,)`` and is `explainr.nn.ResetBeforeGRU`.
- SimpleRNN: ``nn.RNN`` (tanh or relu).
- ConvLSTM2D: ``kernel (kh, kw, C, 4F)``, ``recurrent_kernel (kh, kw, F, 4F)`` ->
  ``ConvLSTM.weight_l0 = cat([kernel, recurrent_kernel], channels)`` as ``(4F, C+F, kh, kw)``.
- Conv1D: ``kernel (k, C/groups, out)`` -> ``weight (out, C/groups, k)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._errors import ExplainrError
from explainr.adapters._keras._graph import LayerSpec
from explainr.adapters._keras._modules import (
    Apply,
    ChannelsLastConv1d,
    InferenceBatchNorm,
    KerasActivation,
    PairedBidirectional,
    Recurrent,
    TimeDistributed,
)
from explainr.nn import ConvLSTM, ResetBeforeGRU

Built = tuple[nn.Module, Callable]
MERGES = ("concat", "sum", "mul", "ave")


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


def _where(spec: LayerSpec) -> str:
    return f"Keras layer {spec.name!r} ({spec.class_name})"


def _expect(spec: LayerSpec, weights: list[np.ndarray], count: int) -> None:
    if len(weights) != count:
        raise ExplainrError(
            f"{_where(spec)}: expected {count} weight arrays in the file, found "
            f"{len(weights)} ({[w.shape for w in weights]})"
        )


def _put(module: nn.Module, name: str, value: np.ndarray | torch.Tensor, spec: LayerSpec) -> None:
    target = getattr(module, name)
    value = torch.as_tensor(np.asarray(value, dtype=np.float32))
    if tuple(value.shape) != tuple(target.shape):
        raise ExplainrError(
            f"{_where(spec)}: weight {name} should have shape {tuple(target.shape)} but the "
            f"file's has {tuple(value.shape)}"
        )
    with torch.no_grad():
        target.copy_(value)


def _with_activation(module: nn.Module, spec: LayerSpec) -> nn.Module:
    name = spec.config.get("activation", "linear") or "linear"
    if name == "linear":
        return module
    return nn.Sequential(module, KerasActivation(name, _where(spec)))


def dense(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    use_bias = spec.config.get("use_bias", True)
    _expect(spec, weights, 2 if use_bias else 1)
    kernel = weights[0]
    linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=use_bias)
    _put(linear, "weight", kernel.T, spec)
    if use_bias:
        _put(linear, "bias", weights[1], spec)
    return _with_activation(linear, spec), Apply()


def activation_layer(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    return KerasActivation(spec.config.get("activation", "linear"), _where(spec)), Apply()


def dropout(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    return nn.Identity(), Apply()  # Keras's predict never drops out


def flatten(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    if spec.config.get("data_format") == "channels_first":
        raise ExplainrError(f"{_where(spec)}: data_format='channels_first' is not supported")
    return nn.Flatten(1), Apply()


def conv1d(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    cfg = spec.config
    use_bias = cfg.get("use_bias", True)
    _expect(spec, weights, 2 if use_bias else 1)
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same", "causal"):
        raise ExplainrError(f"{_where(spec)}: padding {padding!r} is not supported")
    kernel = weights[0]  # (k, in / groups, out)
    groups = int(cfg.get("groups", 1))
    conv = nn.Conv1d(
        kernel.shape[1] * groups,
        kernel.shape[2],
        kernel.shape[0],
        stride=_one(cfg.get("strides", 1)),
        dilation=_one(cfg.get("dilation_rate", 1)),
        groups=groups,
        bias=use_bias,
    )
    _put(conv, "weight", kernel.transpose(2, 1, 0), spec)
    if use_bias:
        _put(conv, "bias", weights[1], spec)
    channels_last = cfg.get("data_format", "channels_last") != "channels_first"
    return _with_activation(ChannelsLastConv1d(conv, padding, channels_last), spec), Apply()


def _one(value: Any) -> int:
    return int(value[0] if isinstance(value, list | tuple) else value)


def batch_norm(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    cfg = spec.config
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1]):
        raise ExplainrError(
            f"{_where(spec)}: axis={axis!r}; explainr normalises the last axis only (axis=-1)"
        )
    scale, center = cfg.get("scale", True), cfg.get("center", True)
    _expect(spec, weights, 2 + scale + center)
    rest = list(weights)
    norm = InferenceBatchNorm(weights[-1].shape[0], float(cfg.get("epsilon", 1e-3)))
    if scale:
        _put(norm, "weight", rest.pop(0), spec)
    if center:
        _put(norm, "bias", rest.pop(0), spec)
    _put(norm, "running_mean", rest[0], spec)
    _put(norm, "running_var", rest[1], spec)
    return norm, Apply()


def time_distributed(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    inner = _inner(spec)
    if inner.class_name in RECURRENT or inner.class_name in ("Bidirectional", "TimeDistributed"):
        raise ExplainrError(f"{_where(spec)}: TimeDistributed({inner.class_name}) is not supported")
    module, step = convert(inner, weights)
    if not isinstance(step, Apply):
        raise ExplainrError(f"{_where(spec)}: TimeDistributed({inner.class_name}) is not supported")
    return module, TimeDistributed()


def _inner(spec: LayerSpec) -> LayerSpec:
    layer = spec.config.get("layer") or {}
    config = layer.get("config") or {}
    return LayerSpec(str(layer.get("class_name")), f"{spec.name}/{config.get('name')}", config)


# Recurrent layers ----------------------------------------------------------------------


def _check_recurrent(spec: LayerSpec, cell_activations: dict[str, tuple[str, ...]]) -> None:
    cfg = spec.config
    for flag in ("return_state", "stateful"):
        if cfg.get(flag):
            raise ExplainrError(
                f"{_where(spec)}: {flag}=True is not supported (explainr explains a model "
                "that maps one window to one output)"
            )
    for key, allowed in cell_activations.items():
        value = cfg.get(key, allowed[0])
        if value not in allowed:
            raise ExplainrError(
                f"{_where(spec)}: {key}={value!r} has no PyTorch equivalent here; "
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
    _expect(spec, weights, 3 if use_bias else 2)
    order = _gru_order if gru else (lambda a: a)
    _put(module, f"weight_ih_l0{suffix}", order(weights[0]).T, spec)
    _put(module, f"weight_hh_l0{suffix}", order(weights[1]).T, spec)
    if not use_bias:
        return
    bias = weights[2]
    if bias.ndim == 2:  # GRU reset_after=True: (input bias, recurrent bias)
        _put(module, f"bias_ih_l0{suffix}", order(bias[0]), spec)
        _put(module, f"bias_hh_l0{suffix}", order(bias[1]), spec)
    else:
        _put(module, f"bias_ih_l0{suffix}", order(bias), spec)
        _put(module, f"bias_hh_l0{suffix}", np.zeros_like(bias), spec)


def _rnn_module(spec: LayerSpec, weights: list[np.ndarray], bidirectional: bool) -> nn.Module:
    """An nn.LSTM / nn.GRU / nn.RNN / ResetBeforeGRU for an LSTM, GRU or SimpleRNN layer."""
    cfg, kind = spec.config, spec.class_name
    units, use_bias = int(cfg["units"]), cfg.get("use_bias", True)
    size = weights[0].shape[0] if weights else 0
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
        acts = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")
        _check_recurrent(spec, {"activation": acts, "recurrent_activation": acts[1:] + acts[:1]})
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
    cfg = spec.config
    step = Recurrent(bool(cfg.get("return_sequences")), bool(cfg.get("go_backwards")))
    return _rnn_module(spec, weights, bidirectional=False), step


def bidirectional(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    cfg = spec.config
    mode = cfg.get("merge_mode", "concat")
    if mode not in MERGES:
        raise ExplainrError(
            f"{_where(spec)}: merge_mode={mode!r} is not supported (it returns two tensors); "
            f"use one of {list(MERGES)}"
        )
    inner = _inner(spec)
    if inner.class_name not in ("LSTM", "GRU", "SimpleRNN"):
        raise ExplainrError(f"{_where(spec)}: Bidirectional({inner.class_name}) is not supported")
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
            f"{_where(spec)}: a custom backward layer (or go_backwards on the forward layer) is "
            "not supported; explainr reads Bidirectional(layer) with the default backward layer"
        )


def conv_lstm_2d(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    cfg = spec.config
    _check_recurrent(spec, {"activation": ("tanh",), "recurrent_activation": ("sigmoid",)})
    if cfg.get("padding", "valid") != "same":
        raise ExplainrError(
            f"{_where(spec)}: padding={cfg.get('padding', 'valid')!r}; explainr.nn.ConvLSTM keeps "
            "the frame size, so only padding='same' converts"
        )
    for key in ("strides", "dilation_rate"):
        if any(int(v) != 1 for v in np.atleast_1d(cfg.get(key, 1))):
            raise ExplainrError(f"{_where(spec)}: {key}={cfg.get(key)!r} is not supported (1 only)")
    use_bias = cfg.get("use_bias", True)
    _expect(spec, weights, 3 if use_bias else 2)
    kernel, rec = weights[0], weights[1]  # (kh, kw, C, 4F), (kh, kw, F, 4F)
    kh, kw, channels, gates = kernel.shape
    module = ConvLSTM(channels, gates // 4, kernel_size=(kh, kw), bias=use_bias)
    both = np.concatenate([kernel, rec], axis=2).transpose(3, 2, 0, 1)
    _put(module, "weight_l0", both, spec)
    if use_bias:
        _put(module, "bias_l0", weights[2], spec)
    step = Recurrent(
        bool(cfg.get("return_sequences")),
        bool(cfg.get("go_backwards")),
        channels_last=cfg.get("data_format", "channels_last") != "channels_first",
    )
    return module.eval(), step


RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D")
CONVERTERS: dict[str, Callable[[LayerSpec, list[np.ndarray]], Built]] = {
    "Dense": dense,
    "Activation": activation_layer,
    "Dropout": dropout,
    "Flatten": flatten,
    "Conv1D": conv1d,
    "BatchNormalization": batch_norm,
    "TimeDistributed": time_distributed,
    "LSTM": recurrent,
    "GRU": recurrent,
    "SimpleRNN": recurrent,
    "Bidirectional": bidirectional,
    "ConvLSTM2D": conv_lstm_2d,
}
