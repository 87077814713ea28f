"""A model packed for Dask workers: its weights as safetensors bytes plus a builder.

distributed's own serialiser cannot ship a module holding an ``nn.LSTM`` (with torch 2.13
it fails on the LSTM's weak references to its flat weights), and pickling a model per task
would send the weights with every chunk. A `Shipment` is scattered once to every worker;
`model_of` rebuilds the module there once (cached by the shipment's token) and runs it on
one torch thread, so workers sharing a machine do not oversubscribe its cores.

The default builder is the model's structure pickled with its tensors on the ``meta``
device (no weight bytes): unpickled, given empty CPU storage and filled from the
safetensors bytes. A custom ``builder`` is any picklable callable returning the module.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from explainr._core.errors import ExplainrError

_BUILT: dict[str, nn.Module] = {}  # per worker process: token -> rebuilt model
_BUILDS: list[str] = []  # per worker process: the token of every model built (tests count them)


@dataclass(frozen=True)
class Skeleton:
    """The default builder: the model's structure without its weights."""

    blob: bytes  # cloudpickle of the model with every tensor on the meta device

    def __call__(self) -> nn.Module:
        module = pickle.loads(self.blob)
        return module.to_empty(device="cpu")


@dataclass(frozen=True)
class Shipment:
    """What a worker needs to rebuild the model: a builder and the weights."""

    builder: Callable[[], nn.Module]
    weights: bytes  # safetensors: every parameter and buffer by name
    token: str  # sha256 of both: the worker's cache key


def pack(model: nn.Module, builder: Callable[[], nn.Module] | None = None) -> Shipment:
    """Pack ``model`` for workers (the model itself is not changed)."""
    import cloudpickle
    from safetensors.torch import save

    if not isinstance(model, nn.Module):
        raise ExplainrError(
            f"client= runs chunks on Dask workers and ships a torch.nn.Module; the model is "
            f"a {type(model).__name__}: run it in-process (client=None)"
        )
    tensors = _tensors(model)
    weights = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})
    if builder is None:
        skeleton = copy.deepcopy(model).to("meta")
        try:
            builder = Skeleton(cloudpickle.dumps(skeleton))
        except Exception as e:
            raise ExplainrError(
                f"cannot pickle the model's structure ({type(e).__name__}: {e}); pass "
                "builder=<a picklable function returning the module>, e.g. "
                "functools.partial(MyModel, hidden=64)"
            ) from e
    try:
        blob = cloudpickle.dumps(builder)
    except Exception as e:
        raise ExplainrError(
            f"builder must be picklable for Dask workers ({type(e).__name__}: {e}); use a "
            "module-level function or functools.partial of a class"
        ) from e
    token = hashlib.sha256(blob + weights).hexdigest()
    return Shipment(builder, weights, token)


def model_of(shipment: Shipment) -> nn.Module:
    """The shipped model, rebuilt once per process, in eval mode, on one torch thread."""
    model = _BUILT.get(shipment.token)
    if model is None:
        from safetensors.torch import load

        torch.set_num_threads(1)
        model = shipment.builder()
        if not isinstance(model, nn.Module):
            raise ExplainrError(f"builder returned a {type(model).__name__}, not a nn.Module")
        _fill(model, load(shipment.weights))
        model.eval()
        _BUILT.clear()  # one model per worker: a new run replaces the old one
        _BUILT[shipment.token] = model
        _BUILDS.append(shipment.token)
    return model


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    found = dict(model.named_parameters())
    found.update(dict(model.named_buffers()))
    return found


def _fill(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    own = _tensors(model)
    if set(own) != set(weights):
        missing, extra = sorted(set(weights) - set(own)), sorted(set(own) - set(weights))
        raise ExplainrError(
            f"the builder's module does not match the model: tensors {missing[:5]} missing, "
            f"{extra[:5]} unexpected; the builder must build the same architecture"
        )
    with torch.no_grad():
        for name, tensor in own.items():
            if tensor.shape != weights[name].shape:
                raise ExplainrError(
                    f"the builder's {name} has shape {tuple(tensor.shape)}, the model's "
                    f"{tuple(weights[name].shape)}; the builder must build the same architecture"
                )
            tensor.copy_(weights[name])
    for module in model.modules():  # fused RNNs keep a flat copy of their weights
        if isinstance(module, nn.RNNBase):
            module.flatten_parameters()
