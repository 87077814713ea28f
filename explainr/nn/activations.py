"""Activation functions by the names Keras gives them, for explainr's modules and adapters.

Each maps a tensor to a tensor of the same shape; ``softmax`` and ``log_softmax`` work over
the last axis, every other one elementwise. The definitions follow Keras 3 (e.g.
``hard_sigmoid(x) = relu6(x + 3) / 6``, ``leaky_relu`` with slope 0.2, exact ``gelu``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from explainr._core.errors import ExplainrError

ELEMENTWISE: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "relu6": F.relu6,
    "hard_silu": F.hardswish,
    "hard_swish": F.hardswish,
    "mish": F.mish,
    "log_sigmoid": F.logsigmoid,
}
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = ELEMENTWISE | {
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
}


def activation(name: str, *, where: str, allowed: dict[str, Callable] = ACTIVATIONS) -> Callable:
    """The function called ``name`` in ``allowed``; ExplainrError naming ``where`` otherwise.

    >>> import torch
    >>> activation("hard_sigmoid", where="demo")(torch.tensor([-4.0, 0.0, 1.5]))
    tensor([0.0000, 0.5000, 0.7500])
    """
    if not isinstance(name, str) or name not in allowed:
        raise ExplainrError(
            f"{where}: activation {name!r} is not supported; supported: {sorted(allowed)}"
        )
    return allowed[name]
