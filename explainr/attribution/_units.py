"""`attribute_units`: which hidden units of a recurrent module carry the prediction.

captum's `LayerIntegratedGradients` integrates along the straight path between the
module's outputs for the baseline and for ``x``. captum needs the layer's outputs as a flat
tuple of batch-first tensors, which ``nn.LSTM``'s ``(output, (h_n, c_n))`` is not, so while
we run a forward hook routes the module's outputs through a parameter-free `_Tap` module in
that layout (and back); captum hooks the tap.

Coverage: ``values`` are the top layer's hidden states ``output[:, t, unit]``. The final
state ``h_n`` of the top layer is the same number as ``output`` at the last step (first
step for the reverse direction), so its share is added there. What the model takes from
lower layers' ``h_n`` or from ``c_n`` is not a top-layer hidden state: it is reported as
``uncovered`` so sums still hold. Lower layers are not covered.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from explainr._core.budget import check_memory
from explainr._core.cells import kind_of
from explainr._core.defaults import DEFAULTS
from explainr._core.errors import ExplainrError, ExplainrTypeError, ExplainrValueError
from explainr._core.inputs import check_count, check_finite, check_flag, to_baselines, to_inputs
from explainr._core.model import (
    ScalarModel,
    call_model,
    check_module,
    chunks,
    model_device_dtype,
)
from explainr._core.state import gradient_pass, preserved
from explainr.attribution._result import Windowed, with_time_labels


@dataclass(eq=False, repr=False)
class UnitAttribution(Windowed):
    """Attribution of one prediction per window to a recurrent module's hidden units.

    ``values[b, t, u]`` is hidden unit u at step t's share of
    ``prediction[b] - baseline_prediction[b]``; ``uncovered[b]`` is the share that went to
    states that are not top-layer hidden states (``c_n``, lower layers' ``h_n``). Indexing
    (``u[0]``, ``u[..., "h3"]``), tables, shap and files as for `Attribution` (see
    `Windowed`), with ``unit`` as the third axis.
    """

    NAME_AXIS: ClassVar[str] = "unit"
    NAMES: ClassVar[str] = "unit_names"
    PER_WINDOW: ClassVar[tuple[str, ...]] = ("prediction", "baseline_prediction", "uncovered")

    module: str
    values: np.ndarray  # (batch, time, units)
    prediction: np.ndarray  # (batch,)
    baseline_prediction: np.ndarray  # (batch,)
    uncovered: np.ndarray  # (batch,)
    layer: int  # index of the attributed (top) layer
    unit_names: list[str] = field(default_factory=list)
    time_labels: list[str] = field(default_factory=list)
    target: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    partial: bool = False  # indexed to some time steps or units

    def by_unit(self) -> np.ndarray:
        """``(batch, units)``: values summed over time."""
        return self.values.sum(axis=1)

    def by_time(self) -> np.ndarray:
        """``(batch, time)``: values summed over units."""
        return self.values.sum(axis=2)

    def top_units(self, k: int = 10) -> np.ndarray:
        """``(k,)`` unit indices with the largest mean ``|by_unit()|`` over the batch, largest first."""
        strength = np.abs(self.by_unit()).mean(axis=0)
        return np.argsort(-strength, kind="stable")[:k]

    @property
    def completeness_error(self) -> np.ndarray:
        """``(batch,)``: |sum(values) + uncovered - (f(x) - f(baseline))| / |f(x) - f(baseline)|.

        Raises for a partial result (indexed to some time steps or units).
        """
        self._check_whole()
        delta = self.prediction - self.baseline_prediction
        total = self.values.reshape(len(self.values), -1).sum(axis=1) + self.uncovered
        return np.abs(total - delta) / np.maximum(np.abs(delta), 1e-12)


class _Tap(nn.Module):
    """Identity over a flat tuple of tensors: the layer captum hooks."""

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        return tensors


def attribute_units(
    model: nn.Module,
    x: Any,
    module: str = "rnn",
    *,
    target: int | None = None,
    baselines: Any = None,
    layer: int | None = None,
    n_steps: int = 50,
    progress: bool = DEFAULTS.progress,
    feature_names: list[str] | None = None,
    time_labels: list[str] | None = None,
) -> UnitAttribution:
    """Attribute the prediction to the hidden units (per time step) of a recurrent module.

    Layer integrated gradients (captum) on the hidden states of one layer of the module:
    the top layer by default; a lower layer of a multi-layer nn.LSTM/nn.GRU with ``layer=``
    (its output sequence is routed through captum while the fused kernel runs layer by layer).

    Args:
        model: torch module taking ``(batch, time, feature)`` (see `attribute`).
        x: windows ``(batch, time, feature)`` or one window ``(time, feature)``.
        module: name of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` in ``model.named_modules()``,
            called once per forward.
        target: output column to explain; required when the model has several outputs.
        baselines: input baseline: None (zeros), a number, ``(time, feature)`` or a
            background set ``(n, time, feature)`` (results averaged).
        layer: layer to attribute to (default the top one). For a lower layer, what reaches
            the prediction through that layer's final states ``h_n``/``c_n`` rather than its
            output sequence is reported in ``uncovered``.
        n_steps: integration steps.
        progress: show a progress bar.
        feature_names: accepted for symmetry with `attribute` (checked, not used).
        time_labels: one label per time step (default: the DataFrame's index or 0, 1, ...).

    Returns:
        `UnitAttribution` with ``values`` ``(batch, time, units)``; bidirectional modules
        list forward units first, then reverse ones.

    >>> import torch, explainr
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.GRU(3, 8, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[1][-1])
    >>> u = explainr.attribute_units(Net(), torch.randn(2, 20, 3), progress=False)
    >>> u.values.shape, u.by_unit().shape, len(u.top_units(3))
    ((2, 20, 8), (2, 8), 3)
    """
    started = _time.perf_counter()
    check_module(model)
    if not isinstance(module, str | None):
        raise ExplainrTypeError(
            f"module must be the name of a recurrent module (a str) or None, got {module!r}"
        )
    rnn = _find_module(model, module)
    inputs = with_time_labels(to_inputs(x, feature_names), time_labels)
    check_count(n_steps, "n_steps")
    check_flag(progress, "progress")
    check_memory(
        24.0 * n_steps**2 + 16.0 * inputs.x.numel(),
        f"attribute_units with n_steps={n_steps}",
        "pass a smaller n_steps (default 50; 50 to a few hundred is usual)",
    )
    background = to_baselines(baselines, tuple(inputs.x.shape[1:]))
    device, dtype = model_device_dtype(model)
    xs, background = inputs.x.to(device, dtype), background.to(device, dtype)
    check_finite(xs, f"x in the model's dtype {dtype}")
    check_finite(background, f"baselines in the model's dtype {dtype}")
    with preserved(model):
        scalar, prediction = ScalarModel.probe(model, xs, target)
        base = scalar.evaluate(background).double().mean().item()
        _check_called_once(model, rnn, module, xs[:1])
        top = getattr(rnn, "num_layers", 1) - 1
        layer = top if layer is None else _check_layer(rnn, module, layer, top)
        if layer == top:
            values, uncovered = _integrate(scalar, rnn, xs, background, n_steps, progress)
        else:
            values = _integrate_lower(scalar, rnn, module, layer, xs, background, n_steps, progress)
            delta = prediction.double().cpu().numpy() - base
            uncovered = delta - values.reshape(len(values), -1).sum(axis=1)
    directions = 2 if getattr(rnn, "bidirectional", False) else 1
    units = values.shape[2]
    names = [f"h{u}" for u in range(units)]
    if directions == 2:
        half = units // 2
        names = [f"fwd h{u}" for u in range(half)] + [f"bwd h{u}" for u in range(half)]
    return UnitAttribution(
        module=module,
        values=values,
        prediction=prediction.double().cpu().numpy(),
        baseline_prediction=np.full(len(values), base),
        uncovered=uncovered,
        layer=layer,
        unit_names=names,
        time_labels=inputs.time_labels,
        target=None if target is None else scalar.column,
        settings={"n_steps": int(n_steps), "baselines": len(background), "layer": layer},
        seconds=_time.perf_counter() - started,
    )


def _sequence_module(module: nn.Module | None) -> bool:
    """A registered recurrent module run over whole sequences (not one step per call)."""
    kind = None if module is None else kind_of(module)
    return kind is not None and kind.recording != "step"


def _find_module(model: nn.Module, name: str) -> nn.Module:
    named = dict(model.named_modules())
    found = named.get(name)
    if not _sequence_module(found):
        candidates = [n for n, m in named.items() if _sequence_module(m)]
        what = "no module" if found is None else f"a {type(found).__name__}"
        raise ExplainrError(
            f"module={name!r} is {what} in {type(model).__name__}; attribute_units needs the "
            f"name of a recurrent module run over the sequence (nn.LSTM, nn.GRU, nn.RNN, "
            f"explainr.nn.PeepholeLSTM or a registered kind): candidates {candidates}"
        )
    return found  # type: ignore[return-value]


def _check_layer(rnn: nn.Module, name: str, layer: int, top: int) -> int:
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)):
        raise ExplainrTypeError(f"layer must be an int, 0..{top} for {name!r}; got {layer!r}")
    if not 0 <= layer <= top:
        raise ExplainrValueError(f"layer={layer!r}: module {name!r} has layers 0..{top}")
    kind = kind_of(rnn)
    if layer < top and (kind is None or kind.recording != "kernel"):
        raise ExplainrError(
            f"lower layers can be attributed for nn.LSTM / nn.GRU / nn.RNN only; {name!r} is a "
            f"{type(rnn).__name__}: use layer={top}"
        )
    return layer


def _integrate_lower(
    scalar: ScalarModel,
    rnn: nn.Module,
    name: str,
    layer: int,
    x: Tensor,
    background: Tensor,
    n_steps: int,
    progress: bool,
) -> np.ndarray:
    """Layer IG on a lower layer's output sequence: ``values (batch, time, units)``."""
    from captum.attr import LayerIntegratedGradients

    from explainr.record import record, tapped

    tap = _Tap()
    batch_first = bool(rnn.batch_first)

    def route(out: Tensor) -> Tensor:  # captum sees batch-first activations
        if batch_first:
            return tap(out)[0]
        return tap(out.transpose(0, 1))[0].transpose(0, 1)

    recorded = record(scalar.model, modules=[name], gates=(), states=())  # runs layer by layer
    with recorded, tapped(rnn, layer, route):
        parts = _layer_ig(
            LayerIntegratedGradients(scalar, tap), scalar, x, background, n_steps, progress
        )
        return np.concatenate([found[0].numpy() for found in parts])


def _check_called_once(model: nn.Module, rnn: nn.Module, name: str, x: Tensor) -> None:
    calls: list[Any] = []
    handle = rnn.register_forward_hook(lambda mod, args, out: calls.append(out))
    try:
        with torch.no_grad():
            call_model(model, x)
    finally:
        handle.remove()
    if len(calls) != 1:
        raise ExplainrError(
            f"module {name!r} ran {len(calls)} times in one forward; attribute_units needs a "
            "module that runs once over the whole sequence"
        )
    output = calls[0][0] if isinstance(calls[0], tuple) else calls[0]
    if not isinstance(output, Tensor):
        raise ExplainrError(
            f"module {name!r} returned {type(output).__name__} (packed sequences?); "
            "attribute_units needs padded (batch, time, feature) tensors"
        )


def _integrate(
    scalar: ScalarModel, rnn: nn.Module, x: Tensor, background: Tensor, n_steps: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Layer IG over windows and baselines: ``values (batch, time, units)``, ``uncovered (batch,)``."""
    from captum.attr import LayerIntegratedGradients

    tap = _Tap()
    batch_first = bool(getattr(rnn, "batch_first", False))

    def route(module: nn.Module, args: Any, output: Any) -> Any:
        seq, states = (output[0], output[1]) if isinstance(output, tuple) else (output, None)
        leaves = [seq if batch_first else seq.transpose(0, 1)]
        if isinstance(states, Tensor):
            leaves.append(states.transpose(0, 1))
        elif isinstance(states, tuple):
            leaves.extend(s.transpose(0, 1) for s in states)
        tapped = tap(*leaves)
        seq = tapped[0] if batch_first else tapped[0].transpose(0, 1)
        if states is None:
            return seq
        back = [t.transpose(0, 1) for t in tapped[1:]]
        return (seq, back[0]) if isinstance(states, Tensor) else (seq, tuple(back))

    handle = rnn.register_forward_hook(route)
    try:
        lig = LayerIntegratedGradients(scalar, tap)
        parts = _layer_ig(lig, scalar, x, background, n_steps, progress)
    finally:
        handle.remove()
    folded = [_fold(rnn, found) for found in parts]
    return np.concatenate([v for v, _ in folded]), np.concatenate([u for _, u in folded])


def _layer_ig(
    lig: Any, scalar: ScalarModel, x: Tensor, background: Tensor, n_steps: int, progress: bool
) -> list[list[Tensor]]:
    """captum layer IG over chunks of windows, averaged over the baselines: per chunk, the
    attributions of each tapped tensor (float64, CPU)."""
    out = []
    with tqdm(total=len(x), desc="units", disable=not progress, leave=False) as bar:
        for part in chunks(len(x), n_steps, scalar.rows.backward):
            total: list[Tensor] | None = None
            for baseline in background:
                with gradient_pass(scalar.model):
                    found = lig.attribute(
                        x[part],
                        baselines=baseline[None],
                        n_steps=n_steps,
                        internal_batch_size=max(scalar.rows.backward, part.stop - part.start),
                        grad_kwargs={"materialize_grads": True},
                    )
                found = list(found) if isinstance(found, (tuple, list)) else [found]
                found = [t.detach().double().cpu() / len(background) for t in found]
                total = (
                    found if total is None else [a + b for a, b in zip(total, found, strict=True)]
                )
            out.append(total)
            bar.update(part.stop - part.start)
    return out


def _fold(rnn: nn.Module, found: list[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Add the top layer's ``h_n`` share to the hidden states it equals; the rest is uncovered."""
    seq = found[0].clone()  # (batch, time, units)
    uncovered = torch.zeros(len(seq), dtype=seq.dtype)
    if len(found) > 1:
        h_n = found[1]  # (batch, layers * directions, units)
        if getattr(rnn, "bidirectional", False):
            half = seq.shape[2] // 2
            seq[:, -1, :half] += h_n[:, -2]
            seq[:, 0, half:] += h_n[:, -1]
            uncovered += h_n[:, :-2].sum(dim=(1, 2))
        else:
            seq[:, -1] += h_n[:, -1]
            uncovered += h_n[:, :-1].sum(dim=(1, 2))
        for other in found[2:]:  # c_n
            uncovered += other.sum(dim=(1, 2))
    return seq.numpy(), uncovered.numpy()
