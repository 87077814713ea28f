"""`Adapter`: a fitted library model as a plain ``torch.nn.Module`` explainr can explain.

An adapter's ``forward`` takes windows ``(batch, time, feature)`` in the data's original
units and returns the point forecast in original units, ``(batch, horizon)`` (one output per
horizon step, named by ``target_names``). Everything the library does around its network
(scaling, lags, covariates, the distribution's mean) happens inside, so attribution methods
see one deterministic function of the window.

Side inputs a window needs besides ``x`` (static covariates, future-known covariates, a
target scale) travel in `Windows.context`. `Adapter.using` binds them while the model runs;
`explainr.attribute` and `explainr.explain` bind each window's context while they explain
that window, so only ``x`` is perturbed and the side inputs are held fixed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr._core.inputs import check_count
from explainr._core.windows import Windows, expand_context


class Adapter(nn.Module):
    """Base class of explainr's adapters (see the module docstring).

    Subclasses implement `forecast` and `windows`, and set in ``__init__``:

    Attributes:
        library: the library's name, e.g. ``"darts"``.
        feature_names: ``(feature,)`` names of the window's columns, target first.
        target_names: ``(horizon,)`` names of the outputs, e.g. ``["y t+1", "y t+2"]``.
        baseline: ``(time, feature)`` the default reference window in original units (e.g.
            the training mean), or None for zeros; ``baseline_note`` says what it is.
        point: what the point forecast is for a probabilistic model (``"mean"``,
            ``"median"``), or ``"point"`` for a deterministic one.
        context_names: the side inputs `forecast` needs from `Windows.context`.
        encoder: ``{module name: call index}``: the recorded call of each recurrent module
            that runs over the explained window (``0`` for an encoder that runs before an
            autoregressive decoder); `explainr.record` marks it.
        time_note: how the recurrent module's time axis aligns with the window's when they
            differ (e.g. lags), shown in the report; None when they are the same.
    """

    library: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.feature_names: list[str] = []
        self.target_names: list[str] = []
        self.baseline: np.ndarray | None = None
        self.baseline_note: str = "zeros"
        self.point: str = "point"
        self.encoder: dict[str, int] = {}
        self.time_note: str | None = None
        self.context_names: tuple[str, ...] = ()  # the side inputs forecast() needs
        self._context: Mapping[str, Tensor] = {}

    # -- what a library adapter implements ------------------------------------------------

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        """The point forecast ``(batch, horizon)`` in original units of windows ``x``.

        Args:
            x: ``(batch, time, feature)`` windows in original units.
            context: side inputs, each with ``batch`` rows.
        """
        raise NotImplementedError

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        """The windows the model forecasts from, cut from the adapted data, oldest first.

        Args:
            last: keep the most recent ``last`` windows (None: every window).
            stride: steps between the ends of consecutive windows.
        """
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------

    def forward(self, x: Tensor) -> Tensor:
        """`forecast` of ``x`` with the bound context (see `using`)."""
        missing = [name for name in self.context_names if name not in self._context]
        if missing:
            raise ExplainrError(
                f"this {self.library} adapter needs each window's side inputs {missing}: pass "
                "Windows from adapter.windows(...) to explainr.attribute / explain / predict, "
                "or bind them with `with adapter.using(w.context): ...`"
            )
        return self.forecast(x, expand_context(self._context, len(x)))

    @contextmanager
    def using(self, context: Mapping[str, Tensor]) -> Iterator[Adapter]:
        """Bind windows' side inputs while the model runs: one window's, or one per row."""
        before, self._context = self._context, dict(context)
        try:
            yield self
        finally:
            self._context = before

    def predict(self, w: Windows) -> np.ndarray:
        """``(n, horizon)`` point forecasts of windows ``w`` in original units.

        Equals the library's own point forecast for the same windows (the tests check it).
        """
        check_windows(w, "w")
        x = w.x.to(_dtype_of(self))
        with torch.no_grad(), self.using(w.context):
            out = self(x)
        return out.detach().double().cpu().numpy()

    def default_baselines(self, w: Windows) -> Tensor | None:
        """``(1, time, feature)`` the default baseline for windows ``w``, or None (zeros)."""
        if self.baseline is None:
            return None
        base = torch.as_tensor(np.asarray(self.baseline, dtype=np.float64))
        if tuple(base.shape) != tuple(w.x.shape[1:]):
            return None
        return base.unsqueeze(0)

    @property
    def recorded_calls(self) -> dict[str, int]:
        """``encoder``, as `explainr.record` reads it to mark the call over the window."""
        return dict(self.encoder)

    def extra_repr(self) -> str:
        return f"library={self.library!r}, targets={self.target_names}, point={self.point!r}"


def pick_windows(n: int, last: int | None, stride: int) -> np.ndarray:
    """Which of ``n`` windows (oldest first) ``windows(last=, stride=)`` keeps: every
    ``stride``-th counted back from the newest, then the newest ``last`` of those.

    >>> pick_windows(10, 2, 3).tolist()
    [6, 9]
    """
    check_count(last, "last", optional=True)
    check_count(stride, "stride")
    keep = np.arange(n - 1, -1, -stride)[::-1].copy()
    if last is not None and last > len(keep):
        raise ExplainrError(
            f"last={last} but the data holds {len(keep)} windows (stride={stride}); pass "
            f"last <= {len(keep)}"
        )
    return keep if last is None else keep[-last:]


def check_windows(w: Any, name: str) -> None:
    """Raise unless ``w`` is a `Windows` (what ``adapter.windows()`` returns)."""
    if not isinstance(w, Windows):
        raise ExplainrError(
            f"{name} must be Windows from adapter.windows(...) (they carry each window's side "
            f"inputs), got {type(w).__name__}"
        )


def _dtype_of(module: nn.Module) -> torch.dtype:
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@dataclass(frozen=True)
class WindowDefaults:
    """What `explainr.attribute` / `explainr.explain` use for `Windows` the caller left out."""

    target: int | None
    baselines: Any
    feature_names: list[str]
    time_labels: list[str] | None
    note: str | None  # the default baseline, said in the settings


def window_defaults(
    model: nn.Module,
    w: Windows,
    *,
    target: int | str | None,
    baselines: Any,
    feature_names: Any,
    time_labels: Any,
) -> WindowDefaults:
    """Fill in the target, baselines, names and labels of windows ``w`` from ``model``.

    - ``target`` may be one of an adapter's ``target_names``; an adapter with one output
      needs none.
    - ``baselines=None`` becomes the adapter's default (e.g. the training mean in original
      units), noted in the settings.
    - one window keeps its own time labels; several share lags (``t-3 … t``).
    """
    if w.context and not isinstance(model, Adapter):
        raise ExplainrError(
            "these windows carry side inputs (context) only an explainr adapter can use; pass "
            "the adapter they came from (explainr.adapt(...)), or windows w.x without context"
        )
    note = None
    if isinstance(model, Adapter):
        if isinstance(target, str):
            if target not in model.target_names:
                raise ExplainrError(
                    f"target={target!r} is not one of the model's outputs {model.target_names}"
                )
            target = model.target_names.index(target)
        if baselines is None:
            baselines = model.default_baselines(w)
            note = model.baseline_note if baselines is not None else None
    elif isinstance(target, str):
        raise ExplainrError(
            f"target={target!r}: a name works for adapters (explainr.adapt); pass an int index"
        )
    names = list(feature_names) if feature_names is not None else list(w.feature_names)
    labels = list(time_labels) if time_labels is not None else None
    if labels is None and len(w) == 1:
        labels = list(w.time_labels[0])
    elif labels is None:
        steps = w.x.shape[1]
        labels = [f"t-{steps - 1 - i}" if i < steps - 1 else "t" for i in range(steps)]
    return WindowDefaults(target, baselines, names, labels, note)
