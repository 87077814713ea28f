"""What a global report shows: a stored run reduced to small arrays (nothing lazy, no
xarray). `explainr.report._global_reduce` makes it; the global sections read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Gates:
    """Gate statistics of one recurrent layer over the dataset, per unit."""

    module: str
    layer: int
    gate: str  # "forget" (LSTM-like) or "update" (GRU)
    mean: np.ndarray  # (unit,) mean gate over windows and steps
    saturation: np.ndarray  # (unit,) share of gate values saturated
    timescale: np.ndarray  # (unit,) steps, -1 / ln(mean); inf where mean = 1


@dataclass
class Pick:
    """One of the windows the picker offers, with everything its local view draws."""

    window: int  # the window's index (coordinate ``window``)
    label: str  # its ``window_end``
    reasons: list[str]  # why it was picked, e.g. "largest prediction"
    prediction: float
    actual: float | None
    disagreement: float | None  # 1 - mean rank agreement of the methods on this window
    x: np.ndarray  # (lag, feature) input
    values: dict[str, np.ndarray]  # method -> (lag, feature) attribution


@dataclass
class Beeswarm:
    """The deterministic subsample of windows the beeswarm draws."""

    labels: list[str]  # (points,) window_end of each drawn window
    step: float  # about one drawn window in every `step`
    values: dict[str, np.ndarray]  # method -> (points, top feature) attribution summed over lags
    inputs: np.ndarray  # (points, top feature) input averaged over the window's lags


@dataclass
class Calendar:
    """Attribution through calendar time: consecutive windows averaged into bins."""

    labels: list[str]  # (bins,) window_end of each bin's last window
    size: int  # windows per bin
    total: dict[str, np.ndarray]  # method -> (bins, lag) summed over features
    by_feature: dict[str, np.ndarray]  # method -> (bins, lag, top feature)
    agreement: np.ndarray | None  # (bins,) mean rank agreement of the methods per bin


@dataclass
class GlobalContents:
    """A stored run, reduced for the page."""

    title: str
    version: str
    created: str
    settings: dict[str, Any]
    methods: list[str]
    features: list[str]
    lags: np.ndarray  # (lag,) as stored: T-1 ... 0
    windows: int  # windows in the store
    done: int  # windows of finished chunks (the ones shown)
    chunks: tuple[int, int]  # (finished, all)
    span: tuple[str, str] | None  # first and last window_end shown
    prediction_unit: str | None
    top: list[int]  # indices of the top_k features by global importance
    importance: dict[str, np.ndarray] = field(default_factory=dict)  # (lag, feature) mean |a|
    prediction: dict[str, float] = field(default_factory=dict)  # mean, min, max
    error: dict[str, float] | None = None  # mae, rmse, bias when `actual` is stored
    completeness: dict[str, dict[str, float]] = field(default_factory=dict)
    agreement: np.ndarray | None = None  # (method, method) per-window rank agreement, averaged
    global_agreement: np.ndarray | None = None  # (method, method) of the importance maps
    beeswarm: Beeswarm | None = None
    calendar: Calendar | None = None
    gates: list[Gates] = field(default_factory=list)
    picks: list[Pick] = field(default_factory=list)
    x_mean: np.ndarray | None = None  # (feature,) mean input over the dataset
    x_std: np.ndarray | None = None  # (feature,)
