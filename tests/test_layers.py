"""The package's shape: no import cycles, and only the core is shared privately.

The layer order itself is import-linter's contract in pyproject.toml (`lint-imports` runs
in `make test`); these two rules are checked here on the same import graph (grimp's).
"""

from __future__ import annotations

import grimp

GRAPH = grimp.build_graph("explainr")
MODULES = sorted(GRAPH.modules)


def _package(module: str) -> str:
    return module.rsplit(".", 1)[0] if "." in module else module


def _private_part(module: str) -> str | None:
    """The shortest private prefix of ``module`` (``explainr.record._patch``), or None."""
    parts = module.split(".")
    for k, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: k + 1])
    return None


def test_no_module_imports_a_private_module_of_another_package() -> None:
    bad = []
    for importer in MODULES:
        for imported in GRAPH.find_modules_directly_imported_by(importer):
            private = _private_part(imported)
            if private is None or private == "explainr._core":
                continue
            owner = _package(private)  # the package the private module belongs to
            if not (importer == owner or importer.startswith(owner + ".")):
                bad.append(f"{importer} -> {imported}")
    assert not bad, "private modules imported across packages:\n" + "\n".join(sorted(bad))


def test_no_import_cycles_between_modules() -> None:
    """Tarjan's strongly connected components over module -> module imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH.find_modules_directly_imported_by(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert not cycles, f"modules importing each other in a circle: {cycles}"


def test_the_checks_see_a_planted_violation() -> None:
    """The graph is real: the record package does import its private modules."""
    assert "explainr.record._patch" in GRAPH.find_modules_directly_imported_by(
        "explainr.record._recorder"
    )
    assert _private_part("explainr.record._patch") == "explainr.record._patch"
    assert _private_part("explainr.report.figures") is None
