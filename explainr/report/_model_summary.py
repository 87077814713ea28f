"""The header's description of a model: its recurrent modules, sizes and parameter count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from explainr.record import find_recurrent


def model_summary(model: torch.nn.Module) -> dict[str, Any]:
    """Recurrent modules, their sizes and the parameter count of a model.

    Args:
        model: any ``nn.Module``.

    Returns:
        ``{"name": class name, "parameters": int, "trainable": int, "modules": [{"name",
        "kind", "input_size", "hidden_size", "num_layers", "bidirectional"}]}``.
    """
    named = dict(model.named_modules())
    modules = []
    for name, kind in find_recurrent(model).items():
        m = named[name]
        modules.append(
            {
                "name": name or "(model)",
                "kind": kind,
                "input_size": _first_attr(m, ("input_size", "input_channels")),
                "hidden_size": _first_attr(m, ("hidden_size", "hidden_channels")),
                "num_layers": getattr(m, "num_layers", 1),
                "bidirectional": bool(getattr(m, "bidirectional", False)),
            }
        )
    params = list(model.parameters())
    return {
        "name": type(model).__name__,
        "parameters": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "modules": modules,
    }


def _first_attr(module: torch.nn.Module, names: Sequence[str]) -> Any:
    for n in names:
        if hasattr(module, n):
            return getattr(module, n)
    return None
