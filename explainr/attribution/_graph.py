"""The path from a model's input through its recurrent module to its output, as steps.

Relevance methods (LRP, contextual decomposition) must know every operation between the
input and the output. `trace_path` traces the model's forward with ``torch.fx`` (recurrent
modules kept whole), follows the single chain of operations that depends on the input, and
turns each into a `Step` with one known rule:

- `Layout`: indexing, squeeze, flatten, reshape, permute, ... (moves values, computes none);
- `Activation`: an elementwise nonlinearity (ReLU, tanh, sigmoid, ...; Identity, Dropout);
- `Linear`: ``nn.Linear`` or ``F.linear`` (a matrix on the last axis plus a bias);
- `Elementwise`: ``v * a + b`` with constant ``a``, ``b`` (scaling, shifting by buffers);
- `RecurrentCall`: the recurrent module and the ``[0]`` (output) or ``[1]`` / ``[1][0]``
  (``h_n``) taken from its result.

Anything else on the chain (a module or function not listed, two input-dependent values
combined as in attention or residuals, a second recurrent module) is an `ExplainrError`
naming it. Everything runs on a float64 copy of the model; the user's model is untouched.
"""

from __future__ import annotations

import copy
import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from explainr._core.cells import kind_of
from explainr._core.errors import ExplainrError
from explainr.attribution._recurrent import Recurrent, forward, recurrent_of

_LAYOUT_FUNCTIONS = {
    operator.getitem,
    torch.flatten,
    torch.reshape,
    torch.squeeze,
    torch.unsqueeze,
    torch.transpose,
    torch.permute,
    torch.select,
    torch.narrow,
    torch.movedim,
}
_LAYOUT_METHODS = {
    "flatten",
    "reshape",
    "view",
    "squeeze",
    "unsqueeze",
    "transpose",
    "permute",
    "contiguous",
    "select",
    "narrow",
    "movedim",
    "__getitem__",
}
_ACTIVATION_MODULES = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Softplus,
    nn.Hardtanh,
    nn.ReLU6,
    nn.Identity,
    nn.Dropout,
)
_ACTIVATION_FUNCTIONS = {
    torch.relu,
    torch.tanh,
    torch.sigmoid,
    F.relu,
    F.tanh,
    F.sigmoid,
    F.gelu,
    F.silu,
    F.elu,
    F.leaky_relu,
    F.softplus,
    F.hardtanh,
    F.relu6,
}
_ACTIVATION_METHODS = {"relu", "tanh", "sigmoid"}
_ELEMENTWISE_FUNCTIONS = {
    operator.mul,
    operator.add,
    operator.sub,
    operator.truediv,
    operator.neg,
    torch.mul,
    torch.add,
    torch.sub,
    torch.div,
    torch.neg,
}
_ELEMENTWISE_METHODS = {"mul", "add", "sub", "div", "neg"}
SUPPORTED = (
    "nn.LSTM, nn.GRU or explainr.nn.PeepholeLSTM (called on the input alone), then "
    "indexing/squeeze/flatten/reshape/permute, nn.Linear/F.linear, elementwise activations "
    "(ReLU, Tanh, Sigmoid, GELU, ...; Identity, Dropout) and scaling or shifting by constants"
)


@dataclass
class Step:
    """One operation on the path: ``fn`` maps the input-dependent value to the next one."""

    label: str
    fn: Callable[[Tensor], Tensor]


class Layout(Step):
    """Moves values (indexing, reshaping): relevance and parts move the same way."""


class Activation(Step):
    """An elementwise nonlinearity."""


class Elementwise(Step):
    """``fn(v) = a * v + b`` elementwise with constants ``a``, ``b`` (found from ``fn``)."""


@dataclass
class Linear(Step):
    """``v @ weight.T + bias`` on the last axis."""

    weight: Tensor = None  # type: ignore[assignment]  # (out, in)
    bias: Tensor | None = None  # (out,)


@dataclass
class RecurrentCall(Step):
    """The recurrent module and what the model takes from its result."""

    recurrent: Recurrent = None  # type: ignore[assignment]
    takes: str = "output"  # "output" (every step, top layer) or "h_n" (last step, every layer)


class _Tracer(fx.Tracer):
    """Keeps recurrent modules (explainr.nn's too) whole."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__module__.startswith("explainr.nn") or super().is_leaf_module(m, qualname)


def float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` in eval mode (the user's model is not touched)."""
    return copy.deepcopy(model).double().eval()


