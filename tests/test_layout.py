"""The package's shape: a top level that reads like the method, an import graph without cycles, and no reach
into another package's private names. Walked with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

from workflow_helpers import REPO

SRC = REPO / "src"
PACKAGE = SRC / "synthctx"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, known: dict[str, Path]) -> list[tuple[str, str, int]]:
    """(module imported, name imported or "", line) for every import of synthctx, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "synthctx"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("synthctx"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub, "", node.lineno) if sub in known else (node.module, alias.name, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: {m for m, _, _ in _imports(path, known) if m in known and m != name} for name, path in known.items()}


def test_the_top_level_has_at_most_twelve_entries_each_saying_what_it_holds():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 12, entries
    for folder in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"{folder.name}/__init__.py has no docstring saying what the package holds"


def test_the_import_graph_has_no_cycle():
    graph, state, path = _graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_nothing_below_the_command_line_imports_it():
    importers = sorted(m for m, deps in _graph().items() if "synthctx.cli" in deps)
    assert importers == ["synthctx.__main__"], importers


def test_no_private_name_is_imported_across_packages():
    known, found = _modules(), []
    for name, path in known.items():
        here = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
        for module, imported, line in _imports(path, known):
            there = module.rsplit(".", 1)[0] if known.get(module, Path()).name != "__init__.py" else module
            if imported.startswith("_") and there != here:
                found.append(f"{path.relative_to(REPO)}:{line} imports {module}.{imported}")
    assert not found, "\n".join(found)


def test_sizes_a_newcomer_can_read():
    assert len((REPO / "workflow/rules/common.smk").read_text().splitlines()) <= 150
    assert len((PACKAGE / "cli.py").read_text().splitlines()) <= 300
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, "\n".join(long)
