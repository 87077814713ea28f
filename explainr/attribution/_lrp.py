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
    return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


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


def _two_term_sum(
    first: Tensor, second: Tensor, total: Tensor, relevance: Tensor, rule: _Rule, lost: Tensor
) -> tuple[Tensor, Tensor]:
    """ε-rule on ``total = first + second`` elementwise (N = 2 connected inputs)."""
    s = _sign(total)
    q = relevance / (total + rule.eps * s)
    rest = rule.eps * s * q
    if rule.redistribute:
        return first * q + rest / 2, second * q + rest / 2
    lost += rest.sum(-1)
    return first * q, second * q


def _matrix(
    v: Tensor, weight: Tensor, bias: Tensor, z: Tensor, relevance: Tensor, n: int, rule: _Rule
) -> tuple[Tensor, Tensor, Tensor]:
    """ε-rule on ``z = v @ weight.T + (other inputs) + bias``: the share of ``v``, the
    stabiliser-and-bias relevance per window, and ``q = R / (z + ε sign z)``."""
    s = _sign(z)
    q = relevance / (z + rule.eps * s)
    rest = ((bias + rule.eps * s) * q).sum(-1)
    return v * (q @ weight), rest, q


def _lstm_back(
    w: LayerWeights, run: Run, on_h: Tensor, rule: _Rule, lost: Tensor
) -> tuple[Tensor, Tensor]:
    """One LSTM layer and direction: relevance ``(B, T, in)`` on its input, and on h0, c0."""
    v, x = run.values, run.x
    _, steps, hidden = v["h"].shape
    n_inputs = x.shape[-1] + hidden
    g = slice(2 * hidden, 3 * hidden)
    w_x, w_h, b = w.w_ih[g], w.w_hh[g], (w.b_ih + w.b_hh)[g]
    r_h = torch.zeros_like(on_h[:, 0])
    r_c = torch.zeros_like(on_h[:, 0])
    qs, shares = [], []
    for t in reversed(range(steps)):
        r_c = r_c + r_h + on_h[:, t]  # h_t = o ⊙ tanh(c_t): all of it to c_t
        c_prev = v["c"][:, t - 1] if t else torch.zeros_like(r_c)
        h_prev = v["h"][:, t - 1] if t else torch.zeros_like(r_c)
        r_fc, r_ig = _two_term_sum(
            v["f"][:, t] * c_prev, v["i"][:, t] * v["g"][:, t], v["c"][:, t], r_c, rule, lost
        )
        r_h, rest, q = _matrix(h_prev, w_h, b, v["g_pre"][:, t], r_ig, n_inputs, rule)
        share = _settle(rest, n_inputs, rule, lost)
        r_h = r_h + share[:, None]
        r_c = r_fc  # f ⊙ c_{t-1}: all of it to c_{t-1}
        qs.append(q)
        shares.append(share)
    q_all = torch.stack(qs[::-1], dim=1)
    share_all = torch.stack(shares[::-1], dim=1)
    on_x = x * (q_all @ w_x) + share_all[..., None]
    return on_x, (r_h + r_c).sum(-1)


def _gru_back(
    w: LayerWeights, run: Run, on_h: Tensor, rule: _Rule, lost: Tensor
) -> tuple[Tensor, Tensor]:
    """One GRU layer and direction: relevance ``(B, T, in)`` on its input, and on h0."""
    v, x = run.values, run.x
    _, steps, hidden = v["h"].shape
    n = slice(2 * hidden, 3 * hidden)
    w_x, b_x, w_h, b_h = w.w_ih[n], w.b_ih[n], w.w_hh[n], w.b_hh[n]
    r_h = torch.zeros_like(on_h[:, 0])
    qs, shares = [], []
    for t in reversed(range(steps)):
        r_ht = r_h + on_h[:, t]
        h_prev = v["h"][:, t - 1] if t else torch.zeros_like(r_ht)
        z = v["z"][:, t]
        r_n, r_keep = _two_term_sum(
            (1 - z) * v["n"][:, t], z * h_prev, v["h"][:, t], r_ht, rule, lost
        )
        gated = v["r"][:, t] * v["s"][:, t]  # r ⊙ s: one input of n's pre-activation
        sn = _sign(v["n_pre"][:, t])
        q = r_n / (v["n_pre"][:, t] + rule.eps * sn)
        rest_n = (b_x + rule.eps * sn) * q  # (B, H): shared by x's E inputs and r_j s_j
        share = _settle(rest_n.sum(-1), x.shape[-1] + 1, rule, lost)
        r_s = gated * q + (rest_n / (x.shape[-1] + 1) if rule.redistribute else 0)  # all to s
        on_prev, rest, _ = _matrix(h_prev, w_h, b_h, v["s"][:, t], r_s, hidden, rule)
        r_h = r_keep + on_prev + _settle(rest, hidden, rule, lost)[:, None]
        qs.append(q)
        shares.append(share)
    q_all = torch.stack(qs[::-1], dim=1)
    share_all = torch.stack(shares[::-1], dim=1)
    return x * (q_all @ w_x) + share_all[..., None], r_h.sum(-1)


def _settle(rest: Tensor, n_inputs: int, rule: _Rule, lost: Tensor) -> Tensor:
    """Bias-and-stabiliser relevance ``(B,)``: per-input share if redistributed, else absorbed."""
    if rule.redistribute:
        return rest / n_inputs
    lost += rest
    return torch.zeros_like(rest)