def trace_path(model: nn.Module, method: str) -> tuple[fx.GraphModule, list[fx.Node], fx.Node]:
    """Trace ``model`` (a float64 copy): its graph, the input-to-output chain, the input node."""
    params = list(inspect.signature(model.forward).parameters.values())
    concrete = {p.name: p.default for p in params[1:] if p.default is not inspect.Parameter.empty}
    try:
        graph = _Tracer().trace(model, concrete_args=concrete or None)
    except Exception as error:
        if not _tracing_failed(error):
            raise  # the model's own failure, as every method reports it
        raise ExplainrError(
            f"{method} needs to follow every operation of the model's forward, and torch.fx "
            f"could not trace {type(model).__name__}.forward ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). Python branches on tensor "
            "values cannot be traced; use method='integrated_gradients' for such models"
        ) from error
    gm = fx.GraphModule(model, graph)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    live = _depends_on(graph, placeholders[0])
    output = next(n for n in graph.nodes if n.op == "output")
    result = output.args[0]
    if isinstance(result, (tuple, list)):
        result = result[0]
    chain: list[fx.Node] = []
    node = result
    while node is not placeholders[0]:
        if not isinstance(node, fx.Node) or node not in live:
            raise ExplainrError(f"{method}: the model's output does not depend on its input")
        chain.append(node)
        inputs = [a for a in node.all_input_nodes if a in live]
        if len(inputs) != 1:
            raise ExplainrError(
                f"{method} cannot propagate through {describe(gm, node)}: it combines "
                f"{len(inputs)} values computed from the input (as attention or a residual "
                f"connection does). {method} supports chains of: {SUPPORTED}"
            )
        node = inputs[0]
    return gm, chain[::-1], placeholders[0]


@dataclass
class Analysis:
    """The path of a model on one batch, with the value entering and leaving every step."""

    before: list[Step]
    call: RecurrentCall
    after: list[Step]  # ends with the selection of the target column: (batch,)
    runs: list  # [layer][direction] `Run` of the recurrent module
    inputs: dict[int, Tensor]  # id(step) -> value entering it
    outputs: dict[int, Tensor]  # id(step) -> value leaving it
    x: Tensor  # (batch, time, feature) float64

    @property
    def prediction(self) -> Tensor:
        """``(batch,)`` the explained output, recomputed in float64."""
        return self.outputs[id(self.after[-1])]


def analyse(model: nn.Module, x: Tensor, column: int, method: str) -> Analysis:
    """Trace a float64 copy of ``model``, run it on ``x`` ``(batch, time, feature)`` and
    return its path with every step's values; the explained output is column ``column``."""
    copy64 = float64_copy(model)
    gm, chain, source = trace_path(copy64, method)
    calls = [i for i, n in enumerate(chain) if _is_recurrent(gm, n)]
    if len(calls) != 1:
        found = [describe(gm, chain[i]) for i in calls]
        raise ExplainrError(
            f"{method} needs exactly one recurrent module on the path from input to output; "
            f"found {len(calls)}: {found}. Supported: {SUPPORTED}"
        )
    at = calls[0]
    node = chain[at]
    recurrent = recurrent_of(gm.get_submodule(node.target), str(node.target), method)
    if len(node.args) > 1 or node.kwargs:
        raise ExplainrError(
            f"{method}: {describe(gm, node)} is called with initial states; only calls on the "
            "input alone (zero initial states) are supported"
        )
    takes, skip = _taken(gm, chain, at, recurrent, method)
    held: dict[str, Any] = {}

    def ours(module: nn.Module, v: Tensor) -> Any:
        if module is gm.get_submodule(node.target):
            result, held["runs"] = forward(recurrent, v)
            return result
        return module(v)

    x64 = x.detach().to(torch.float64)
    env = run_path(gm, x64, ours)
    call = RecurrentCall(describe(gm, node), lambda v: v, recurrent, takes)
    before, after, inputs, outputs = [], [], {}, {}
    for i, n in enumerate(chain):
        if at < i <= at + skip:
            continue
        previous = chain[i - 1] if i else source
        if i == at:
            step: Step = call
            outputs[id(step)] = env[chain[at + skip]]
        else:
            step = _step(gm, n, previous, env, method)
            outputs[id(step)] = env[n]
        inputs[id(step)] = env[previous]
        if i != at:
            (before if i < at else after).append(step)
    last = outputs[id(after[-1])] if after else outputs[id(call)]
    select = Layout("the target column", lambda v: _column(v, column))
    inputs[id(select)], outputs[id(select)] = last, _column(last, column)
    after.append(select)
    return Analysis(before, call, after, held["runs"], inputs, outputs, x64)


def _column(v: Tensor, column: int) -> Tensor:
    return v.reshape(len(v), -1)[:, column]


def describe(gm: fx.GraphModule, node: fx.Node) -> str:
    """A user-facing name for what ``node`` runs."""
    if node.op == "call_module":
        return f"module {node.target!r} ({type(gm.get_submodule(node.target)).__name__})"
    if node.op == "call_method":
        return f"method .{node.target}()"
    name = getattr(node.target, "__qualname__", None) or getattr(node.target, "__name__", "")
    module = getattr(node.target, "__module__", "") or ""
    return f"function {module + '.' if module else ''}{name}"


