"""Attributions of frame inputs in space: a map per input frame, the map over time, shares.

One section per attribution whose input was frames (``Attribution.frame_shape``): the
attribution map of every input frame beside the frame (a time slider, one diverging colour
scale for all frames), the map summed over time, and each frame's share of the total
|attribution|. Channels are summed in the maps; the input is drawn as its channel mean.
"""

from __future__ import annotations

import numpy as np

from explainr.report._contents import AttributionItem, Contents
from explainr.report._page import esc
from explainr.report.sections._common import Figures, Section, labels_for, paragraph, section


def render(report: Contents, figure: Figures) -> list[Section]:
    return [
        _frames_section(report, item, k, figure)
        for k, item in enumerate(report.attributions)
        if is_frames(item)
    ]


def is_frames(item: AttributionItem) -> bool:
    """Whether an attribution is on whole frames (drawn here, not as a cell heatmap)."""
    a = item.attribution
    return a.frame_shape is not None and a.values.shape[2] == int(np.prod(a.frame_shape))


def _frames_section(report: Contents, item: AttributionItem, k: int, figure: Figures) -> Section:
    from explainr.report.figures import frames as frame_figures  # loads plotly: on use

    a, s = item.attribution, item.sample
    maps = a.frames[s].sum(axis=1)  # (time, height, width)
    data = a.frame_data
    inputs = None if data is None else np.asarray(data[s], dtype=np.float64).mean(axis=1)
    steps = maps.shape[0]
    labels = a.time_labels or labels_for(report, steps, None) or [str(t) for t in range(steps)]
    magnitude = np.abs(a.frames[s]).sum(axis=(1, 2, 3))
    share = magnitude / max(float(magnitude.sum()), 1e-300)
    signed = a.frames[s].sum(axis=(1, 2, 3))
    unit = report.prediction_unit
    target = a.settings.get("target")
    delta = float(a.prediction[s] - a.baseline_prediction[s])
    text = (
        f"Where and when the prediction{f' ({esc(target)})' if target else ''} came from, "
        f"according to <b>{esc(a.method)}</b>: each map shows one input frame's share of "
        f"f(x) − f(baseline) = {delta:.4g}, summed over channels; red pushed the prediction "
        "up, blue down. Drag the slider to move through the frames: every frame uses the "
        "same colour scale, so colours compare across time."
    )
    if a.grouped:
        patch = a.settings.get("patch")
        text += (
            f" Cells were perturbed in groups ({esc(a.group_by)}"
            f"{f', {patch}×{patch} patches' if patch else ''}); a group's value is spread "
            "evenly over its cells."
        )
    parts = [
        paragraph(text),
        figure(
            frame_figures.attribution_frames(maps, inputs, labels, f"{a.method}: per frame", unit)
        ),
        figure(
            frame_figures.time_summed_map(maps.sum(axis=0), f"{a.method}: summed over time", unit)
        ),
        figure(frame_figures.frame_shares(share, signed, labels)),
    ]
    heading = f"Where and when: {esc(a.method)}"
    return section(f"frames-{k}", f"{a.method} maps", heading, "".join(parts))
