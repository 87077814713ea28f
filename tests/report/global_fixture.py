"""Stored runs for the global report's tests, in the store schema shared with the engine.

``macro_run``: every window of the zoo's ``macro_lstm`` (US macro data, 1959-2009)
attributed by integrated gradients and occlusion with `explainr.attribute`, gate
statistics from `explainr.record`, the actual next-quarter inflation. ``synthetic_run``:
values from a seeded generator at any size, for size tests only.

Schema: dims ``window`` (n), ``lag`` (T), ``feature`` (F); coords ``window`` (int),
``window_end`` (str), ``lag`` (T-1 ... 0), ``feature`` (str); data ``x`` and
``attr_<method>`` (window, lag, feature); ``prediction``, ``baseline_prediction_<method>``,
``completeness_<method>``, optional ``actual`` (window); ``done`` (chunk); optional
``gate_<module>_<layer>_{forget_mean,saturation,timescale}`` (unit); attrs
``explainr_version``, ``settings`` (JSON), ``methods`` (JSON list), ``created``.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import torch
import xarray as xr

import explainr
from explainr.zoo import cut_samples

METHODS = ("integrated_gradients", "occlusion")
CHUNK = 64


def _frame(
    x: np.ndarray, ends: list[str], chunk: int, methods: list[str], settings: dict
) -> xr.Dataset:
    n, steps, _ = x.shape
    chunks = -(-n // chunk)
    return xr.Dataset(
        {
            "x": (("window", "lag", "feature"), x),
            "done": (("chunk",), np.ones(chunks, dtype=bool)),
        },
        coords={
            "window": np.arange(n),
            "window_end": (("window",), np.asarray(ends, dtype=str)),
            "lag": np.arange(steps - 1, -1, -1),
        },
        attrs={
            "explainr_version": "test",
            "settings": json.dumps({**settings, "chunk": chunk}),
            "methods": json.dumps(methods),
            "created": "2026-12-02T02:00:00Z",
        },
    )


def gate_statistics(trace: explainr.Trace) -> dict[str, tuple[tuple[str], np.ndarray]]:
    """Per module and layer: mean forget (GRU: update) gate, share saturated, timescale."""
    out = {}
    for name in trace:
        rec = trace[name]
        gate = "forget" if rec.has_cell else "update"
        for layer in range(rec.num_layers):
            values = rec.gate(gate, layer).double().numpy()  # (window, time, unit)
            mean = values.mean(axis=(0, 1))
            saturated = ((values < 0.1) | (values > 0.9)).mean(axis=(0, 1))
            with np.errstate(divide="ignore"):
                timescale = -1.0 / np.log(mean)
            base = f"gate_{name}_{layer}"
            out[f"{base}_forget_mean"] = (("unit",), mean)
            out[f"{base}_saturation"] = (("unit",), saturated)
            out[f"{base}_timescale"] = (("unit",), timescale)
    return out


@functools.cache
def macro_run() -> xr.Dataset:
    """Every window of ``macro_lstm``, two methods, gates and actuals (about 20 s, made
    once per test session: copy it before changing it)."""
    torch.manual_seed(0)
    zoo = explainr.zoo.load("macro_lstm")
    frame = zoo.data()
    raw, y, ends = cut_samples(frame, zoo.card)
    x = torch.as_tensor(zoo.scale(raw), dtype=torch.float32)
    labels = [str(t.date()) for t in frame.index[ends]]
    ds = _frame(
        x.double().numpy(), labels, CHUNK, list(METHODS), {"window": zoo.window, "stride": 1}
    )
    ds = ds.assign_coords(feature=zoo.feature_names)
    for method in METHODS:
        a = explainr.attribute(zoo.model, x, method)
        ds[f"attr_{method}"] = (("window", "lag", "feature"), a.values)
        ds[f"baseline_prediction_{method}"] = (("window",), a.baseline_prediction)
        ds[f"completeness_{method}"] = (("window",), a.completeness_error)
        ds["prediction"] = (("window",), a.prediction)
    ds["actual"] = (("window",), y)
    with explainr.record(zoo.model) as rec, torch.no_grad():
        zoo.model(x)
    for key, value in gate_statistics(rec.trace).items():
        ds[key] = value
    return ds


def synthetic_run(n: int, steps: int = 16, features: int = 11, seed: int = 0) -> xr.Dataset:
    """A run of ``n`` windows with random values (size tests only: nothing is explained)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, features))
    ends = [str(np.datetime64("1990-01-01") + np.timedelta64(k, "D")) for k in range(n)]
    ds = _frame(x, ends, 256, list(METHODS), {"window": steps, "stride": 1})
    ds = ds.assign_coords(feature=[f"series_{j}" for j in range(features)])
    for k, method in enumerate(METHODS):
        values = (
            rng.standard_normal((n, steps, features)) * np.exp(-np.arange(steps)[::-1] / 5)[:, None]
        )
        ds[f"attr_{method}"] = (("window", "lag", "feature"), values + 0.1 * k)
        ds[f"baseline_prediction_{method}"] = (("window",), np.zeros(n))
        ds[f"completeness_{method}"] = (("window",), np.abs(rng.standard_normal(n)) * 1e-3)
    ds["prediction"] = (("window",), rng.standard_normal(n))
    ds["actual"] = (("window",), rng.standard_normal(n))
    for layer in range(2):
        f = rng.uniform(0.2, 0.99, 32)
        ds[f"gate_rnn_{layer}_forget_mean"] = (("unit",), f)
        ds[f"gate_rnn_{layer}_saturation"] = (("unit",), rng.uniform(0, 1, 32))
        ds[f"gate_rnn_{layer}_timescale"] = (("unit",), -1 / np.log(f))
    return ds