def _tracing_failed(error: Exception) -> bool:
    """Whether ``error`` comes from symbolic tracing (a Proxy where a value was needed)."""
    text = f"{type(error).__name__} {error}"
    return isinstance(error, fx.proxy.TraceError) or "Proxy" in text or "symbolic tracing" in text


def _depends_on(graph: fx.Graph, source: fx.Node) -> set[fx.Node]:
    """Nodes whose values depend on the input's values (its shape alone does not count)."""
    live = {source}
    shapes: set[fx.Node] = set()
    for node in graph.nodes:
        inputs = [a for a in node.all_input_nodes if a in live or a in shapes]
        if not inputs:
            continue
        if _reads_shape(node) or all(a in shapes for a in inputs):
            shapes.add(node)
        else:
            live.add(node)
    return live


def _reads_shape(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in ("size", "dim")
    return (
        node.op == "call_function"
        and node.target is getattr
        and node.args[1]
        in (
            "shape",
            "ndim",
            "dtype",
            "device",
        )
    )


def _is_recurrent(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op != "call_module":
        return False
    module = gm.get_submodule(node.target)
    return kind_of(module) is not None


def _taken(
    gm: fx.GraphModule, chain: list[fx.Node], at: int, recurrent: Recurrent, method: str
) -> tuple[str, int]:
    """What the model takes from the recurrent result, and how many getitem nodes that is."""

    def index(i: int) -> Any:
        node = chain[i] if i < len(chain) else None
        if node is None or node.target is not operator.getitem:
            return None
        found = node.args[1]
        return found + 2 if isinstance(found, int) and found in (-2, -1) else found  # 2-tuples

    first = index(at + 1)
    if first == 0:
        return "output", 1
    if first == 1 and not recurrent.has_cell:
        return "h_n", 1
    if first == 1 and index(at + 2) == 0:
        return "h_n", 2
    if first == 1 and index(at + 2) == 1:
        raise ExplainrError(
            f"{method}: the model uses the cell state c_n of {describe(gm, chain[at])}; only "
            "the output sequence or h_n can be propagated"
        )
    raise ExplainrError(
        f"{method}: the model uses the result of {describe(gm, chain[at])} in a way it cannot "
        "follow; take output[...] (= result[0]) or h_n (= result[1] for nn.GRU, result[1][0] "
        "for LSTMs)"
    )


def _step(gm: fx.GraphModule, node: fx.Node, live: fx.Node, env: dict, method: str) -> Step:
    label = describe(gm, node)

    def fn(v: Tensor) -> Tensor:
        args = fx.node.map_arg(node.args, lambda a: v if a is live else env[a])
        kwargs = fx.node.map_arg(node.kwargs, lambda a: v if a is live else env[a])
        if node.op == "call_module":
            return gm.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        return node.target(*args, **kwargs)

    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        if isinstance(module, nn.Linear):
            return Linear(label, fn, module.weight.detach(), _detach(module.bias))
        if isinstance(module, _ACTIVATION_MODULES):
            return Activation(label, fn)
        if isinstance(module, (nn.Flatten, nn.Unflatten)):
            return Layout(label, fn)
    elif node.op == "call_method":
        if node.target in _LAYOUT_METHODS:
            return Layout(label, fn)
        if node.target in _ACTIVATION_METHODS:
            return Activation(label, fn)
        if node.target in _ELEMENTWISE_METHODS:
            return Elementwise(label, fn)
    elif node.op == "call_function":
        if node.target in _LAYOUT_FUNCTIONS:
            return Layout(label, fn)
        if node.target in _ACTIVATION_FUNCTIONS:
            return Activation(label, fn)
        if node.target in _ELEMENTWISE_FUNCTIONS:
            return Elementwise(label, fn)
        if node.target is F.linear and node.args and node.args[0] is live:
            weight = env[node.args[1]] if len(node.args) > 1 else env[node.kwargs["weight"]]
            bias = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
            return Linear(label, fn, weight.detach(), None if bias is None else env[bias].detach())
    raise ExplainrError(
        f"{method} cannot propagate through {label} in the model's forward; it supports "
        f"chains of: {SUPPORTED}. Use method='integrated_gradients' for other models"
    )


def _detach(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach()


def run_path(
    gm: fx.GraphModule, x: Tensor, recurrent_forward: Callable[[nn.Module, Tensor], Any]
) -> dict[fx.Node, Any]:
    """Run ``gm`` on ``x`` and keep every node's value; recurrent calls go through ours."""

    class _Run(fx.Interpreter):
        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            module = self.fetch_attr(target)
            kind = kind_of(module)
            if kind is not None and kind.recording != "step":
                return recurrent_forward(module, args[0])
            return super().call_module(target, args, kwargs)

    runner = _Run(gm, garbage_collect_values=False)
    with torch.no_grad():
        runner.run(x)
    return runner.env
