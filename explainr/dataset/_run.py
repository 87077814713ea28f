"""`Run`: a stored dataset explanation, read lazily; `open_run` reopens one."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from explainr._core.errors import ExplainrError
from explainr._core.files import write_atomic
from explainr.dataset import _store

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import xarray as xr


class Run:
    """A dataset explanation in its zarr store (see ``explainr.dataset._store`` for the schema).

    Attributes:
        path: the store.
        dataset: the store as a lazy ``xarray.Dataset``.
        methods: the methods, in the order given.
        settings: the settings it was computed with.
        computed: the chunks the call that returned this run computed (empty for
            `open_run`).
    """

    def __init__(self, path: str | os.PathLike[str], computed: list[int] | None = None) -> None:
        self.path = Path(os.fspath(path))
        attrs = _store.read_attrs(self.path)
        if attrs is None:
            raise ExplainrError(
                f"{str(self.path)!r} is not an explainr run store (a folder written by "
                "explainr.explain_dataset); check the path"
            )
        self.dataset: xr.Dataset = _store.open_dataset(self.path)
        self.methods: list[str] = json.loads(attrs["methods"])
        self.settings: dict[str, Any] = json.loads(attrs["settings"])
        self.computed: list[int] = list(computed or [])

    def __repr__(self) -> str:
        done = self.done
        return (
            f"Run({str(self.path)!r}: {self.dataset.sizes['window']} windows, methods "
            f"{self.methods}, {int(done.sum())}/{len(done)} chunks done)"
        )

    @property
    def done(self) -> np.ndarray:
        """``(chunks,)`` bool: which chunks are complete (read from the store now)."""
        return _store.done_chunks(self.path)

    @property
    def complete(self) -> bool:
        """Whether every window is explained."""
        return bool(self.done.all())

    @property
    def attributions(self) -> Mapping[str, xr.DataArray]:
        """Per method, a lazy ``xarray.DataArray`` ``(window, time, feature)``.

        ``time`` runs 0..T-1 (oldest step first) with coordinate ``lag`` (T-1..0);
        ``window_end`` labels each window. Windows whose chunk is not done are NaN.
        """
        return {m: self._attribution(m) for m in self.methods}

    def finished(self) -> xr.DataArray:
        """``(window,)`` bool: whether each window's chunk is done (its values are final)."""
        import xarray as xr

        chunk = int(self.settings["chunk"])
        n = self.dataset.sizes["window"]
        return xr.DataArray(np.repeat(self.done, chunk)[:n], dims="window")

    def _values(self, method: str) -> xr.DataArray:
        """The stored values, NaN for windows whose chunk is not done."""
        return self.dataset[f"attr_{method}"].where(self.finished())

    def _attribution(self, method: str) -> xr.DataArray:
        values = self._values(method).rename({"lag": "time"})
        steps = values.sizes["time"]
        return values.assign_coords(time=np.arange(steps), lag=("time", np.arange(steps)[::-1]))

    def summary(self) -> pd.DataFrame:
        """Per method, feature and lag: mean |attribution|, mean attribution and share.

        Computed over the finished windows, one chunk at a time.

        Returns:
            A DataFrame, one row per method, feature and lag (in the run's order; lag 0 =
            the last step), with columns ``method``, ``feature``, ``lag``,
            ``mean_abs``, ``mean`` and ``share`` (``mean_abs`` over the method's sum of
            ``mean_abs``, so each method's shares add up to 1).

        >>> import torch, explainr
        >>> from explainr._zoo_models import Forecaster
        >>> run = explainr.explain_dataset(Forecaster(2, 4), torch.randn(6, 5, 2),
        ...                                methods=("integrated_gradients",), chunk=3)
        >>> table = run.summary()
        >>> len(table), round(float(table["share"].sum()), 6)
        (10, 1.0)
        """
        import pandas as pd

        lags = self.dataset["lag"].values
        features = self.dataset["feature"].values.astype(str)
        feature, lag = np.meshgrid(features, lags, indexing="ij")
        frames = []
        for method in self.methods:
            values = self._values(method).transpose("window", "feature", "lag")
            mean_abs = abs(values).mean("window").values  # (feature, lag); NaN windows skipped
            mean = values.mean("window").values
            total = float(np.nansum(mean_abs))
            frames.append(
                pd.DataFrame(
                    {
                        "method": method,
                        "feature": feature.ravel(),
                        "lag": lag.ravel(),
                        "mean_abs": mean_abs.ravel(),
                        "mean": mean.ravel(),
                        "share": mean_abs.ravel() / total if total > 0 else np.nan,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def save_html(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the global report of this run (``explainr.report.global_report``) to ``path``.

        Args:
            path: the HTML file to write (atomically).
            options: passed to ``global_report``.

        Returns:
            The path written.
        """
        from explainr import report

        render = getattr(report, "global_report", None)
        if render is None:
            raise ExplainrError(
                "this explainr has no global report (explainr.report.global_report); "
                "read the run with .attributions and .summary() instead"
            )
        page = render(self.dataset, **options)
        if hasattr(page, "save"):
            return Path(page.save(path))
        if hasattr(page, "to_html"):
            page = page.to_html()
        return write_atomic(path, page, "the global report")


def open_run(path: str | os.PathLike[str]) -> Run:
    """Reopen a run written by `explainr.explain_dataset` (read lazily from its store).

    Args:
        path: the store folder.

    Returns:
        A `Run`; `explainr.explain_dataset` with the same store and settings resumes it.

    >>> import tempfile, torch, explainr
    >>> from explainr._zoo_models import Forecaster
    >>> store = tempfile.mkdtemp() + "/run.zarr"
    >>> _ = explainr.explain_dataset(Forecaster(2, 4), torch.randn(6, 5, 2), store=store,
    ...                              methods=("integrated_gradients",), chunk=3)
    >>> explainr.open_run(store).complete
    True
    """
    return Run(path)
