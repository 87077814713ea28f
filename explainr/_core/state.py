"""The caller's state, left as found: model flags, hooks, random generators, cuDNN.

- `preserved` puts the model in eval mode for the duration of an explanation and restores
  every module's ``training`` flag, every parameter's ``requires_grad`` and the hooks.
- `gradient_pass` disables cuDNN around a forward+backward (cuDNN's RNN backward refuses
  to run in eval mode) and restores the previous flags.

Random draws never touch the global generators: each sampling method draws from a
``numpy.random.Generator`` of its own, seeded by ``seed`` (thread-safe, bit-identical).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import random
import sys
from collections.abc import Iterator
from types import ModuleType

import torch
from torch import nn

from explainr._core.errors import ExplainrError

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Run the block with ``model`` in eval mode; restore its flags, grads and hooks after.

    Restored on success and on error: each module's ``training``, each parameter's
    ``requires_grad``, and the hook dictionaries (hooks added inside are removed).
    Weights are never written.
    """
    modes = [(m, m.training) for m in model.modules()]
    needs_grad = [(p, p.requires_grad) for p in model.parameters()]
    hooks = [(m, name, set(getattr(m, name, {}))) for m in model.modules() for name in _HOOK_DICTS]
    try:
        model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training
        for param, flag in needs_grad:
            param.requires_grad_(flag)
        for module, name, keys in hooks:
            found = getattr(module, name, None)
            if found is not None:
                for key in [k for k in found if k not in keys]:
                    del found[key]


@contextlib.contextmanager
def gradient_pass(model: nn.Module) -> Iterator[None]:
    """Forward+backward block: cuDNN off, parameters frozen; previous state restored after.

    cuDNN's RNN backward only runs in training mode; turning cuDNN off for this block (and
    only this block) lets eval-mode recurrent models be differentiated on CUDA. On CPU the
    flag has no effect. Parameters stop requiring grad so backward computes input grads only.
    """
    frozen = [p for p in model.parameters() if p.requires_grad]
    # None leaves a flag as it is; `flags` restores all of them on exit. The other flags
    # differ between torch versions, so they are taken from its signature.
    others = inspect.signature(torch.backends.cudnn.flags).parameters
    keep = {name: None for name in others if name != "enabled"}
    if torch.is_inference_mode_enabled():
        raise ExplainrError(
            "gradient methods cannot run inside torch.inference_mode(): call them outside it, "
            "or use a perturbation method (kernel_shap, lime, occlusion, exact_shapley)"
        )
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False, **keep):
        try:
            for param in frozen:
                param.requires_grad_(False)
            yield
        except RuntimeError as error:
            if "does not require grad" not in str(error):
                raise
            raise ExplainrError(
                "the model's output is not differentiable with respect to its input (a "
                ".detach(), .numpy() or integer step in forward?); gradient methods need it. "
                "Use a perturbation method instead: kernel_shap, lime, occlusion, exact_shapley"
            ) from error
        finally:
            for param in frozen:
                param.requires_grad_(True)


def import_keeping_random(name: str) -> ModuleType:
    """``importlib.import_module(name)``, Python's global `random` state restored after.

    Some libraries draw from `random` when first imported (rich, which sklearn and lime
    pull in, seeds an id counter with ``random.getrandbits``); the caller's sequence of
    random numbers must not depend on which explainr method ran first.
    """
    if name in sys.modules:
        return sys.modules[name]
    state = random.getstate()
    try:
        return importlib.import_module(name)
    finally:
        random.setstate(state)
