"""The torch modules a Keras file becomes: the model, and the Keras layers with no PyTorch
twin (channels-last Conv1D, inference BatchNormalization, named activations).

A `KerasModel` holds one torch module per Keras layer under the Keras layer's name (so
``explainr.record`` names them as Keras does) and a plain, stateless step per layer that
says how to call it: `Apply`, `TimeDistributed`, `Recurrent` or `PairedBidirectional`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explainr.nn.activations import ACTIVATIONS, activation


class KerasModel(nn.Module):
    """A chain of layers read from a Keras file; ``forward(x)`` is Keras's ``predict(x)``.

    Args:
        layers: ``(keras name, torch module, step)`` per Keras layer, in call order.

    Input and output keep Keras's layout: ``(batch, time, feature)`` for recurrent models,
    ``(batch, time, height, width, channels)`` for ConvLSTM2D (channels last).
    """

    def __init__(self, layers: list[tuple[str, nn.Module, Callable]]) -> None:
        super().__init__()
        self._steps: list[tuple[str, Callable]] = []
        for name, module, step in layers:
            self.add_module(name, module)
            self._steps.append((name, step))

    def forward(self, x: Tensor) -> Tensor:
        """Run every layer in order, as Keras's ``predict`` does."""
        for name, step in self._steps:
            x = step(getattr(self, name), x)
        return x


@dataclass(frozen=True)
class Apply:
    """Call the module on the tensor."""

    def __call__(self, module: nn.Module, x: Tensor) -> Tensor:
        return module(x)


@dataclass(frozen=True)
class TimeDistributed:
    """Keras ``TimeDistributed``: the module on every step, ``(B, T, ...)`` folded to
    ``(B*T, ...)`` and back."""

    def __call__(self, module: nn.Module, x: Tensor) -> Tensor:
        y = module(x.flatten(0, 1))
        return y.unflatten(0, tuple(x.shape[:2]))


def merge(mode: str, forward: Tensor, backward: Tensor) -> Tensor:
    """Keras ``Bidirectional``'s ``merge_mode``: concat, sum, mul or ave."""
    if mode == "concat":
        return torch.cat([forward, backward], dim=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    return (forward + backward) / 2


@dataclass(frozen=True)
class Recurrent:
    """Run an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (``batch_first``), ``ResetBeforeGRU`` or
    ``ConvLSTM`` the way Keras runs the layer it came from.

    ``go_backwards``: the input is reversed and so are the returned sequences (as Keras
    returns them). ``merge``: the module is bidirectional and Keras merged the two
    directions this way. ``channels_last``: a ConvLSTM's frames are ``(H, W, C)``.
    """

    return_sequences: bool
    go_backwards: bool = False
    merge: str | None = None
    channels_last: bool = False

    def __call__(self, module: nn.Module, x: Tensor) -> Tensor:
        if self.go_backwards:
            x = x.flip(1)
        if self.channels_last:
            x = x.permute(0, 1, 4, 2, 3)
        out = module(x)[0]
        if self.channels_last:
            out = out.permute(0, 1, 3, 4, 2)
        if self.merge is None:
            return out if self.return_sequences else out[:, -1]
        forward, backward = out.chunk(2, dim=-1)
        if not self.return_sequences:  # the reverse direction ends at the first step
            forward, backward = forward[:, -1], backward[:, 0]
        return merge(self.merge, forward, backward)


@dataclass(frozen=True)
class PairedBidirectional:
    """Keras ``Bidirectional`` over a layer with no bidirectional torch module: the
    module's ``forward_layer`` reads the input, its ``backward_layer`` the reversed input."""

    return_sequences: bool
    merge: str

    def __call__(self, module: nn.Module, x: Tensor) -> Tensor:
        forward = module["forward_layer"](x)[0]
        backward = module["backward_layer"](x.flip(1))[0]
        if self.return_sequences:
            return merge(self.merge, forward, backward.flip(1))
        return merge(self.merge, forward[:, -1], backward[:, -1])


class KerasActivation(nn.Module):
    """A Keras activation by name (``"relu"``, ``"hard_sigmoid"``, ``"softmax"``, ...)."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__()
        activation(name, where=where)  # refuse an unknown name now
        self.name = name

    def forward(self, x: Tensor) -> Tensor:
        return ACTIVATIONS[self.name](x)

    def extra_repr(self) -> str:
        return repr(self.name)


class ChannelsLastConv1d(nn.Module):
    """Keras ``Conv1D``: ``(B, T, C)`` in and out, padding ``valid``, ``same`` (as
    TensorFlow pads: the extra step goes at the end) or ``causal`` (all at the start)."""

    def __init__(self, conv: nn.Conv1d, padding: str, channels_last: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.padding = padding
        self.channels_last = channels_last

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.transpose(1, 2)
        (k,), (s,), (d,) = self.conv.kernel_size, self.conv.stride, self.conv.dilation
        span = (k - 1) * d + 1
        if self.padding == "causal":
            x = F.pad(x, (span - 1, 0))
        elif self.padding == "same":
            steps = x.shape[-1]
            total = max((math.ceil(steps / s) - 1) * s + span - steps, 0)
            x = F.pad(x, (total // 2, total - total // 2))
        y = self.conv(x)
        return y.transpose(1, 2) if self.channels_last else y

    def extra_repr(self) -> str:
        return f"padding={self.padding!r}, channels_last={self.channels_last}"


class InferenceBatchNorm(nn.Module):
    """Keras ``BatchNormalization`` at inference over the last axis:
    ``(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta``."""

    def __init__(self, size: int, epsilon: float) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_var", torch.ones(size))

    def forward(self, x: Tensor) -> Tensor:
        scale = torch.rsqrt(self.running_var + self.epsilon) * self.weight
        return x * scale + (self.bias - self.running_mean * scale)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, epsilon={self.epsilon}"
