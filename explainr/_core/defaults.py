"""The one set of defaults that `attribute`, `explain` and the command line share.

Change a default here and every entry point follows; their signatures read these values.

>>> from explainr._core.defaults import DEFAULTS
>>> DEFAULTS.group_by, DEFAULTS.progress
('time_feature', False)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """Default settings of an attribution run.

    Attributes:
        method: the method of `attribute` (gradient based, exact up to integration error).
        methods: the methods of `explain` and ``explainr explain``.
        group_by: how perturbation methods group cells: one feature within one block of time
            steps, so results show both when and what (the report's heatmaps).
        n_steps: integration steps of integrated gradients.
        seed: seed of the sampling methods.
        progress: progress bars; off in the library (it writes to stderr only when asked),
            on in the command line when stderr is a terminal.
        baselines: the command line's ``--baseline``: ``"zeros"``, the training mean once
            the data are scaled as in training.
    """

    method: str = "integrated_gradients"
    methods: tuple[str, ...] = ("integrated_gradients", "kernel_shap", "lime")
    group_by: str = "time_feature"
    n_steps: int = 50
    seed: int = 0
    progress: bool = False
    baselines: str = "zeros"


DEFAULTS = Defaults()
