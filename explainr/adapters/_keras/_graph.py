"""A Keras model's layers as one chain: Sequential models, and Functional models whose
layers form a single line from one input to one output (anything else is refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from explainr._core.errors import ExplainrError


@dataclass(frozen=True)
class LayerSpec:
    """One Keras layer: its class name, its name and its config (as in the file)."""

    class_name: str
    name: str
    config: dict[str, Any]


def layer_chain(model_config: dict[str, Any], path: str) -> list[LayerSpec]:
    """The model's layers in call order, InputLayers left out.

    Args:
        model_config: the file's model config (``{"class_name": ..., "config": ...}``).
        path: the file, for messages.
    """
    kind = model_config.get("class_name")
    config = model_config.get("config") or {}
    layers = config.get("layers")
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise ExplainrError(
            f"{path} holds a Keras {kind!r}; explainr reads Sequential models and Functional "
            "models that are a single chain of layers"
        )
    specs = [_spec(layer) for layer in layers]
    if kind != "Sequential":
        specs = _functional_order(config, specs, layers, path)
    return [s for s in specs if s.class_name != "InputLayer"]


def _spec(layer: dict[str, Any]) -> LayerSpec:
    config = layer.get("config") or {}
    return LayerSpec(str(layer.get("class_name")), str(config.get("name", "")), config)


def _functional_order(
    config: dict[str, Any], specs: list[LayerSpec], layers: list[dict], path: str
) -> list[LayerSpec]:
    """Walk back from the single output to the single input, one inbound tensor a layer."""
    inputs, outputs = (
        _endpoints(config.get("input_layers")),
        _endpoints(config.get("output_layers")),
    )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExplainrError(
            f"{path}: a Functional model with {len(inputs)} inputs and {len(outputs)} outputs; "
            "explainr reads single-input, single-output chains of layers"
        )
    by_name = {s.name: (s, layer) for s, layer in zip(specs, layers, strict=True)}
    chain, name = [], outputs[0]
    while name != inputs[0]:
        if name not in by_name or len(chain) > len(specs):
            raise ExplainrError(f"{path}: layer {name!r} is not in the model's layer list")
        spec, layer = by_name[name]
        chain.append(spec)
        name = _single_parent(spec, layer.get("inbound_nodes") or [], path)
    chain.append(by_name[inputs[0]][0])
    unused = [s.name for s in specs if s not in chain]
    if unused:
        raise ExplainrError(
            f"{path}: layers {unused} are not on the line from input to output (a branching "
            "graph); explainr reads Functional models that are a single chain of layers"
        )
    return chain[::-1]


def _endpoints(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value[0], str):  # a single [name, node, tensor]
        return [value[0]]
    return [v[0] for v in value]


def _single_parent(spec: LayerSpec, nodes: list[dict], path: str) -> str:
    if len(nodes) != 1:
        raise ExplainrError(
            f"{path}: layer {spec.name!r} ({spec.class_name}) is called {len(nodes)} times "
            "(a shared layer); explainr reads chains where each layer runs once"
        )
    node = nodes[0]
    args = node.get("args", []) if isinstance(node, dict) else []
    tensors = [a for a in _leaves(args) if a.get("class_name") == "__keras_tensor__"]
    extra = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
    extra.pop("training", None)
    if len(tensors) != 1 or len(args) != 1 or not isinstance(args[0], dict) or extra:
        raise ExplainrError(
            f"{path}: layer {spec.name!r} ({spec.class_name}) takes {len(tensors)} tensors"
            f"{' and arguments ' + str(sorted(extra)) if extra else ''} (a branching graph); "
            "explainr reads Functional models that are a single chain of layers"
        )
    return str(tensors[0]["config"]["keras_history"][0])


def _leaves(value: Any) -> list[dict]:
    """The dicts in a nested list of call arguments (``Add()([a, b])`` nests them)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return []
