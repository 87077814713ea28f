"""The Dask path on a real LocalCluster of two worker processes gives the in-process values,
with the model built once per worker."""

from __future__ import annotations

import numpy as np
import pytest

import explainr
from tests.dataset import models

distributed = pytest.importorskip("distributed")  # the dataset extra (in dev)

OPTIONS = {
    "methods": ("integrated_gradients", "occlusion"),
    "chunk": 3,
    "n_steps": 16,
}


def _builds() -> int:
    from explainr.dataset import _ship

    return len(_ship._BUILDS)


def test_dask_workers_give_the_in_process_values(tmp_path):
    model, x = models.model("gru", layers=2), models.windows(14)
    here = explainr.explain_dataset(model, x, store=tmp_path / "here.zarr", **OPTIONS)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        there = explainr.explain_dataset(
            model, x, store=tmp_path / "there.zarr", client=client, **OPTIONS
        )
        builds = client.run(_builds)
    assert there.computed == list(range(5)) and there.complete
    assert sorted(builds.values()) != [0, 0] and max(builds.values()) == 1  # once per worker
    names = [v for v in here.dataset.data_vars if v != "done"]
    assert "gate_rnn_1_forget_mean" in names
    for name in names:
        np.testing.assert_array_equal(
            there.dataset[name].values, here.dataset[name].values, err_msg=name
        )
    assert there.dataset.attrs["settings"] == here.dataset.attrs["settings"]
