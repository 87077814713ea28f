"""What a report shows: the results added to it and how to present them.

`Report` collects these; the sections read them and render. Nothing here computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explainr.attribution import Attribution, Memory
from explainr.record import ModuleRecord


@dataclass
class TraceItem:
    record: ModuleRecord
    sample: int
    units: list[int] | dict[tuple[int, int], list[int]] | None
    time_labels: list[str] | None


@dataclass
class AttributionItem:
    attribution: Attribution
    sample: int
    feature_names: list[str] | None


@dataclass
class InputItem:
    values: np.ndarray  # (time, feature)
    feature_names: list[str] | None
    time_labels: list[str] | None
    units: str | Mapping[str, str] | None


@dataclass
class Contents:
    """Everything one report page shows, in the order it was added."""

    title: str
    model_summary: dict[str, Any] | None
    data_summary: str | Mapping[str, object] | None
    time_labels: list[str] | None
    settings: dict[str, Any]
    seconds: float | None
    max_heatmap_cells: int
    top_units: int
    prediction_unit: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves_sample: int = 0
    agreement: np.ndarray | None = None  # (methods, methods) for the compared attributions
    traces: list[TraceItem] = field(default_factory=list)
    attributions: list[AttributionItem] = field(default_factory=list)
    input: InputItem | None = None
    memory: Memory | None = None
