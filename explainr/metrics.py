"""How good is an attribution? Faithfulness curves, completeness and agreement between methods.

- `deletion` / `insertion` (Petsiuk et al. 2018, "RISE"): remove (or insert) input cells in
  order of attribution, replacing them by the baseline, and follow the model's output. A
  faithful attribution makes the output fall fast on deletion (low AUC) and rise fast on
  insertion (high AUC).
- `completeness`: how far the values miss summing to f(x) - f(baseline).
- `rank_agreement`: do two attributions order the cells (or groups) the same way?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explainr._core.budget import check_memory
from explainr._core.errors import ExplainrError, ExplainrTypeError
from explainr._core.inputs import check_choice, check_count, check_flag, check_sample
from explainr._core.model import Prepared, check_outputs, prepare
from explainr._core.state import preserved
from explainr.attribution import Attribution

__all__ = [
    "Agreement",
    "Curve",
    "agreement_matrix",
    "completeness",
    "deletion",
    "insertion",
    "rank_agreement",
]


@dataclass
class Curve:
    """The model's output as cells are removed (deletion) or inserted (insertion).

    ``outputs[b, s]`` is the output with a share ``fractions[s]`` of window b's cells
    removed (deletion: the rest keep x) or inserted (insertion: the rest are baseline).
    """

    kind: str  # "deletion" or "insertion"
    fractions: np.ndarray  # (steps + 1,) from 0 to 1
    outputs: np.ndarray  # (batch, steps + 1)
    prediction: np.ndarray  # (batch,) f(x)
    baseline_prediction: np.ndarray  # (batch,) f(baseline)

    @property
    def auc(self) -> np.ndarray:
        """``(batch,)``: area under ``outputs`` over ``fractions`` (trapezoid rule)."""
        return np.trapezoid(self.outputs, self.fractions, axis=1)

    @property
    def relative_auc(self) -> np.ndarray:
        """``(batch,)``: AUC of ``(outputs - f(baseline)) / (f(x) - f(baseline))``.

        1 means the whole output change was there from the first step, 0 none of it;
        comparable across windows. Undefined (large) where f(x) is close to f(baseline).
        """
        delta = self.prediction - self.baseline_prediction
        scaled = (self.outputs - self.baseline_prediction[:, None]) / np.where(
            np.abs(delta) < 1e-12, 1e-12, delta
        )[:, None]
        return np.trapezoid(scaled, self.fractions, axis=1)


@dataclass
class Agreement:
    """Agreement of two attributions, per window."""

    spearman: np.ndarray  # (batch,) rank correlation, -1..1 (nan if one side is constant)
    top_k_overlap: np.ndarray  # (batch,) share of the k strongest items both put in their top k
    k: int
    level: str  # "cell" or "group"


def deletion(
    model: nn.Module,
    x: Any,
    attribution: Attribution,
    *,
    target: int | None = None,
    baselines: Any = None,
    steps: int = 20,
    by: str = "value",
) -> Curve:
    """Deletion curve: remove cells, strongest first, and follow the output.

    Removed cells take the baseline (averaged over a background set), as in `attribute`.

    Args:
        model: the explained model.
        x: the explained windows ``(batch, time, feature)`` (same shape as the values).
        attribution: from `explainr.attribute` on ``x``.
        target: output to follow (default: the attribution's target).
        baselines: None (zeros), a number, ``(time, feature)`` or ``(n, time, feature)``.
        steps: points of the curve after the start (cells removed in ``steps`` chunks).
        by: ``"value"`` removes the most positive cells first (evidence for the output);
            ``"abs"`` the largest in magnitude.

    Returns:
        `Curve` with ``outputs`` ``(batch, steps + 1)``; lower ``auc`` is more faithful.

    >>> import torch, explainr
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    >>> x = torch.randn(2, 4, 3)
    >>> a = explainr.attribute(net, x, progress=False)
    >>> curve = explainr.metrics.deletion(net, x, a, steps=4)
    >>> curve.outputs.shape, curve.auc.shape
    ((2, 5), (2,))
    """
    return _curve("deletion", model, x, attribution, target, baselines, steps, by)


def insertion(
    model: nn.Module,
    x: Any,
    attribution: Attribution,
    *,
    target: int | None = None,
    baselines: Any = None,
    steps: int = 20,
    by: str = "value",
) -> Curve:
    """Insertion curve: start from the baseline, insert cells strongest first.

    Args and Returns as `deletion`; here a higher ``auc`` is more faithful.

    >>> import torch, explainr
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    >>> x = torch.randn(2, 4, 3)
    >>> a = explainr.attribute(net, x, progress=False)
    >>> explainr.metrics.insertion(net, x, a, steps=4).fractions.tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    return _curve("insertion", model, x, attribution, target, baselines, steps, by)


def completeness(attribution: Attribution) -> np.ndarray:
    """``(batch,)``: |sum(values) - (f(x) - f(baseline))| / |f(x) - f(baseline)|.

    0 for methods that are exact on this (exact Shapley, kernel SHAP); for integrated
    gradients the integration error; for gradient SHAP the Monte Carlo error; LIME and
    occlusion carry no such guarantee. Large where f(x) is close to f(baseline).

    >>> import torch, explainr
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    >>> a = explainr.attribute(net, torch.randn(2, 4, 3), progress=False)
    >>> bool(explainr.metrics.completeness(a).max() < 1e-4)
    True
    """
    _check_attribution(attribution, "attribution")
    return attribution.completeness_error


def rank_agreement(
    a: Attribution, b: Attribution, *, k: int = 10, level: str = "auto", absolute: bool = True
) -> Agreement:
    """Spearman correlation and top-k overlap of two attributions of the same windows.

    Args:
        a: an attribution ``(batch, time, feature)``.
        b: another attribution of the same windows.
        k: size of the top sets compared.
        level: ``"group"`` compares ``group_values`` (needs the same groups), ``"cell"``
            the cell ``values``; ``"auto"`` uses groups when both share them.
        absolute: rank by magnitude (importance regardless of sign) or by signed value.

    Returns:
        `Agreement`: ``spearman`` (1 = same order, -1 = reversed) and ``top_k_overlap``
        (1 = the same k strongest items), each ``(batch,)``.

    >>> import torch, explainr
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    >>> x = torch.randn(1, 4, 3)
    >>> ig = explainr.attribute(net, x, progress=False)
    >>> ks = explainr.attribute(net, x, "kernel_shap", progress=False)
    >>> float(explainr.metrics.rank_agreement(ig, ks, k=2).spearman[0])
    1.0
    """
    _check_attribution(a, "a")
    _check_attribution(b, "b")
    check_flag(absolute, "absolute")
    if a.values.shape != b.values.shape:
        raise ExplainrError(
            f"the attributions have values {a.values.shape} and {b.values.shape}; compare "
            "attributions of the same windows"
        )
    check_count(k, "k")
    check_choice(level, "level", ("auto", "group", "cell"))
    same_groups = a.group_values is not None and b.group_values is not None and a.groups == b.groups
    if level == "auto":
        level = "group" if same_groups else "cell"
    if level == "group" and not same_groups:
        raise ExplainrError(
            "level='group' needs both attributions to share their groups (same window and "
            f"group_by; got {a.window}/{a.group_by} and {b.window}/{b.group_by}); use level='cell'"
        )
    left, right = (a.group_values, b.group_values) if level == "group" else (a.values, b.values)
    left = np.asarray(left, dtype=np.float64).reshape(len(a.values), -1)
    right = np.asarray(right, dtype=np.float64).reshape(len(a.values), -1)
    if absolute:
        left, right = np.abs(left), np.abs(right)
    k = min(k, left.shape[1])
    spearman = _spearman(left, right)
    overlap = np.array([_overlap(u, v, k) for u, v in zip(left, right, strict=True)])
    return Agreement(spearman=spearman, top_k_overlap=overlap, k=k, level=level)


def agreement_matrix(attributions: Sequence[Attribution], sample: int = 0) -> np.ndarray:
    """``(methods, methods)`` Spearman rank agreement (`rank_agreement`) on one window.

    Args:
        attributions: attributions of the same windows, one per method.
        sample: the window (batch index) compared.

    Returns:
        A symmetric matrix with ones on the diagonal, in the order given.
    """
    found = list(attributions)
    for a in found:
        _check_attribution(a, "attributions")
    if found:
        check_sample(sample, len(found[0].values))
    out = np.eye(len(found))
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            out[i, j] = out[j, i] = rank_agreement(found[i], found[j]).spearman[sample]
    return out


def _curve(
    kind: str,
    model: nn.Module,
    x: Any,
    attribution: Attribution,
    target: int | None,
    baselines: Any,
    steps: int,
    by: str,
) -> Curve:
    check_count(steps, "steps")
    check_choice(by, "by", ("value", "abs"))
    _check_attribution(attribution, "attribution")
    target = attribution.target if target is None else target
    with preserved(model):
        ready = prepare(model, x, target=target, baselines=baselines)
        return _curve_prepared(kind, ready, attribution, steps, by)


def curves(
    ready: Prepared, attributions: Mapping[str, Attribution], steps: int = 20, by: str = "value"
) -> dict[str, dict[str, Curve]]:
    """Deletion and insertion curves of several attributions of windows made ready once.

    Args:
        ready: from ``explainr._core.model.prepare``, inside ``preserved(model)``.
        attributions: by method name, attributions of ``ready``'s windows and target.
        steps: points of each curve; by: rank by ``"value"`` (as `deletion`) or ``"abs"``.

    Returns:
        Per method, ``{"deletion": Curve, "insertion": Curve}``.
    """
    check_count(steps, "steps")
    check_choice(by, "by", ("value", "abs"))
    for a in attributions.values():
        _check_attribution(a, "attributions")
    return {
        method: {
            kind: _curve_prepared(kind, ready, a, steps, by) for kind in ("deletion", "insertion")
        }
        for method, a in attributions.items()
    }


def _curve_prepared(
    kind: str, ready: Prepared, attribution: Attribution, steps: int, by: str
) -> Curve:
    xs, background, scalar = ready.x, ready.background, ready.scalar
    if tuple(xs.shape) != attribution.values.shape:
        raise ExplainrError(
            f"x has shape {tuple(xs.shape)} but the attribution's values are "
            f"{attribution.values.shape}; pass the windows that were explained"
        )
    score = attribution.values if by == "value" else np.abs(attribution.values)
    cells = score[0].size
    check_memory(
        (steps + 1.0) * (12 * cells + 8 * len(xs)),
        f"a {kind} curve with steps={steps} over {cells} cells",
        "pass a smaller steps (default 20)",
    )
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * cells).astype(np.int64)
    outputs = np.zeros((len(xs), steps + 1))
    prediction, base = ready.prediction, ready.baseline_prediction
    for b, window in enumerate(xs):
        rank = np.empty(cells, dtype=np.int64)
        rank[np.argsort(-score[b].ravel(), kind="stable")] = np.arange(cells)
        removed = rank[None, :] < counts[:, None]  # (steps + 1, cells)
        keep = ~removed if kind == "deletion" else removed
        keep_t = torch.as_tensor(keep.reshape(-1, *window.shape), device=xs.device)
        outputs[b] = scalar.masked(window, background, keep_t)
    check_outputs(outputs, f"the {kind} curve", tuple(xs.shape))
    return Curve(
        kind=kind,
        fractions=fractions,
        outputs=outputs,
        prediction=prediction.double().cpu().numpy(),
        baseline_prediction=np.full(len(xs), base),
    )


def _check_attribution(value: Any, name: str) -> None:
    if not isinstance(value, Attribution):
        raise ExplainrTypeError(
            f"{name} must be an explainr.Attribution (from explainr.attribute), got "
            f"{type(value).__name__}"
        )


def _spearman(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``(batch,)`` Spearman correlation of each row of ``u`` with the same row of ``v``
    (ties get their mean rank; nan where a row is constant). One call for all rows."""
    from scipy.stats import rankdata

    ru = rankdata(u, axis=1) - (u.shape[1] + 1) / 2
    rv = rankdata(v, axis=1) - (v.shape[1] + 1) / 2
    scale = np.sqrt((ru**2).sum(axis=1) * (rv**2).sum(axis=1))
    return np.where(scale > 0, (ru * rv).sum(axis=1) / np.where(scale > 0, scale, 1.0), np.nan)


def _overlap(u: np.ndarray, v: np.ndarray, k: int) -> float:
    top_u = set(np.argsort(-u, kind="stable")[:k].tolist())
    top_v = set(np.argsort(-v, kind="stable")[:k].tolist())
    return len(top_u & top_v) / k
