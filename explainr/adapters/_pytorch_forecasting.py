"""DeepAR's forecast as a deterministic function: the "mean path" through its decoder."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def mean_path(model: Any, batch: dict[str, Tensor]) -> Tensor:
    """``(batch, horizon)`` DeepAR's point forecast, each step fed the earlier steps' points.

    The library's own pieces run in the library's order (``encode``,
    ``construct_input_vector``, one ``decode_all`` per step, ``transform_output``); where
    its ``decode_autoregressive`` draws a sample from each step's distribution and feeds it
    back, this feeds back the distribution's median (``icdf(0.5)`` of the library's own
    distribution: the mean for an untransformed normal target). Step 1 is exactly the
    mean (median) of the library's one-step distribution.

    Args:
        model: a pytorch-forecasting ``DeepAR`` in eval mode.
        batch: the library's input dict (``encoder_cont`` scaled, ``target_scale`` …).
    """
    hidden = model.encode(batch)
    last = batch["encoder_lengths"] - 1
    rows = torch.arange(len(last), device=last.device)
    position = model.target_positions
    first = batch["encoder_cont"][rows, last][:, position]  # (batch, 1) scaled last target
    inputs = model.construct_input_vector(
        batch["decoder_cat"], batch["decoder_cont"], one_off_target=first
    )
    scale = batch["target_scale"]
    fed, points = first, []
    for step in range(inputs.shape[1]):
        x = inputs[:, [step]].clone()
        x[:, 0, position] = fed
        params, hidden = model.decode_all(x, hidden)
        rescaled = model.transform_output(params, target_scale=scale)  # (batch, 1, 4)
        distribution = model.loss.map_x_to_distribution(rescaled)
        point = distribution.icdf(torch.full_like(rescaled[..., 0], 0.5))  # (batch, 1)
        points.append(point[:, 0])
        fed = model.output_transformer.transform(point, target_scale=scale)
    return torch.stack(points, dim=1)
