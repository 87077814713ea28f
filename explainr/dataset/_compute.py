"""One chunk of windows explained: the work the engine runs in-process or on a Dask worker.

`explain_chunk` calls `explainr.attribute` once per method on the chunk's windows with the
run's options, so stored values are exactly what `attribute` returns for those windows,
and adds the chunk's partial sums of the memory gates (`record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._core.cells import cell_kind
from explainr._core.model import call_model, model_device_dtype
from explainr._core.state import preserved
from explainr.attribution import attribute
from explainr.dataset._store import GateLayer
from explainr.record import find_recurrent, record

SATURATED = (
    0.1,
    0.9,
)  # as the per-window report (Karpathy et al. 2015); a gate below the first or above the second counts as saturated


@dataclass(frozen=True)
class Job:
    """What every chunk of a run computes (picklable: it travels to Dask workers)."""

    methods: tuple[str, ...]
    options: dict[str, Any]  # keyword arguments of explainr.attribute
    gates: tuple[GateLayer, ...] = field(default_factory=tuple)


def explain_chunk(model: Any, x: Any, job: Job) -> dict[str, np.ndarray]:
    """Every method's values for the windows ``x``, in the store's variable names.

    Args:
        model: the model (as `explainr.attribute` takes it).
        x: the chunk's windows ``(rows, time, feature)`` or an adapter's windows object.
        job: methods, options and gate layers.

    Returns:
        ``x``, ``prediction``, ``attr_<m>``, ``baseline_prediction_<m>``,
        ``completeness_<m>`` and ``chunk_gate_<module>_<layer>_sum`` / ``_saturated``.
    """
    out: dict[str, np.ndarray] = {}
    for method in job.methods:
        a = attribute(model, x, method, progress=False, **job.options)
        out[f"attr_{method}"] = np.asarray(a.values, dtype=np.float64)
        out[f"baseline_prediction_{method}"] = np.asarray(a.baseline_prediction, np.float64)
        out[f"completeness_{method}"] = np.asarray(a.completeness_error, dtype=np.float64)
        out.setdefault("prediction", np.asarray(a.prediction, dtype=np.float64))
        out.setdefault("x", np.asarray(a.data, dtype=np.float64))
    if job.gates:
        out.update(gate_sums(model, out["x"], job.gates))
    return out


def memory_gate(kind: str) -> str | None:
    """The gate that keeps a unit's old state: "forget" (LSTM-like), "update" (GRU), or None."""
    gates = cell_kind(kind).gates
    for gate in ("forget", "update"):
        if gate in gates:
            return gate
    return None


def gate_layers(model: Any, x: torch.Tensor) -> list[GateLayer]:
    """The recurrent layers with a memory gate, found by recording ``x`` (one window) once."""
    if not isinstance(model, nn.Module):
        return []
    found = {name: kind for name, kind in find_recurrent(model).items() if memory_gate(kind)}
    if not found:
        return []
    gates = sorted({memory_gate(k) for k in found.values()})
    device, dtype = model_device_dtype(model)
    recorder = record(model, modules=list(found), gates=gates, states=())
    with preserved(model), torch.no_grad(), recorder as rec:
        call_model(model, x.to(device, dtype))
    layers = []
    for name, kind in found.items():
        if name not in rec.trace:
            continue
        r = rec.trace[name]
        gate = memory_gate(kind)
        units = int(np.prod(r.gate(gate).shape[2:]))
        for layer in range(r.num_layers):
            layers.append(GateLayer(name, kind, gate, layer, r.num_directions, units))
    return layers


def gate_sums(model: nn.Module, x: np.ndarray, layers: tuple[GateLayer, ...]) -> dict:
    """Per layer, the memory gate summed over windows and steps, and its saturated count.

    Returns ``{"chunk_gate_<module>_<layer>_sum": (units,), ..._saturated: (units,)}``.
    """
    modules = sorted({g.module for g in layers})
    gates = sorted({g.gate for g in layers})
    device, dtype = model_device_dtype(model)
    recorder = record(model, modules=modules, gates=gates, states=())
    with preserved(model), torch.no_grad(), recorder as rec:
        call_model(model, torch.as_tensor(x).to(device, dtype))
    out = {}
    low, high = SATURATED
    for g in layers:
        r = rec.trace[g.module]
        values = torch.cat(
            [
                r.gate(g.gate, g.layer, d).reshape(r.batch_size, r.time_steps, -1).double()
                for d in range(g.directions)
            ],
            dim=2,
        )
        out[f"chunk_{g.name}_sum"] = values.sum(dim=(0, 1)).cpu().numpy()
        out[f"chunk_{g.name}_saturated"] = (
            ((values < low) | (values > high)).sum(dim=(0, 1)).double().cpu().numpy()
        )
    return out
