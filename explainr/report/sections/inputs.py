"""The input window under its attribution."""

from __future__ import annotations

from explainr.report import figures
from explainr.report._contents import AttributionItem, Contents, InputItem
from explainr.report._page import esc
from explainr.report.figures import arrays as _arrays
from explainr.report.sections._common import (
    Figures,
    Section,
    labels_for,
    names_for,
    paragraph,
    section,
)

MAX_FEATURES = 24  # panels in the input figure; the rest are named in a note


def render(report: Contents, figure: Figures) -> list[Section]:
    if report.attributions and report.input is not None:
        return [_input_section(report, report.input, figure)]
    return []


def _input_section(report: Contents, inp: InputItem, figure: Figures) -> Section:
    first = report.attributions[0]
    same = [
        i
        for i in report.attributions
        if i.sample == first.sample and i.attribution.values.shape[1:] == inp.values.shape
    ]
    if not same:
        note = (
            f"The input window has shape {inp.values.shape}, but the attributions explain "
            f"windows of shape {first.attribution.values.shape[1:]}; nothing to overlay."
        )
        return section("input", "Input", "Input", f'<p class="note">{esc(note)}</p>')
    by_method = {i.attribution.method: i.attribution for i in same}
    steps = inp.values.shape[0]
    names = inp.feature_names or names_for(report, first) or first.attribution.feature_names
    fig = figures.input_attribution(
        inp.values,
        by_method,
        first.sample,
        feature_names=names or None,
        time_labels=labels_for(report, steps, inp.time_labels),
        units=inp.units,
        max_features=MAX_FEATURES,
        unit=report.prediction_unit,
    )
    text = (
        "The explained window in its original units. Each point is coloured by its "
        "attribution: red points pushed the prediction up, blue points pushed it down, white "
        "ones did not matter. The bottom row sums each time step over features. Pick a "
        "method from the menu."
    )
    inner = paragraph(text) + _hidden_note(first, names) + figure(fig)
    return section("input", "Input", "Input and attribution", inner)


def _hidden_note(first: AttributionItem, names: list[str] | None) -> str:
    """Which features the panel leaves out and how to draw them, or nothing."""
    values = first.attribution.values[first.sample]
    count = values.shape[1]
    shown = set(_arrays.shown_features(values, MAX_FEATURES))
    if len(shown) == count:
        return ""
    labels = names or [f"x{j}" for j in range(count)]
    hidden = ", ".join(str(labels[j]) for j in range(count) if j not in shown)
    return (
        f'<p class="note">Showing the {len(shown)} most attributed of {count} features; '
        f"not shown: {esc(hidden)}. Draw them all with "
        "<code>explainr.plots.input_attribution(x, a, max_features=None)</code>.</p>"
    )
