"""dataset: every window of a dataset explained, stored, resumed, and summarised.

- `explain_dataset`: each method over every window, chunk by chunk, in-process or on a
  Dask cluster, into a resumable zarr store (schema in ``explainr.dataset._store``);
- `open_run`: reopen a store; `Run`: lazy attributions, ``summary()``, ``save_html()``.

Needs the ``dataset`` extra (zarr, dask[distributed]); they are imported only when used.
"""

from explainr.dataset._engine import explain_dataset
from explainr.dataset._run import Run, open_run

__all__ = ["Run", "explain_dataset", "open_run"]
