"""Controls outside a figure that choose which of its menu entries is shown.

A control group carries ``data-explainr-figure`` (the figure's div id) and either
``data-explainr-sizes`` (its ``<select>``s pick entry ``k`` row-major over those sizes)
or buttons with ``data-explainr-pick="k"``; `SCRIPT` (once per page) applies the
figure's menu entry ``k``: its traces' visibility and its title.
"""

from __future__ import annotations

from collections.abc import Sequence

from explainr.report._page import esc

SCRIPT = """<script>
(function () {
  function show(gd, k) {
    var menus = (gd && gd.layout && gd.layout.updatemenus) || [];
    if (!menus.length) return;
    var args = menus[0].buttons[k].args;
    Plotly.update(gd, args[0], Object.assign({}, args[1], {"updatemenus[0].active": k}));
  }
  function figureOf(el) {
    var group = el.closest("[data-explainr-figure]");
    return [group, document.getElementById(group.getAttribute("data-explainr-figure"))];
  }
  document.addEventListener("change", function (event) {
    var group = event.target.closest("[data-explainr-sizes]");
    if (!group) return;
    var sizes = group.getAttribute("data-explainr-sizes").split(",").map(Number);
    var selects = group.querySelectorAll("select"), k = 0;
    for (var i = 0; i < selects.length; i++) k = k * sizes[i] + selects[i].selectedIndex;
    show(figureOf(group)[1], k);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-explainr-pick]");
    if (!button) return;
    var found = figureOf(button);
    show(found[1], Number(button.getAttribute("data-explainr-pick")));
    found[0].querySelectorAll("[data-explainr-pick]").forEach(function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
  });
})();
</script>"""


def figure_id(div: str) -> str:
    """The id of the figure ``<div>`` that `Figures` returned."""
    return div.split('id="', 1)[1].split('"', 1)[0]


def selectors(fig_id: str, groups: Sequence[tuple[str, Sequence[str]]]) -> str:
    """``<select>``s choosing entry ``k`` of the figure's menu, row-major over the groups.

    Args:
        fig_id: the figure's div id.
        groups: per ``<select>``, its label and its options (raw; escaped here).
    """
    sizes = ",".join(str(len(options)) for _, options in groups)
    parts = []
    for label, options in groups:
        opts = "".join(f"<option>{esc(o)}</option>" for o in options)
        parts.append(f"<label>{esc(label)} <select>{opts}</select></label>")
    return (
        f'<div class="controls" data-explainr-figure="{esc(fig_id)}" '
        f'data-explainr-sizes="{sizes}">{"".join(parts)}</div>'
    )
