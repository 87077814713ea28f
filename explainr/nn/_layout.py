"""What PeepholeLSTM and ConvLSTM share around their equations: input layouts, sizes,
initial states, and handing kept gates and states to an open `record` block."""

from __future__ import annotations

from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr._core.sinks import Sink
from explainr.nn._scan import GATES, LayerRun

RECORDABLE = (*(f"gate:{g}" for g in GATES), "cell", "hidden")


def check_sizes(module: str, **sizes: int) -> None:
    """Raise unless every size is a positive int."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExplainrError(f"{module}: {name} must be a positive int, got {value!r}")


def batch_first_input(
    module: str, input: Tensor, *, batch_first: bool, unit_dims: int, layout: str
) -> tuple[Tensor, bool]:
    """``input`` as ``(B, T, *unit)`` and whether it came unbatched ``(T, *unit)``.

    ``unit_dims`` is the number of dims of one step of one sequence (1 for features,
    3 for channel maps); ``layout`` names the batched layout for error messages.
    """
    batched = 2 + unit_dims
    if input.dim() == batched:
        x, unbatched = (input if batch_first else input.transpose(0, 1)), False
    elif input.dim() == batched - 1:
        x, unbatched = input.unsqueeze(0), True
    else:
        raise ExplainrError(
            f"{module} expects a {batched}-D input {layout} (batch_first={batch_first}) or a "
            f"{batched - 1}-D unbatched one; got shape {tuple(input.shape)}"
        )
    if x.shape[1] == 0:
        raise ExplainrError(
            f"{module} got a sequence with no time steps: shape {tuple(input.shape)}"
        )
    return x, unbatched


def initial_states(
    module: str,
    hx: tuple[Tensor, Tensor] | None,
    shape: tuple[int, ...],
    unbatched: bool,
    like: Tensor,
) -> tuple[Tensor, Tensor]:
    """``(h0, c0)`` of shape ``(num_layers, B, *unit)``: zeros when ``hx`` is None.

    For unbatched input, ``hx`` is ``(num_layers, *unit)`` and gets a batch dim.
    """
    if hx is None:
        zeros = like.new_zeros(shape)
        return zeros, zeros
    if not (isinstance(hx, tuple | list) and len(hx) == 2):
        raise ExplainrError(f"{module} expects hx=(h0, c0) or None; got {type(hx).__name__}")
    want = shape[:1] + shape[2:] if unbatched else shape
    for name, state in zip(("h0", "c0"), hx, strict=True):
        if tuple(state.shape) != want:
            raise ExplainrError(
                f"{module}: {name} has shape {tuple(state.shape)}, expected {want} "
                f"(num_layers, {'' if unbatched else 'batch, '}units...) to match the input"
            )
    h0, c0 = hx
    if unbatched:
        h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    return h0, c0


def restore_layout(
    output: Tensor, h_n: Tensor, c_n: Tensor, *, batch_first: bool, unbatched: bool
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Undo `batch_first_input`: output in the caller's layout, states without a batch dim
    for unbatched input."""
    if unbatched:
        return output.squeeze(0), (h_n.squeeze(1), c_n.squeeze(1))
    return (output if batch_first else output.transpose(0, 1)), (h_n, c_n)


def layers_to_keep(sink: Sink | None, num_layers: int) -> list[bool]:
    """Per layer, whether the open record block wants anything of it."""
    if sink is None:
        return [False] * num_layers
    return [any(sink.wants(w, k) for w in RECORDABLE) for k in range(num_layers)]


def report(module: nn.Module, sink: Sink, kind: str, runs: list[LayerRun]) -> None:
    """Send the kept gates and states of every layer to the record block."""
    parts: dict[tuple[str, int, int], Tensor] = {}
    for layer, run in enumerate(runs):
        for what, value in (run.steps or {}).items():
            if sink.wants(what, layer):
                parts[(what, layer, 0)] = value
    batch, steps = runs[0].output.shape[:2]
    meta = {
        "num_layers": len(runs),
        "num_directions": 1,
        "lengths": None,
        "batch_size": batch,
        "time_steps": steps,
    }
    sink.emit(module, kind, parts, meta)
