"""Layer-wise relevance propagation through recurrent gates (Arras, Montavon, Müller, Samek
2017, "Explaining Recurrent Neural Network Predictions in Sentiment Analysis").

The explained output f(x) is the relevance at the top; it flows back, in float64:

- through linear maps (``nn.Linear``, the gates' input and recurrent matrices, the sums
  ``c_t = f ⊙ c_{t-1} + i ⊙ g`` and GRU's ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``) by the ε-rule
  ``R_i = Σ_j z_ij / (z_j + ε sign(z_j)) R_j`` with ``sign(0) = +1``;
- through a gated product (``i ⊙ g``, ``f ⊙ c_{t-1}``, ``o ⊙ tanh(c)``, GRU's ``r ⊙ s``,
  ``(1 - z) ⊙ n``, ``z ⊙ h_{t-1}``) entirely to the signal, none to the gate
  ("signal-take-all");
- unchanged through elementwise activations, and moved as values move through indexing.

The part of R_j owed to the bias and the stabiliser, ``(b_j + ε sign(z_j)) / (z_j + ε sign(z_j))
R_j``, is either absorbed (``bias="absorbed"``, the default, as in the authors' released code
with ``bias_factor=0``) or shared equally by the N inputs connected to j
(``bias="redistributed"``, their rule with δ = 1; N = in_features for a matrix, 2 for a
two-term sum). So ``sum(values) + initial + absorbed = f(x)`` for every window, where
``initial`` is the relevance left on the zero initial states (non-zero only when
redistributing). GRU (not covered by the paper) follows the same two rules: ``n``'s
pre-activation ``W_in x + b_in + r ⊙ s`` is a sum whose term ``r ⊙ s`` passes its relevance
to the signal ``s = W_hn h + b_hn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from explainr._core.errors import ExplainrError
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
from explainr.attribution._recurrent import LayerWeights, Recurrent, Run, aligned

BIAS = ("absorbed", "redistributed")
DEFAULT_EPS = 1e-3


@dataclass
class Relevance:
    """LRP of one batch: input relevance and where the rest of f(x) went."""

    values: np.ndarray  # (batch, time, feature)
    prediction: np.ndarray  # (batch,) f(x) in float64
    absorbed: np.ndarray  # (batch,) by biases and stabilisers
    initial: np.ndarray  # (batch,) left on the initial states


def compute(problem: Problem) -> Computed:
    """Cell values ``(batch, time, feature)`` by LRP, all windows in one pass."""
    eps = problem.options.get("eps", DEFAULT_EPS)
    bias = problem.options.get("bias", "absorbed")
    found = lrp(problem.model.model, problem.x, problem.model.column, eps=eps, bias=bias)
    settings = {
        "eps": eps,
        "bias": bias,
        "absorbed_relevance": found.absorbed.tolist(),
        "initial_state_relevance": found.initial.tolist(),
        "prediction_float64": found.prediction.tolist(),
        "conserved": (
            "sum(values) + initial_state_relevance + absorbed_relevance = prediction_float64 "
            "(f(x) recomputed in float64)"
        ),
    }
    return Computed(values=found.values, settings=settings)


def lrp(model: torch.nn.Module, x: Tensor, column: int, *, eps: float, bias: str) -> Relevance:
    """LRP of output ``column`` of ``model`` at ``x`` ``(batch, time, feature)``."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ExplainrError(f"lrp_eps must be a number >= 0 (the ε-rule's stabiliser), got {eps!r}")
    if bias not in BIAS:
        raise ExplainrError(f"lrp_bias must be one of {list(BIAS)}, got {bias!r}")
    rule = _Rule(float(eps), bias == "redistributed")
    with torch.no_grad():
        a = analyse(model, x, column, "lrp")
        batch = len(a.x)
        lost = torch.zeros(batch, dtype=torch.float64, device=a.x.device)
        relevance = a.prediction.clone()
        ids = _batch_ids(a)
        for step in reversed(a.after):
            relevance = _through(step, a, relevance, rule, lost, ids)
        on_input, initial = _recurrent(a, relevance, rule, lost)
        for step in reversed(a.before):
            on_input = _through(step, a, on_input, rule, lost, ids)
    return Relevance(
        values=on_input.cpu().numpy(),
        prediction=a.prediction.cpu().numpy(),
        absorbed=lost.cpu().numpy(),
        initial=initial.cpu().numpy(),
    )


@dataclass(frozen=True)
class _Rule:
    eps: float
    redistribute: bool


def _sign(z: Tensor) -> Tensor:
    """+1 where ``z >= 0`` (zero included), else -1, in ``z``'s dtype."""
    return torch.where(z >= 0, z.new_ones(()), z.new_full((), -1.0))


def _batch_ids(a: Analysis) -> dict[int, Tensor]:
    """For every step's output, the window each element belongs to (to sum absorbed relevance)."""
    ids: dict[int, Tensor] = {}
    batch = len(a.x)
    index = torch.arange(batch, dtype=torch.float64, device=a.x.device)
    current = index[:, None, None].expand_as(a.x)
    for step in a.before:
        current = _ids_through(step, current, a.outputs[id(step)])
        ids[id(step)] = current
    taken = a.outputs[id(a.call)]
    axis = 1 if a.call.takes == "h_n" or not a.call.recurrent.batch_first else 0
    shape = [1] * taken.dim()
    shape[axis] = batch
    current = index.reshape(shape).expand_as(taken)
    for step in a.after:
        current = _ids_through(step, current, a.outputs[id(step)])
        ids[id(step)] = current
    return ids


def _ids_through(step: Step, ids: Tensor, out: Tensor) -> Tensor:
    if isinstance(step, Layout):
        return step.fn(ids)
    if isinstance(step, Linear):
        return ids[..., :1].expand_as(out)
    return ids.expand_as(out)


def _through(
    step: Step, a: Analysis, relevance: Tensor, rule: _Rule, lost: Tensor, ids: dict[int, Tensor]
) -> Tensor:
    """Relevance on a step's input from relevance on its output."""
    v, z = a.inputs[id(step)], a.outputs[id(step)]
    if isinstance(step, Layout):
        with torch.enable_grad():
            leaf = v.detach().requires_grad_(True)
            (back,) = torch.autograd.grad(step.fn(leaf), leaf, relevance)
        return back
    if v.shape != z.shape and not isinstance(step, Linear):
        raise ExplainrError(
            f"lrp: {step.label} changes the shape {tuple(v.shape)} -> {tuple(z.shape)}; only "
            "elementwise activations and scalings are supported"
        )
    if isinstance(step, Activation):
        return relevance
    s = _sign(z)
    q = relevance / (z + rule.eps * s)
    if isinstance(step, Linear):
        b = step.bias if step.bias is not None else torch.zeros_like(z[..., 0, None])
        rest = (b + rule.eps * s) * q
        back = v * (q @ step.weight)
        n_inputs = v.shape[-1]
    elif isinstance(step, Elementwise):
        shift = step.fn(torch.zeros_like(v))
        scale = step.fn(torch.ones_like(v)) - shift
        rest = (shift + rule.eps * s) * q
        back = scale * v * q
        n_inputs = 1
    else:  # pragma: no cover - every Step kind is handled above
        raise ExplainrError(f"lrp: no rule for {step.label}")
    if rule.redistribute:
        return back + rest.sum(-1, keepdim=True) / n_inputs if n_inputs > 1 else back + rest
    lost.index_add_(0, ids[id(step)].reshape(-1).long(), rest.reshape(-1))
    return back


def _recurrent(a: Analysis, relevance: Tensor, rule: _Rule, lost: Tensor) -> tuple[Tensor, Tensor]:
    """Relevance on the recurrent module's input (its layout) and on its initial states."""
    rec: Recurrent = a.call.recurrent
    hidden, directions = rec.hidden, rec.num_directions
    top = [[torch.zeros_like(r.values["h"]) for r in row] for row in a.runs]
    if a.call.takes == "output":
        seq = relevance if rec.batch_first else relevance.transpose(0, 1)
        for d in range(directions):
            top[-1][d] += aligned(seq[..., d * hidden : (d + 1) * hidden], d)
    else:
        for layer in range(rec.num_layers):
            for d in range(directions):
                top[layer][d][:, -1] += relevance[layer * directions + d]
    initial = torch.zeros(len(a.x), dtype=torch.float64, device=a.x.device)
    below = None
    for layer in reversed(range(rec.num_layers)):
        on_input = None
        for d in range(directions):
            back = _lstm_back if rec.has_cell else _gru_back
            r_in, r0 = back(rec.weights[layer][d], a.runs[layer][d], top[layer][d], rule, lost)
            initial += r0
            r_in = aligned(r_in, d)
            on_input = r_in if on_input is None else on_input + r_in
        below = on_input
        if layer:
            for d in range(directions):
                top[layer - 1][d] += aligned(below[..., d * hidden : (d + 1) * hidden], d)
    assert below is not None
    return (below if rec.batch_first else below.transpose(0, 1)), initial


def _shifted(seq: Tensor) -> Tensor:
    """``seq`` one step later: position t holds step t-1, position 0 the zero initial state."""
    return torch.cat([seq.new_zeros(seq.shape[0], 1, seq.shape[2]), seq[:, :-1]], dim=1)


def _back_scan(
    on_top: Tensor,
    alpha: Tensor,
    coef: Tensor,
    h_prev: Tensor,
    w_h: Tensor,
    rho: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The step-by-step part of a layer's backward pass, all windows and units at once.

    Every rule of a step is linear in the relevance ``R_t`` ``(B, H)`` on the step's carried
    state (LSTM ``c_t``, GRU ``h_t``) with coefficients that depend on the forward values only,
    precomputed for all steps ``(B, T, H)``: ``alpha`` passes it to the carried state one step
    back, ``coef`` turns it into the ``q`` of the recurrent matrix (whose ε-rule share is
    ``h_{t-1} ⊙ (q @ w_h)``) and ``rho`` (redistribution only) gives the per-input share of the
    bias and stabiliser relevance. So ``R_{t-1} = on_top_{t-1} + alpha_t R_t +
    h_{t-1} ⊙ ((coef_t R_t) @ w_h) [+ Σ rho_t R_t]``.

    Returns ``R`` ``(B, T, H)`` and the relevance left on the initial states ``(B,)``.
    """
    relevance = on_top.clone()
    for t in range(relevance.shape[1] - 1, 0, -1):
        r, below = relevance[:, t], relevance[:, t - 1]
        below.addcmul_(h_prev[:, t], torch.mm(r * coef[:, t], w_h)).addcmul_(alpha[:, t], r)
        if rho is not None:
            below += (rho[:, t] * r).sum(-1, keepdim=True)
    first = relevance[:, 0]
    initial = (alpha[:, 0] * first).sum(-1)  # h_{-1} = 0: nothing through the matrix
    if rho is not None:
        initial += first.shape[-1] * (rho[:, 0] * first).sum(-1)
    return relevance, initial


def _lstm_back(
    w: LayerWeights, run: Run, on_h: Tensor, rule: _Rule, lost: Tensor
) -> tuple[Tensor, Tensor]:
    """One LSTM layer and direction: relevance ``(B, T, in)`` on its input, and on h0, c0.

    Per step: ``h_t = o ⊙ tanh(c_t)`` gives all of its relevance to ``c_t``; the sum
    ``c_t = f ⊙ c_{t-1} + i ⊙ g`` splits it by the ε-rule; ``f ⊙ c_{t-1}`` gives its share to
    ``c_{t-1}``, ``i ⊙ g`` to ``g`` and through ``g``'s pre-activation
    ``W_x x_t + W_h h_{t-1} + b`` to ``x_t`` and ``h_{t-1}`` (ε-rule).
    """
    v, x = run.values, run.x
    hidden = v["h"].shape[-1]
    n_inputs = x.shape[-1] + hidden
    g = slice(2 * hidden, 3 * hidden)
    w_x, w_h, b = w.w_ih[g], w.w_hh[g], (w.b_ih + w.b_hh)[g]
    c, g_pre, eps = v["c"], v["g_pre"], rule.eps
    stab_c = eps * _sign(c)
    den_c = c + stab_c
    keep, new = v["f"] * _shifted(c), v["i"] * v["g"]
    if rule.redistribute:  # the stabiliser's relevance shared by the sum's two terms
        keep += stab_c / 2
        new += stab_c / 2
    stab_g = eps * _sign(g_pre)
    alpha = keep / den_c
    kappa = new / (den_c * (g_pre + stab_g))  # q of g's pre-activation per unit of R_c
    bias_g = b + stab_g
    rho = bias_g * kappa / n_inputs if rule.redistribute else None
    relevance, initial = _back_scan(on_h, alpha, kappa, _shifted(v["h"]), w_h, rho)
    q = relevance * kappa
    on_x = x * (q @ w_x)
    if rule.redistribute:
        on_x += (bias_g * q).sum(-1, keepdim=True) / n_inputs
    else:
        lost += (stab_c / den_c * relevance).sum((1, 2)) + (bias_g * q).sum((1, 2))
    return on_x, initial


def _gru_back(
    w: LayerWeights, run: Run, on_h: Tensor, rule: _Rule, lost: Tensor
) -> tuple[Tensor, Tensor]:
    """One GRU layer and direction: relevance ``(B, T, in)`` on its input, and on h0.

    Per step: ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}`` splits by the ε-rule; ``z ⊙ h_{t-1}`` gives
    its share to ``h_{t-1}``; ``(1 - z) ⊙ n`` to ``n``'s pre-activation
    ``W_in x_t + b_in + r ⊙ s``, shared (ε-rule) by ``x_t`` and ``r ⊙ s``, whose share goes to
    ``s = W_hn h_{t-1} + b_hn`` and from it (ε-rule) to ``h_{t-1}``.
    """
    v, x = run.values, run.x
    hidden = v["h"].shape[-1]
    n = slice(2 * hidden, 3 * hidden)
    w_x, b_x, w_h, b_h = w.w_ih[n], w.b_ih[n], w.w_hh[n], w.b_hh[n]
    h, n_pre, s, eps = v["h"], v["n_pre"], v["s"], rule.eps
    h_prev = _shifted(h)
    n_x = x.shape[-1] + 1  # n's pre-activation: x's inputs and r ⊙ s
    stab_h = eps * _sign(h)
    den_h = h + stab_h
    new, keep = (1 - v["z"]) * v["n"], v["z"] * h_prev
    if rule.redistribute:
        new += stab_h / 2
        keep += stab_h / 2
    stab_n = eps * _sign(n_pre)
    kappa = new / (den_h * (n_pre + stab_n))  # q of n's pre-activation per unit of R_h
    bias_n = b_x + stab_n
    gated = v["r"] * s
    if rule.redistribute:
        gated = gated + bias_n / n_x
    stab_s = eps * _sign(s)
    nu = kappa * gated / (s + stab_s)  # q of s per unit of R_h
    bias_s = b_h + stab_s
    rho = bias_s * nu / hidden if rule.redistribute else None
    relevance, initial = _back_scan(on_h, keep / den_h, nu, h_prev, w_h, rho)
    q = relevance * kappa
    on_x = x * (q @ w_x)
    if rule.redistribute:
        on_x += (bias_n * q).sum(-1, keepdim=True) / n_x
    else:
        lost += (
            (stab_h / den_h * relevance).sum((1, 2))
            + (bias_n * q).sum((1, 2))
            + (bias_s * nu * relevance).sum((1, 2))
        )
    return on_x, initial
