"""Contextual decomposition (Murdoch, Liu, Yu 2018, "Beyond Word Importance").

Every cell and hidden state is split exactly into a *relevant* part (due to a chosen set of
input cells) and an *irrelevant* part (the other cells, the initial states), by running the
model on the two parts side by side in float64:

- linear maps act on each part; a bias joins the irrelevant part, except inside a step;
- a gate ``σ(a + b + bias)`` is linearised with the bias entering first and the relevant
  ``a`` and irrelevant ``b`` sharing the rest as two-player Shapley values:
  ``a' = ½[σ(a + bias) - σ(bias) + σ(a + b + bias) - σ(b + bias)]``, ``bias' = σ(bias)``;
- products: relevant × (relevant or bias) and bias × relevant are relevant; anything with an
  irrelevant factor is irrelevant; ``o_t`` multiplies both parts of ``tanh(c_t)``, which is
  split as a two-player Shapley value;
- **bias × bias products** (``σ(b_i) tanh(b_g)``; GRU's ``(1 - σ(b_z)) tanh(…)``) count as
  relevant in proportion to the share of the step's input cells in the chosen set: with
  whole steps chosen this is Murdoch et al.'s convention (relevant at the steps of the
  chosen phrase, irrelevant elsewhere).

The two parts sum to the model's states and output. The head (linear layers, activations,
indexing) is split the same way (``f(a + b)`` as a two-player Shapley value, ``f(0)`` and
biases irrelevant). GRU (not in the paper) follows the same rules with ``h_t = (1 - z) ⊙ n
+ z ⊙ h_{t-1}`` and ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError, ExplainrTypeError
from explainr.attribution._graph import (
    Activation,
    Analysis,
    Elementwise,
    Layout,
    Linear,
    Step,
    analyse,
)
from explainr.attribution._problem import Computed, Problem
from explainr.attribution._recurrent import LayerWeights, aligned

CONVENTION = (
    "bias x bias products at step t are relevant in proportion to the share of step t's "
    "input cells that are chosen (Murdoch et al. 2018 for whole steps); biases of linear "
    "layers outside the recurrence, f(0) of activations and the initial states are irrelevant"
)
BIAS_PRODUCTS = ("share", "irrelevant")
ROWS_PER_PASS = 1024  # (window, cell set) pairs decomposed together

Parts = tuple[Tensor, Tensor]  # (relevant, irrelevant)


@dataclass
class Decomposition:
    """Relevant and irrelevant parts of a recurrent model's states and output.

    ``relevant[key]`` and ``irrelevant[key]`` are ``(batch, time, hidden)`` float64 tensors
    keyed like `record`'s data: ``("cell", layer, direction)`` (LSTMs) and ``("hidden",
    layer, direction)``, time aligned with the input (the reverse direction too). They sum
    to the states `record` gives. ``output_relevant + output_irrelevant`` is the prediction.
    """

    module: str
    kind: str
    relevant: dict[tuple[str, int, int], Tensor]
    irrelevant: dict[tuple[str, int, int], Tensor]
    output_relevant: np.ndarray  # (batch,)
    output_irrelevant: np.ndarray  # (batch,)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def prediction(self) -> np.ndarray:
        """``(batch,)`` the explained output (float64)."""
        return self.output_relevant + self.output_irrelevant


def compute(problem: Problem) -> Computed:
    """Group values ``(batch, groups)``: each group's relevant part of the output.

    Bias x bias products are irrelevant here (``bias_products="irrelevant"``), so a group's
    value is what its cells add, not the bias-driven dynamics during its steps (which,
    with Murdoch et al.'s convention, every group covering those steps would claim).
    """
    grouping = problem.grouping
    masks = torch.as_tensor(
        grouping.cell_group[None] == np.arange(grouping.size)[:, None, None],
        device=problem.x.device,
    )  # (groups, time, feature)
    with problem.bar() as bar:
        values = relevance_of_sets(
            problem.model.model, problem.x, masks, problem.model.column, "irrelevant", bar
        )
    settings = {
        "bias_products": "irrelevant",
        "group_value": "relevant part of the output when the group's cells are chosen",
    }
    return Computed(group_values=values, settings=settings)


def relevance_of_sets(
    model: torch.nn.Module,
    x: Tensor,
    masks: Tensor,
    column: int,
    bias_products: str,
    bar: Any = None,
    method: str = "contextual_decomposition",
) -> np.ndarray:
    """``(batch, sets)``: the relevant part of the output of each window for each cell set.

    Args:
        x: ``(batch, time, feature)``; masks: ``(sets, time, feature)`` bool.
    """
    batch, sets = len(x), len(masks)
    values = np.zeros(batch * sets)
    for start in range(0, batch * sets, ROWS_PER_PASS):
        rows = np.arange(start, min(start + ROWS_PER_PASS, batch * sets))
        windows, chosen = rows // sets, rows % sets
        found = decompose(
            model, x[windows], masks[chosen], column, method=method, bias_products=bias_products
        )
        values[rows] = found.output_relevant
        if bar is not None:
            bar.update(len(np.unique(windows)))
    return values.reshape(batch, sets)


def decompose(
    model: torch.nn.Module,
    x: Tensor,
    cells: Tensor,
    column: int,
    *,
    method: str = "contextual_decomposition",
    bias_products: str = "share",
) -> Decomposition:
    """Decompose ``model`` at ``x`` ``(rows, time, feature)`` for ``cells`` ``(rows, time, feature)`` bool."""
    with torch.no_grad():
        a = analyse(model, x, column, method)
        chosen = cells.to(torch.float64)
        parts: Parts = (a.x * chosen, a.x * (1 - chosen))
        for step in a.before:
            parts = _through(step, a, parts)
        share = chosen.mean(dim=-1)  # (rows, time)
        if bias_products not in BIAS_PRODUCTS:
            raise ExplainrError(
                f"bias_products must be one of {list(BIAS_PRODUCTS)}, got {bias_products!r}"
            )
        if bias_products == "irrelevant":
            share = torch.zeros_like(share)
        taken, states = _recurrent(a, parts, share, method)
        parts = taken
        for step in a.after:
            parts = _through(step, a, parts)
    rec = a.call.recurrent
    return Decomposition(
        module=rec.name,
        kind=rec.kind,
        relevant={k: v[0] for k, v in states.items()},
        irrelevant={k: v[1] for k, v in states.items()},
        output_relevant=parts[0].cpu().numpy(),
        output_irrelevant=parts[1].cpu().numpy(),
        settings={"bias_products": bias_products if bias_products == "irrelevant" else CONVENTION},
    )


def shapley_two(f: Callable[[Tensor], Tensor], a: Tensor, b: Tensor) -> Parts:
    """``f(a + b)`` split into a's and b's two-player Shapley shares; ``f(0)`` goes to b."""
    whole = f(a + b)
    relevant = 0.5 * (f(a) - f(torch.zeros_like(a)) + whole - f(b))
    return relevant, whole - relevant


def shapley_three(
    f: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, bias: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``f(a + b + bias)`` as (a's share, b's share, f(bias)), the bias entering first."""
    base = f(bias)
    whole = f(a + b + bias)
    with_a, with_b = f(a + bias), f(b + bias)
    return 0.5 * (with_a - base + whole - with_b), 0.5 * (with_b - base + whole - with_a), base


def _through(step: Step, a: Analysis, parts: Parts) -> Parts:
    relevant, irrelevant = parts
    if isinstance(step, Layout):
        return step.fn(relevant), step.fn(irrelevant)
    if isinstance(step, Linear):
        out = relevant @ step.weight.T
        rest = irrelevant @ step.weight.T
        return out, rest if step.bias is None else rest + step.bias
    v = a.inputs[id(step)]
    if isinstance(step, Elementwise):
        shift = step.fn(torch.zeros_like(v))
        scale = step.fn(torch.ones_like(v)) - shift
        return scale * relevant, scale * irrelevant + shift
    if isinstance(step, Activation):
        return shapley_two(step.fn, relevant, irrelevant)
    raise ExplainrError(f"contextual_decomposition: no rule for {step.label}")  # pragma: no cover


def _recurrent(
    a: Analysis, parts: Parts, share: Tensor, method: str
) -> tuple[Parts, dict[tuple[str, int, int], Parts]]:
    rec = a.call.recurrent
    relevant, irrelevant = (p if rec.batch_first else p.transpose(0, 1) for p in parts)
    if relevant.shape[1] != share.shape[1]:
        raise ExplainrError(
            f"{method}: the recurrent module runs over {relevant.shape[1]} steps but the input "
            f"has {share.shape[1]}; the steps before it must keep the time axis"
        )
    states: dict[tuple[str, int, int], Parts] = {}
    for layer, row in enumerate(rec.weights):
        outs = []
        for d, w in enumerate(row):
            run = _lstm if rec.has_cell else _gru
            found = run(w, aligned(relevant, d), aligned(irrelevant, d), aligned(share, d))
            for name, (r, i) in found.items():
                states[(name, layer, d)] = (aligned(r, d), aligned(i, d))
            outs.append(states[("hidden", layer, d)])
        relevant = torch.cat([o[0] for o in outs], dim=-1)
        irrelevant = torch.cat([o[1] for o in outs], dim=-1)
    if a.call.takes == "output":
        taken = (relevant, irrelevant)
        if not rec.batch_first:
            taken = (relevant.transpose(0, 1), irrelevant.transpose(0, 1))
        return taken, states
    last = []
    for layer in range(rec.num_layers):
        for d in range(rec.num_directions):
            r, i = states[("hidden", layer, d)]
            step = 0 if d else -1
            last.append((r[:, step], i[:, step]))
    return (torch.stack([p[0] for p in last]), torch.stack([p[1] for p in last])), states


def _product(
    g: tuple[Tensor, Tensor, Tensor], s: tuple[Tensor, Tensor, Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    """(relevant, irrelevant, bias) parts of a product of two three-part values."""
    gr, gi, gb = g
    sr, si, sb = s
    relevant = gr * (sr + sb) + gb * sr
    irrelevant = gi * (sr + si + sb) + (gr + gb) * si
    return relevant, irrelevant, gb * sb


def _lstm(w: LayerWeights, xr: Tensor, xi: Tensor, share: Tensor) -> dict[str, Parts]:
    hidden = w.w_hh.shape[1]
    pre_r, pre_i = xr @ w.w_ih.T, xi @ w.w_ih.T
    bias = (w.b_ih + w.b_hh).chunk(4)
    hr = xr.new_zeros(len(xr), hidden)
    hi, cr, ci = torch.zeros_like(hr), torch.zeros_like(hr), torch.zeros_like(hr)
    keep: dict[str, list[Parts]] = {"cell": [], "hidden": []}
    for t in range(xr.shape[1]):
        rel = (pre_r[:, t] + hr @ w.w_hh.T).chunk(4, dim=-1)
        irr = (pre_i[:, t] + hi @ w.w_hh.T).chunk(4, dim=-1)
        if w.peephole is not None:
            rel = (rel[0] + w.peephole[0] * cr, rel[1] + w.peephole[1] * cr, rel[2], rel[3])
            irr = (irr[0] + w.peephole[0] * ci, irr[1] + w.peephole[1] * ci, irr[2], irr[3])
        i = shapley_three(torch.sigmoid, rel[0], irr[0], bias[0])
        f = shapley_three(torch.sigmoid, rel[1], irr[1], bias[1])
        g = shapley_three(torch.tanh, rel[2], irr[2], bias[2])
        new_r, new_i, new_b = _product(i, g)
        f_all = f[0] + f[1] + f[2]
        kept_r = (f[0] + f[2]) * cr
        kept_i = f_all * ci + f[1] * cr
        s = share[:, t, None]
        cr, ci = kept_r + new_r + s * new_b, kept_i + new_i + (1 - s) * new_b
        o_pre = rel[3] + irr[3] + bias[3]
        if w.peephole is not None:
            o_pre = o_pre + w.peephole[2] * (cr + ci)
        o = torch.sigmoid(o_pre)
        tr, ti = shapley_two(torch.tanh, cr, ci)
        hr, hi = o * tr, o * ti
        keep["cell"].append((cr, ci))
        keep["hidden"].append((hr, hi))
    return {k: _stacked(v) for k, v in keep.items()}


def _gru(w: LayerWeights, xr: Tensor, xi: Tensor, share: Tensor) -> dict[str, Parts]:
    hidden = w.w_hh.shape[1]
    pre_r, pre_i = xr @ w.w_ih.T, xi @ w.w_ih.T
    b_x, b_h = w.b_ih.chunk(3), w.b_hh.chunk(3)
    w_h = w.w_hh.chunk(3)
    hr = xr.new_zeros(len(xr), hidden)
    hi = torch.zeros_like(hr)
    keep: list[Parts] = []
    for t in range(xr.shape[1]):
        xr_t, xi_t = pre_r[:, t].chunk(3, dim=-1), pre_i[:, t].chunk(3, dim=-1)
        reset = shapley_three(
            torch.sigmoid, xr_t[0] + hr @ w_h[0].T, xi_t[0] + hi @ w_h[0].T, b_x[0] + b_h[0]
        )
        update = shapley_three(
            torch.sigmoid, xr_t[1] + hr @ w_h[1].T, xi_t[1] + hi @ w_h[1].T, b_x[1] + b_h[1]
        )
        s = (hr @ w_h[2].T, hi @ w_h[2].T, b_h[2].expand_as(hr))
        gated = _product(reset, s)
        n = shapley_three(torch.tanh, xr_t[2] + gated[0], xi_t[2] + gated[1], b_x[2] + gated[2])
        new_r, new_i, new_b = _product((-update[0], -update[1], 1 - update[2]), n)
        z_all = update[0] + update[1] + update[2]
        kept_r = (update[0] + update[2]) * hr
        kept_i = z_all * hi + update[1] * hr
        frac = share[:, t, None]
        hr, hi = kept_r + new_r + frac * new_b, kept_i + new_i + (1 - frac) * new_b
        keep.append((hr, hi))
    return {"hidden": _stacked(keep)}


def _stacked(parts: list[Parts]) -> Parts:
    return torch.stack([p[0] for p in parts], dim=1), torch.stack([p[1] for p in parts], dim=1)


def contextual_decomposition(
    model: torch.nn.Module,
    x: Any,
    cells: Any,
    *,
    target: int | None = None,
    bias_products: str = "share",
) -> Decomposition:
    """Split a recurrent model's states and output into the part due to ``cells`` and the rest.

    Contextual decomposition (Murdoch et al. 2018) for ``nn.LSTM`` (layers, bidirectional),
    ``nn.GRU`` and `explainr.nn.PeepholeLSTM`, followed by linear layers, activations and
    indexing (the last step of the output, or ``h_n``). Products of two bias terms are
    relevant in proportion to the share of a step's cells that are chosen (Murdoch et al.:
    relevant at the chosen steps); see ``settings["bias_products"]``.

    Args:
        model: a torch module taking ``(batch, time, feature)``; it is not changed.
        x: windows ``(batch, time, feature)`` or one window ``(time, feature)``.
        cells: bool mask of the chosen input cells, ``(time, feature)`` (the same for every
            window) or ``(batch, time, feature)``.
        target: output column to explain; required when the model has several outputs.
        bias_products: ``"share"`` (default; Murdoch et al.: products of bias terms at a
            step are relevant in proportion to the step's chosen cells) or
            ``"irrelevant"`` (always irrelevant: the relevant part is only what the chosen
            cells add; what ``attribute(method="contextual_decomposition")`` uses).

    Returns:
        A `Decomposition`: ``relevant`` / ``irrelevant`` parts ``(batch, time, hidden)`` of
        every cell and hidden state, keyed ``("cell" | "hidden", layer, direction)`` like
        `record`, and ``output_relevant`` / ``output_irrelevant`` ``(batch,)``.

    >>> import torch, explainr
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.LSTM(3, 8, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[0][:, -1])
    >>> net, x = Net(), torch.randn(2, 10, 3)
    >>> cells = torch.zeros(10, 3, dtype=torch.bool)
    >>> cells[7:] = True  # the last three steps
    >>> d = explainr.contextual_decomposition(net, x, cells)
    >>> d.relevant[("hidden", 0, 0)].shape
    torch.Size([2, 10, 8])
    >>> bool(abs(d.prediction - net(x)[:, 0].detach().numpy()).max() < 1e-5)
    True
    """
    from explainr._core.inputs import check_choice, check_finite, to_inputs
    from explainr._core.model import ScalarModel, check_module, model_device_dtype
    from explainr._core.state import preserved

    check_module(model)
    check_choice(bias_products, "bias_products", ("share", "irrelevant"))
    xs = to_inputs(x, None).x
    device, dtype = model_device_dtype(model)
    xs = xs.to(device, dtype)
    check_finite(xs, f"x in the model's dtype {dtype}")
    mask = _mask(cells, tuple(xs.shape))
    with preserved(model):
        scalar, _ = ScalarModel.probe(model, xs, target)
        return decompose(model, xs, mask.to(device), scalar.column, bias_products=bias_products)


def _mask(cells: Any, shape: tuple[int, int, int]) -> Tensor:
    try:
        mask = torch.as_tensor(np.asarray(cells))
    except Exception as error:
        raise ExplainrTypeError(
            f"cells must be a bool array, got {type(cells).__name__}"
        ) from error
    if mask.dtype != torch.bool:
        raise ExplainrTypeError(
            f"cells must be a bool mask (True = chosen cell), got dtype {mask.dtype}"
        )
    if tuple(mask.shape) == shape[1:]:
        mask = mask.expand(shape)
    if tuple(mask.shape) != shape:
        raise ExplainrError(
            f"cells has shape {tuple(mask.shape)}; it must be (time, feature) = {shape[1:]} or "
            f"(batch, time, feature) = {shape} like x"
        )
    return mask
