"""Content hash of the modules a stage runs, so Snakemake re-runs exactly the rules whose code changed.

Snakemake cannot see code behind `python -m synthctx`; each rule takes `code_digest(stage_module)` as
a param. The hash covers the module and, transitively, every synthctx module it imports.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "synthctx"
SRC = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return SRC / "__init__.py"
    rel = Path(*parts)
    for candidate in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _statements(nodes: list[ast.AST]):
    """Every statement, nested ones included; an import is a statement, so expressions need no visit."""
    for node in nodes:
        yield node
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, block, None) or [])


def _imports(path: Path) -> frozenset[str]:
    stat = path.stat()
    return _parsed_imports(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parsed_imports(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    """Each file is parsed once per process (every rule's digest walks the same modules); an edited file has
    a new modification time or size and is parsed again."""
    found: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == PACKAGE
        ):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(m for m in found if _module_file(m) is not None)


def module_closure(module: str) -> list[Path]:
    """The module's file and every synthctx module it imports, directly or not."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_imports(path) - seen.keys())
    return sorted(set(seen.values()))


def package_modules(package: str) -> list[str]:
    """Every module of a package folder (a task's package), sub-folders included."""
    folder = SRC / Path(*package.split(".")[1:])
    if not (folder / "__init__.py").is_file():
        raise ValueError(f"{package} is not a package under {SRC}")
    return [
        ".".join([PACKAGE, *p.relative_to(SRC).with_suffix("").parts]).removesuffix(".__init__")
        for p in sorted(folder.rglob("*.py"))
    ]


def code_digest(*modules: str, shallow: tuple[str, ...] = (), folders: tuple[str, ...] = ()) -> str:
    """Hash of the modules and everything they import; `shallow` modules count without their imports (the
    CLI, whose subcommands import every stage); `folders` add every module of a package and its imports."""
    h = hashlib.sha256()
    modules = modules + tuple(m for f in folders for m in package_modules(f))
    files = {p for m in modules for p in module_closure(m)} | {_module_file(m) for m in shallow}
    if None in files:
        raise ValueError(f"no module file for one of {shallow}")
    for path in sorted(files):
        h.update(path.relative_to(SRC).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def folder_contents_digest(paths: list[str]) -> str:
    """Hash of the names and contents of every file inside the folders among `paths` ("" when there are none).

    A folder input carries only its own modification time, which an edit of a file inside it leaves alone;
    as a rule param this digest makes such an edit re-run the job. Plain files need none: Snakemake compares
    their own modification times."""
    h = hashlib.sha256()
    folders = sorted(Path(p) for p in paths if Path(p).is_dir())
    for folder in folders:
        for f in sorted(x for x in folder.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(folder)).encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            h.update(b"\0")
    return h.hexdigest()[:16] if folders else ""
