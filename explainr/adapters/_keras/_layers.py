"""Converters of the Keras layers that are not recurrent, and what every converter shares.

Each converter takes a layer's `LayerSpec` and its weight arrays (in Keras's order) and
returns the torch module and the step that calls it (see `_modules`). Layouts:
Dense ``kernel (in, out)`` -> ``weight = kernel.T``; Conv1D ``kernel (k, C/groups, out)``
-> ``weight (out, C/groups, k)``; BatchNormalization ``gamma, beta, moving_mean,
moving_variance`` (without gamma/beta when ``scale``/``center`` are off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._core.errors import ExplainrError
from explainr.adapters._keras._graph import LayerSpec
from explainr.adapters._keras._modules import (
    Apply,
    ChannelsLastConv1d,
    InferenceBatchNorm,
    KerasActivation,
)

Built = tuple[nn.Module, Callable]


def where(spec: LayerSpec) -> str:
    """The layer as messages name it."""
    return f"Keras layer {spec.name!r} ({spec.class_name})"


def expect_count(spec: LayerSpec, weights: list[np.ndarray], count: int) -> None:
    """Raise unless the file holds ``count`` weight arrays for the layer."""
    if len(weights) != count:
        raise ExplainrError(
            f"{where(spec)}: expected {count} weight arrays in the file, found "
            f"{len(weights)} ({[w.shape for w in weights]})"
        )


def put(module: nn.Module, name: str, value: np.ndarray | torch.Tensor, spec: LayerSpec) -> None:
    """Copy ``value`` into ``module.<name>``; a shape mismatch names the layer."""
    target = getattr(module, name)
    value = torch.as_tensor(np.asarray(value, dtype=np.float32))
    if tuple(value.shape) != tuple(target.shape):
        raise ExplainrError(
            f"{where(spec)}: weight {name} should have shape {tuple(target.shape)} but the "
            f"file's has {tuple(value.shape)}"
        )
    with torch.no_grad():
        target.copy_(value)


def with_activation(module: nn.Module, spec: LayerSpec) -> nn.Module:
    name = spec.config.get("activation", "linear") or "linear"
    if name == "linear":
        return module
    return nn.Sequential(module, KerasActivation(name, where(spec)))


def inner_layer(spec: LayerSpec) -> LayerSpec:
    """The layer a wrapper (Bidirectional, TimeDistributed) wraps, named ``outer/inner``."""
    layer = spec.config.get("layer") or {}
    config = layer.get("config") or {}
    return LayerSpec(str(layer.get("class_name")), f"{spec.name}/{config.get('name')}", config)


def dense(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Dense`` -> ``nn.Linear`` (+ its activation)."""
    use_bias = spec.config.get("use_bias", True)
    expect_count(spec, weights, 2 if use_bias else 1)
    kernel = weights[0]
    linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=use_bias)
    put(linear, "weight", kernel.T, spec)
    if use_bias:
        put(linear, "bias", weights[1], spec)
    return with_activation(linear, spec), Apply()


def activation_layer(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Activation`` -> `KerasActivation`."""
    return KerasActivation(spec.config.get("activation", "linear"), where(spec)), Apply()


def dropout(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Dropout`` -> identity: ``predict`` never drops out."""
    return nn.Identity(), Apply()  # Keras's predict never drops out


def flatten(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Flatten`` (channels last) -> ``nn.Flatten(1)``."""
    if spec.config.get("data_format") == "channels_first":
        raise ExplainrError(f"{where(spec)}: data_format='channels_first' is not supported")
    return nn.Flatten(1), Apply()


def conv1d(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``Conv1D`` -> `ChannelsLastConv1d` (+ its activation)."""
    cfg = spec.config
    use_bias = cfg.get("use_bias", True)
    expect_count(spec, weights, 2 if use_bias else 1)
    padding = cfg.get("padding", "valid")
    if padding not in ("valid", "same", "causal"):
        raise ExplainrError(f"{where(spec)}: padding {padding!r} is not supported")
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
    put(conv, "weight", kernel.transpose(2, 1, 0), spec)
    if use_bias:
        put(conv, "bias", weights[1], spec)
    channels_last = cfg.get("data_format", "channels_last") != "channels_first"
    return with_activation(ChannelsLastConv1d(conv, padding, channels_last), spec), Apply()


def _one(value: Any) -> int:
    return int(value[0] if isinstance(value, list | tuple) else value)


def batch_norm(spec: LayerSpec, weights: list[np.ndarray]) -> Built:
    """Keras ``BatchNormalization`` over the last axis -> `InferenceBatchNorm`."""
    cfg = spec.config
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1]):
        raise ExplainrError(
            f"{where(spec)}: axis={axis!r}; explainr normalises the last axis only (axis=-1)"
        )
    scale, center = cfg.get("scale", True), cfg.get("center", True)
    expect_count(spec, weights, 2 + scale + center)
    rest = list(weights)
    norm = InferenceBatchNorm(weights[-1].shape[0], float(cfg.get("epsilon", 1e-3)))
    if scale:
        put(norm, "weight", rest.pop(0), spec)
    if center:
        put(norm, "bias", rest.pop(0), spec)
    put(norm, "running_mean", rest[0], spec)
    put(norm, "running_var", rest[1], spec)
    return norm, Apply()
