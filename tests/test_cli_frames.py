"""The command line on frames: .npy / .npz / NetCDF in, places on the frame out.

References: the zoo model's own prediction on the same frames, and the library's
`explainr.attribute` summed by hand over the named patch.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import explainr
from explainr import zoo
from explainr.cli import main


@pytest.fixture(scope="module")
def planted():
    entry = zoo.load("planted_convlstm")
    x, _ = entry.samples("test")
    return entry, x[:2]


def write(kind: str, x: torch.Tensor, folder) -> str:
    path = folder / f"frames.{kind}"
    if kind == "npy":
        np.save(path, x.numpy())
    elif kind == "npz":
        np.savez(path, x=x.numpy())
    else:
        import xarray as xr

        data = xr.Dataset(
            {"field": (("sample", "time", "lat", "lon"), x[:, :, 0].numpy())},
            coords={"time": np.arange(x.shape[1])},
        )
        if kind == "zarr":
            data.to_zarr(path)
        else:
            data.to_netcdf(path, engine="scipy")
    return str(path)


@pytest.mark.parametrize("kind", ["npy", "npz", "nc", "zarr"])
def test_explain_frames_from_files_names_the_patches(kind, planted, tmp_path, capsys):
    entry, x = planted
    data = write(kind, x, tmp_path)
    out = tmp_path / "summary.json"
    code = main(
        [
            "explain",
            "--model",
            "planted_convlstm",
            "--data",
            data,
            "--last",
            "2",
            "--patch",
            "2",
            "--methods",
            "integrated_gradients",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads(out.read_text())
    with torch.no_grad():
        assert summary["prediction"] == pytest.approx(float(entry.model(x)[-1]), rel=1e-5)
    ig = summary["methods"]["integrated_gradients"]
    assert ig["frames"] == [1, 8, 8]
    ref = explainr.attribute(entry.model, x).frames[-1]  # (time, 1, 8, 8)
    for top in ig["top_features"]:
        r0, r1, c0, c1 = map(
            int, re.fullmatch(r"rows (\d)-(\d), cols (\d)-(\d)", top["feature"]).groups()
        )
        assert top["value"] == pytest.approx(
            float(ref[:, :, r0 : r1 + 1, c0 : c1 + 1].sum()), rel=1e-4
        )
    box = entry.card["box"]
    first = ig["top_features"][0]["feature"]
    r0, c0 = (int(n) for n in re.findall(r"(\d)-", first))
    assert box["rows"][0] <= r0 < box["rows"][1] and box["cols"][0] <= c0 < box["cols"][1]


def test_flattened_zoo_model_is_explained_as_frames(tmp_path):
    out = tmp_path / "moving.json"
    code = main(
        [
            "explain",
            "--model",
            "moving_convlstm",
            "--data",
            "models/data/moving.csv",
            "--methods",
            "integrated_gradients",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads(out.read_text())
    names = [t["feature"] for t in summary["methods"]["integrated_gradients"]["top_features"]]
    assert all(re.fullmatch(r"rows \d-\d, cols \d-\d", n) for n in names), names
    assert not any("px_" in n for n in names)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 6, 8, 8)), "frames are numbers (n, time, channels, height, width)"),
        (np.full((1, 6, 1, 8, 8), np.nan), "holds NaN/Inf"),
    ],
)
def test_bad_frame_files_are_explained(array, message, tmp_path, capsys):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    code = main(
        [
            "explain",
            "--model",
            "planted_convlstm",
            "--data",
            str(path),
            "--out",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_netcdf_without_named_grid_dims_is_explained(tmp_path, capsys):
    import xarray as xr

    path = tmp_path / "bad.nc"
    xr.Dataset({"v": (("time", "a", "b"), np.zeros((6, 8, 8)))}).to_netcdf(path, engine="scipy")
    code = main(
        [
            "explain",
            "--model",
            "planted_convlstm",
            "--data",
            str(path),
            "--window",
            "6",
            "--out",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 2
    assert "cannot tell the row (y, lat) dimension" in capsys.readouterr().err
