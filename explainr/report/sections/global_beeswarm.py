"""Each window a point: how a feature's attribution varies with its value across the run."""

from __future__ import annotations

from explainr.report._global_contents import GlobalContents
from explainr.report.figures.global_beeswarm import global_beeswarm
from explainr.report.sections._common import Figures, Section, paragraph, section


def render(report: GlobalContents, figure: Figures) -> list[Section]:
    swarm = report.beeswarm
    if swarm is None:
        return []
    names = [report.features[j] for j in report.top]
    fig = global_beeswarm(
        swarm.values, swarm.inputs, names, swarm.labels, unit=report.prediction_unit
    )
    points = len(swarm.labels)
    drawn = (
        f"all {points:,} windows"
        if points == report.done
        else f"{points:,} of the {report.done:,} windows, evenly spaced through the run "
        f"(about one in {swarm.step:.3g})"
    )
    text = (
        f"One point per window ({drawn}) and feature: the feature's attribution summed over "
        "the window's lags. Colour is the feature's input averaged over the window, ranked "
        "within the feature from low (blue) to high (red). Points of similar value are "
        f"stacked. The {len(names)} most important features are shown, most important first."
    )
    return [
        section("beeswarm", "Beeswarm", "Each window's attribution", paragraph(text) + figure(fig))
    ]
