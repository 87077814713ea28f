"""How a report presents results: the choices that are not results themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from explainr.report._model_summary import model_summary


@dataclass
class ReportOptions:
    """Presentation of an `Explanation`'s results in its report.

    Attributes:
        title: the report's title.
        data_summary: a sentence or a mapping describing the data, for the header.
        raw: the explained window in original units, ``(time, feature)``, drawn instead of
            the model's input.
        input_units: the input's unit (one for all features, or one per feature name).
        sample: batch index shown.
        time_labels: ``(time,)`` labels for every time axis.
        feature_names: ``(feature,)`` names.
        model_summary: the model's recurrent modules and sizes, for the header.
        prediction_unit: the unit of the model's output, for f(x) and colour bars.
    """

    title: str = "explainr report"
    data_summary: str | Mapping[str, object] | None = None
    raw: Any = None
    input_units: str | Mapping[str, str] | None = None
    sample: int = 0
    time_labels: list[str] | None = None
    feature_names: list[str] | None = None
    model_summary: dict[str, Any] | None = None
    prediction_unit: str | None = None

    @staticmethod
    def summarise(model: torch.nn.Module) -> dict[str, Any]:
        """The header's summary of ``model`` (recurrent modules, sizes, parameters)."""
        return model_summary(model)
