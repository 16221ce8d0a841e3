"""Content hash of the modules a stage runs, so Snakemake re-runs exactly the rules whose code changed.

Snakemake cannot see code behind `python -m synthctx`; each rule takes `job_digest(job_module, *science)` as
a param: its job module (synthctx.jobs.<rule file>) with what that module imports at module level, and the
science modules the rule names with everything they import. The job module's imports inside its functions
are not followed (each subcommand imports its own science there), so an edit to one rule's science re-plans
that rule alone, and the command line (synthctx.cli) is in no digest. The hash is of each module's syntax
tree without docstrings: an edited comment or docstring re-plans nothing.
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


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _statements(nodes: list[ast.AST], into_functions: bool = True):
    """Every statement, nested ones included (those of function bodies only if `into_functions`: a module's
    import-time statements are the rest); an import is a statement, so expressions need no visit."""
    for node in nodes:
        yield node
        if not into_functions and isinstance(node, FUNCTIONS):
            continue
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, block, None) or [], into_functions)


def _imports(path: Path, into_functions: bool = True) -> frozenset[str]:
    stat = path.stat()
    return _parsed_imports(path, stat.st_mtime_ns, stat.st_size, into_functions)


@functools.cache
def _parsed_imports(path: Path, mtime_ns: int, size: int, into_functions: bool) -> frozenset[str]:
    """Each file is parsed once per process (every rule's digest walks the same modules); an edited file has
    a new modification time or size and is parsed again."""
    found: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body, into_functions):
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


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """The tree with the docstring of the module, each class and each function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:]
    return tree


def syntax_digest(path: Path) -> str:
    """Hash of a module's syntax tree less its docstrings: comments, docstrings and layout do not count."""
    stat = path.stat()
    return _parsed_digest(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parsed_digest(path: Path, mtime_ns: int, size: int) -> str:
    tree = _without_docstrings(ast.parse(path.read_text(encoding="utf-8")))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def job_imports(job: str) -> list[str]:
    """The synthctx modules a job module imports at module level (not inside its functions)."""
    path = _module_file(job)
    if path is None:
        raise ValueError(f"no module file for {job}")
    return sorted(_imports(path, into_functions=False))


def _digest(files: set[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.relative_to(SRC).as_posix().encode() + b"\0" + syntax_digest(path).encode() + b"\0")
    return h.hexdigest()[:16]


def code_digest(*modules: str, folders: tuple[str, ...] = ()) -> str:
    """Hash of the modules and everything they import; `folders` add every module of a package (a task's)
    and its imports."""
    modules = modules + tuple(m for f in folders for m in package_modules(f))
    return _digest({p for m in modules for p in module_closure(m)})


def job_files(job: str, *science: str, folders: tuple[str, ...] = ()) -> list[Path]:
    """What a rule's digest covers: its job module, the closure of that module's module-level imports, and
    the closure of the science modules (and package folders) the rule names."""
    job_file = _module_file(job)
    if job_file is None:
        raise ValueError(f"no module file for {job}")
    modules = (*job_imports(job), *science, *(m for f in folders for m in package_modules(f)))
    return sorted({job_file} | {p for m in modules for p in module_closure(m)})


def job_digest(job: str, *science: str, folders: tuple[str, ...] = ()) -> str:
    """A rule's code digest (see `job_files`)."""
    return _digest(set(job_files(job, *science, folders=folders)))


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
