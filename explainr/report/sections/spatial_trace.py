"""Gates and states of a ConvLSTM as maps: per channel, with a time slider.

For every recorded module whose states are maps ``(batch, time, channels, height,
width)``, one section: per layer, each gate (0..1) and the cell and hidden state maps of
the shown sample, the channels tiled side by side, one step at a time. The trace section
keeps its channel rows averaged over height and width; here is where in the frame a gate
opens.
"""

from __future__ import annotations

import math

from explainr.report._contents import Contents, TraceItem
from explainr.report._page import esc
from explainr.report.sections._common import Figures, Section, labels_for, paragraph, section

MAX_MAP_CELLS = 400_000  # above this many map cells in all, maps are averaged over cells


def render(report: Contents, figure: Figures) -> list[Section]:
    items = [item for item in report.traces if _is_spatial(item)]
    cells = sum(_cells(item) for item in items)
    factor = math.ceil(math.sqrt(cells / MAX_MAP_CELLS)) if cells > MAX_MAP_CELLS else 1
    return [_maps_section(report, item, k, factor, figure) for k, item in enumerate(items)]


def _cells(item: TraceItem) -> int:
    return sum(v[0].numel() for v in item.record.data.values() if v.dim() == 5)


def _is_spatial(item: TraceItem) -> bool:
    return any(v.dim() == 5 for v in item.record.data.values())


def _maps_section(
    report: Contents, item: TraceItem, k: int, factor: int, figure: Figures
) -> Section:
    from explainr.report.figures import frames as frame_figures  # loads plotly: on use

    rec, s = item.record, item.sample
    labels = item.time_labels or labels_for(report, rec.time_steps, None)
    labels = labels or [str(t) for t in range(rec.time_steps)]
    tanh = set(rec.cell_kind.tanh_gates)
    parts = [
        paragraph(
            "Each tile is one channel's map over the frame; the slider moves through the "
            "steps. Gates run from 0 (closed) to 1 (open) on one scale; the candidate, cell "
            "and hidden states are signed, on one scale per figure for all steps."
            + (
                f" To keep the file small, each map is averaged over {factor}×{factor} cells "
                f"(more than {MAX_MAP_CELLS:,} map cells in all); "
                "<code>explainr.plots</code> draws them at full resolution."
                if factor > 1
                else ""
            )
        )
    ]
    for layer in range(rec.num_layers):
        for (what, at, direction), value in rec.data.items():
            if at != layer or direction != 0 or value.dim() != 5:
                continue
            name = what.split(":", 1)[-1]
            gate = what.startswith("gate:") and name not in tanh
            title = f"{_name(rec.name)} · layer {layer} · {name}{' gate' if what.startswith('gate:') else ' state'}"
            maps = frame_figures.pool(value[s].detach().cpu().float().numpy(), factor)
            parts.append(figure(frame_figures.state_maps(maps, labels, title, gate=gate)))
    heading = f"Gate and state maps: {esc(_name(rec.name))}"
    return section(f"maps-{k}", f"{_name(rec.name)} maps", heading, "".join(parts))


def _name(name: str) -> str:
    return name or "(model)"
