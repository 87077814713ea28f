"""Keras's recurrent equations in numpy, step by step, on weights in Keras's own layout.

Written from the Keras 3 layer docs (gate order i, f, c, o for LSTM; z, r, h for GRU; h as
``z * h_prev + (1 - z) * hh``), independent of explainr's conversion. float64 throughout.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None):
    """Gates ``input, forget, cell, output``, cell state ``c`` and ``h``, each ``(B, T, H)``."""
    x, kernel, recurrent = (np.asarray(a, dtype=np.float64) for a in (x, kernel, recurrent))
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    out = {k: [] for k in ("input", "forget", "cell", "output", "c", "h")}
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent + (0.0 if bias is None else bias)
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        i, f, g, o = sigmoid(zi), sigmoid(zf), np.tanh(zc), sigmoid(zo)
        c = f * c + i * g
        h = o * np.tanh(c)
        for key, value in zip(out, (i, f, g, o, c, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def gru(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray | None,
    *,
    reset_after: bool,
    activation=np.tanh,
    recurrent_activation=sigmoid,
):
    """Gates ``reset, update, new`` and ``h``, each ``(B, T, H)``, for either reset placement."""
    x, kernel, recurrent = (np.asarray(a, dtype=np.float64) for a in (x, kernel, recurrent))
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    if bias is None:
        b_in, b_rec = np.zeros(3 * units), np.zeros(3 * units)
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros(3 * units)
    h = np.zeros((batch, units))
    out = {k: [] for k in ("reset", "update", "new", "h")}
    for t in range(steps):
        xz, xr, xh = np.split(x[:, t] @ kernel + b_in, 3, axis=1)
        if reset_after:
            rz, rr, rh = np.split(h @ recurrent + b_rec, 3, axis=1)
            z = recurrent_activation(xz + rz)
            r = recurrent_activation(xr + rr)
            hh = activation(xh + r * rh)
        else:
            z = recurrent_activation(xz + h @ recurrent[:, :units])
            r = recurrent_activation(xr + h @ recurrent[:, units : 2 * units])
            hh = activation(xh + (r * h) @ recurrent[:, 2 * units :])
        h = z * h + (1 - z) * hh
        for key, value in zip(out, (r, z, hh, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}
