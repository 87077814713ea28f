"""Your own model in the CLI: each trap of issue 11 has a test here.

Traps: a factory without weights silently explained at random; no way to give the scaler
(reports of z-score models drawn in z-scores); the date column dropped silently; the
output format ignoring the suffix of ``--out``; ``--model file.py`` talking about pickles.
References: the model's own outputs on windows we scale ourselves, the data file's own
values and dates, and the files written (parsed back).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(2, 6, batch_first=True)
            self.head = nn.Linear(6, 1)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)

    def build():
        torch.manual_seed(3)
        return Net()
    """
)
MEAN, STD = [100.0, 20.0], [10.0, 5.0]
CARD = {
    "name": "load_gru",
    "task": "forecast",
    "data": {
        "features": ["load", "temp"],
        "target": "load",
        "units": {"load": "kW", "t*": "degC"},
    },
    "window": 8,
    "scaling": {"method": "standard", "mean": MEAN, "std": STD},
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainr", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("own")
    (d / "mymodel.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    rows = 30
    df = pd.DataFrame(
        {
            "when": pd.date_range("2024-03-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M"),
            "load": 100 + 10 * rng.normal(size=rows),
            "temp": 20 + 5 * rng.normal(size=rows),
        }
    )
    df.to_csv(d / "series.csv", index=False)
    two = df.assign(other=df["when"])
    two.to_csv(d / "two_dates.csv", index=False)
    df[["load", "temp"]].iloc[:16].to_csv(d / "background.csv", index=False)
    (d / "card.json").write_text(json.dumps(CARD))
    (d / "bad_card.json").write_text(json.dumps({"data": {"target": "load"}}))
    sys.path.insert(0, str(d))
    try:
        import mymodel

        torch.manual_seed(11)  # trained weights differ from the factory's own
        trained = mymodel.Net()
        from safetensors.torch import save_file

        save_file(trained.state_dict(), str(d / "weights.safetensors"))
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodel", None)
    return d


def trained(work: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    sys.path.insert(0, str(work))
    try:
        import mymodel

        net = mymodel.Net()
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodel", None)
    net.load_state_dict(load_file(str(work / "weights.safetensors")))
    return net.eval()


def last_window(work: Path, window: int = 8) -> np.ndarray:
    return pd.read_csv(work / "series.csv")[["load", "temp"]].to_numpy(np.float64)[-window:]


def explain(work: Path, *extra: str, out: str = "out.json") -> subprocess.CompletedProcess:
    base = ["explain", "--model", "mymodel:build", "--data", "series.csv", "--out", out]
    return run(*base, "--methods", "integrated_gradients", "--n-steps", "16", *extra, cwd=work)


def one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("explainr: error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# trap 1: a factory without --weights


def test_factory_without_weights_is_an_error(work):
    res = explain(work, "--card", "card.json")
    one_line_error(res, "--weights", "--random-weights")
    assert not (work / "out.json").exists()


def test_random_weights_on_purpose_explains_the_factory_model(work):
    res = explain(work, "--card", "card.json", "--random-weights", "--json", out="rand.json")
    assert res.returncode == 0, res.stderr
    assert "--random-weights" in res.stderr  # said, not silent
    sys.path.insert(0, str(work))
    try:
        import mymodel

        net = mymodel.build().eval()
    finally:
        sys.path.pop(0)
        sys.modules.pop("mymodel", None)
    x = (last_window(work) - MEAN) / STD
    with torch.no_grad():
        expected = float(net(torch.as_tensor(x[None], dtype=torch.float32)))
    assert json.loads(res.stdout)["prediction"] == pytest.approx(expected, rel=1e-6)


def test_weights_and_random_weights_together_is_an_error(work):
    res = explain(work, "--weights", "weights.safetensors", "--random-weights", "--window", "8")
    one_line_error(res, "not both")


# trap 2: the scaler (a model card)


def test_card_scales_the_data_as_in_training_and_keeps_original_units(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary == json.loads((work / "out.json").read_text())  # --json prints the file
    raw = last_window(work)
    with torch.no_grad():
        scaled = trained(work)(torch.as_tensor((raw - MEAN) / STD, dtype=torch.float32)[None])
        unscaled = trained(work)(torch.as_tensor(raw, dtype=torch.float32)[None])
    assert summary["prediction"] == pytest.approx(float(scaled), rel=1e-6)
    assert abs(float(unscaled) - float(scaled)) > 1e-3  # the card made the difference
    assert summary["window"] == 8 and summary["scaled_with_card"] is True
    assert summary["units"] == {"load": "kW", "temp": "degC"}  # "t*" glob matched temp
    assert summary["prediction_unit"] == "kW"
    table = work / "cells.csv"
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", out=table.name)
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(table)
    cells = frame[frame.window == 0].pivot(index="time", columns="feature", values="input")
    np.testing.assert_allclose(cells[["load", "temp"]].to_numpy(), raw)  # original units


def test_card_units_reach_the_report(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", out="r.html")
    assert res.returncode == 0, res.stderr
    html = (work / "r.html").read_text()
    assert "kW" in html and "degC" in html
    assert "prediction" in res.stdout and "kW" in res.stdout


def test_bad_card_is_an_error(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "bad_card.json")
    one_line_error(res, "bad_card.json", "data.features")
    res = explain(work, "--weights", "weights.safetensors", "--card", "nope.json")
    one_line_error(res, "nope.json")
    res = explain(
        work, "--weights", "weights.safetensors", "--card", "card.json", "--features", "temp,load"
    )
    one_line_error(res, "scaling")


# trap 3: the date column


def test_date_column_is_detected_and_said(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", "--json")
    assert res.returncode == 0, res.stderr
    assert "'when'" in res.stderr and "time labels" in res.stderr
    dates = pd.read_csv(work / "series.csv")["when"].tolist()
    summary = json.loads(res.stdout)
    shown = pd.to_datetime(summary["time"])  # dates, not row numbers
    assert (shown == pd.to_datetime([dates[-8], dates[-1]])).all()
    steps = [s["time"] for s in summary["methods"]["integrated_gradients"]["top_steps"]]
    assert set(pd.to_datetime(steps)) <= set(pd.to_datetime(dates[-8:]))


def test_named_time_column_is_used_quietly(work):
    res = explain(
        work, "--weights", "weights.safetensors", "--card", "card.json", "--time-column", "when"
    )
    assert res.returncode == 0, res.stderr
    assert "time labels" not in res.stderr


def test_several_date_columns_ask_for_time_column(work):
    res = run(
        "explain",
        "--model",
        "mymodel:build",
        "--weights",
        "weights.safetensors",
        "--card",
        "card.json",
        "--data",
        "two_dates.csv",
        "--out",
        "x.json",
        cwd=work,
    )
    one_line_error(res, "--time-column", "when", "other")


# trap 4: the output format follows --out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_long_table_outputs(work, suffix):
    pytest.importorskip("pyarrow")
    out = f"table{suffix}"
    res = explain(
        work, "--weights", "weights.safetensors", "--card", "card.json", "--last", "2", out=out
    )
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(work / out) if suffix == ".csv" else pd.read_parquet(work / out)
    assert frame.columns.tolist() == ["method", "window", "time", "feature", "value", "input"]
    assert len(frame) == 2 * 8 * 2 and set(frame.method) == {"integrated_gradients"}


def test_json_output_is_json(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", out="s.json")
    assert res.returncode == 0, res.stderr
    summary = json.loads((work / "s.json").read_text())
    assert set(summary["methods"]) == {"integrated_gradients"}
    assert "<html" not in (work / "s.json").read_text().lower()


@pytest.mark.parametrize("out", ["r.txt", "r", "r.htm"])
def test_unknown_suffix_is_an_error_before_any_work(work, out):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", out=out)
    one_line_error(res, "suffix", ".html", ".json", ".csv", ".parquet")
    assert not (work / out).exists()


# trap 5: --model file.py without :factory


def test_python_file_without_factory_says_how(work):
    res = run(
        "explain",
        "--model",
        "mymodel.py",
        "--data",
        "series.csv",
        "--window",
        "8",
        "--out",
        "x.html",
        cwd=work,
    )
    line = one_line_error(res, "mymodel.py:build", "--weights")
    assert "pickle" not in line


# the options


def test_attribution_options_reach_the_results(work):
    res = run(
        "explain",
        "--model",
        "mymodel:build",
        "--weights",
        "weights.safetensors",
        "--card",
        "card.json",
        "--data",
        "series.csv",
        "--methods",
        "integrated_gradients,lime",
        "--n-steps",
        "24",
        "--n-samples",
        "64",
        "--block",
        "4",
        "--group-by",
        "time",
        "--device",
        "cpu",
        "--json",
        "--out",
        "opts.json",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    methods = json.loads(res.stdout)["methods"]
    assert methods["integrated_gradients"]["settings"]["n_steps"] == 24
    assert methods["lime"]["settings"]["n_samples"] == 64
    assert methods["lime"]["block"] == 4 and methods["lime"]["group_by"] == "time"


@pytest.mark.parametrize("choice", ["mean", "background.csv"])
def test_baseline_choices(work, choice):
    res = explain(
        work, "--weights", "weights.safetensors", "--card", "card.json", "--json",
        "--baseline", choice,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = pd.read_csv(work / "series.csv")[["load", "temp"]].to_numpy(np.float64)
    if choice == "mean":
        windows = np.broadcast_to(data.mean(axis=0), (1, 8, 2))
    else:
        windows = data[:16].reshape(2, 8, 2)
    scaled = torch.as_tensor((windows - MEAN) / STD, dtype=torch.float32)
    with torch.no_grad():
        expected = trained(work)(scaled).double().mean().item()
    assert json.loads(res.stdout)["baseline_prediction"] == pytest.approx(expected, rel=1e-6)


def test_quiet_and_verbose(work):
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", "-q")
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    res = explain(work, "--weights", "weights.safetensors", "--card", "card.json", "-v")
    assert res.returncode == 0 and "scaling the data" in res.stderr
    assert "summary:" in res.stdout


@pytest.mark.parametrize(("device", "needle"), [("nonsense", "not a torch device"), ("cuda:7", "")])
def test_bad_device_is_an_error(work, device, needle):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 CUDA devices")
    res = explain(
        work, "--weights", "weights.safetensors", "--card", "card.json", "--device", device
    )
    one_line_error(res, "--device", needle)
