"""The import graph, read from the source with ``ast`` (nothing is imported, so it is fast).

Every import in a file counts: at the top, inside functions and under ``TYPE_CHECKING``. A
cycle among ``core/``'s modules is a design knot even when lazy imports keep it from failing
at run time; the console's screens and widgets name the app only for typing.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((REPO / package).rglob("*.py"))}


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, bool]:
    """The known modules ``name`` imports, each with whether every import of it is type-only.
    ``from a.b import c`` counts as importing ``a.b.c`` where that is a module, else ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, bool] = {}

    def add(target: str, node: ast.AST) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found[target] = found.get(target, True) and id(node) in typing_only

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base, node)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (its first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_loop_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_read_inside_functions_and_under_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from core.b import X\n"
        "def f():\n    import core.c\n"
        "from . import d\n"
    )
    known = {"core.a", "core.b", "core.c", "core.d"}
    assert imports_of("core.a", source, known) == {"core.b": True, "core.c": False, "core.d": False}


def test_core_has_no_import_cycle() -> None:
    modules = _modules("core")
    known = set(modules)
    graph = {name: set(imports_of(name, path, known)) for name, path in modules.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "core/ imports in a loop: " + " -> ".join(cycle or [])


def test_core_imports_neither_textual_nor_tui() -> None:
    for name, path in _modules("core").items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for target in targets:
                assert target.split(".")[0] not in ("textual", "tui"), f"{name} imports {target}"


def test_screens_and_widgets_import_the_app_only_for_typing() -> None:
    modules = _modules("tui")
    known = set(modules)
    for name, path in modules.items():
        if not name.startswith(("tui.console.screens.", "tui.console.widgets.")):
            continue
        typing_only = imports_of(name, path, known).get("tui.console.app", True)
        assert typing_only, f"{name} imports tui.console.app outside TYPE_CHECKING"


def test_the_readmes_layout_names_every_module() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout") :]
    layout = layout[: layout.find("\n## ", 1)] if "\n## " in layout[1:] else layout
    missing = [
        str(path.relative_to(REPO))
        for package in ("core", "tui")
        for path in sorted((REPO / package).rglob("*.py"))
        if path.name != "__init__.py" and f"`{path.name}`" not in layout
    ]
    assert not missing, "README's Layout section does not name: " + ", ".join(missing)
