"""`ModuleAdapter`: a plain PyTorch module (or a converted Keras file) with its data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor, nn

from explainr._core.errors import ExplainrError
from explainr._core.inputs import to_inputs
from explainr._core.windows import Windows, sliding_windows
from explainr.adapters._adapter import Adapter, pick_windows


class ModuleAdapter(Adapter):
    """A module that takes ``(batch, time, feature)`` windows, with the data it explains.

    Args:
        module: the model (called as ``module(x)``).
        data: a long DataFrame (one row per step, cut into windows of ``window`` rows) or
            windows ``(n, time, feature)`` (array, tensor or DataFrame for one window).
        window: rows per window, for a long DataFrame.
        library: where the module came from (``"torch"``, ``"keras"``).
    """

    def __init__(
        self, module: nn.Module, data: Any, *, window: int | None = None, library: str = "torch"
    ) -> None:
        super().__init__()
        self.library = library
        self.model = module
        self._windows = _cut(data, window)
        self.feature_names = list(self._windows.feature_names)
        self.target_names = []
        self.baseline_note = "zeros"

    def forecast(self, x: Tensor, context: Mapping[str, Tensor]) -> Tensor:
        out = self.model(x)
        if not isinstance(out, Tensor):
            raise ExplainrError(
                f"{type(self.model).__name__} returned {type(out).__name__}; adapt() needs a "
                "model that returns one tensor"
            )
        return out.reshape(len(x), -1)

    def windows(self, last: int | None = None, *, stride: int = 1) -> Windows:
        keep = pick_windows(len(self._windows), last, stride)
        w = self._windows
        return Windows(
            x=w.x[keep],
            feature_names=w.feature_names,
            time_labels=[w.time_labels[i] for i in keep],
            starts=w.starts[keep],
        )


def _cut(data: Any, window: int | None) -> Windows:
    """``data`` as `Windows`: a long DataFrame cut by ``window``, or windows as given."""
    if isinstance(data, Windows):
        return data
    if isinstance(data, pd.DataFrame) and window is not None:
        return sliding_windows(data, window)
    if window is not None:
        raise ExplainrError(
            "window= cuts a long DataFrame into windows; for an array pass windows "
            "(n, time, feature) and no window="
        )
    inputs = to_inputs(data)
    n = len(inputs.x)
    labels = inputs.time_labels
    return Windows(
        x=inputs.x,
        feature_names=inputs.feature_names,
        time_labels=[list(labels) for _ in range(n)],
        starts=np.zeros(n, dtype=int),
        context={},
    )


def from_keras(model: Any) -> nn.Module:
    """A live Keras model converted through a temporary ``.keras`` file (nothing executed)."""
    import tempfile
    from pathlib import Path

    from explainr.adapters import keras as keras_files

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        try:
            model.save(path)
        except Exception as error:  # Keras's own error, e.g. an unsaveable custom layer
            raise ExplainrError(f"Keras could not save the model to convert it: {error}") from error
        return keras_files.load(path)
