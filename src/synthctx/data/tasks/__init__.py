"""The task registry: every sub-package of `synthctx.data.tasks` is a task, and its `SPEC` says all the rest of
the study needs to know about it. Nothing outside a task's package asks which task it is.

Tasks are found by listing this folder and imported by name, so a task's code is hashed into its own
rules' digests only (see workflow/rules/common.smk), not into every rule that looks a spec up.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

from synthctx.data import prompting
from synthctx.data.records import DataError
from synthctx.data.tasks.spec import Built, TaskSpec

HERE = Path(__file__).resolve().parent


@cache
def names() -> tuple[str, ...]:
    """Every task, in name order."""
    return tuple(sorted(p.name for p in HERE.iterdir() if (p / "__init__.py").is_file()))


@cache
def get(name: str) -> TaskSpec:
    if name not in names():
        raise DataError(f"unknown task {name!r} (one of {', '.join(names())})")
    spec = importlib.import_module(f"{__name__}.{name}").SPEC
    if spec.name != name:
        raise ValueError(f"synthctx/data/tasks/{name}/__init__.py: SPEC.name is {spec.name!r}, not {name!r}")
    return spec


def encode(tokenizer, record: dict[str, Any], answer: str | None) -> prompting.Encoded:
    """A record of any task as token ids with its span positions: its task's instruction, then the
    prompt layout of `synthctx.data.prompting` (which knows no task)."""
    return prompting.encode(tokenizer, record, answer, get(record["task"]).instruction)


def _builder(name: str, module: str):
    get(name)
    return importlib.import_module(f"{__name__}.{name}.{module}").build


def build_real(name: str, cfg: dict[str, Any], split: str, n: int, seed: int, tokenizer) -> Built:
    """Real records of a task's split from the source in cfg["source"] (embedded, files or hub)."""
    module = "embedded" if cfg["source"]["kind"] == "embedded" else "official"
    return Built(*_builder(name, module)(cfg, split, n, seed, tokenizer))


def build_synthetic(
    name: str, needle: str, haystack: str, cfg: dict[str, Any], n: int, seed: int, tokenizer, writer=None
) -> Built:
    """Synthetic training records of one (needle, haystack) variant; `writer` is the cached LLM writer the
    CLI built from cfg["writer"], or None."""
    return Built(*_builder(name, "synthetic")(needle, haystack, cfg, n, seed, tokenizer, writer))


def writer_slice(section: dict[str, Any], task: str, needle: str, haystack: str) -> dict[str, Any] | None:
    """The writer part of one synthetic variant's config slice, or None when no LLM writes any of it.

    Only a high needle or haystack named in `use_for` (and writable for the task) uses the writer, and
    `use_for` is narrowed to those uses: so turning the writer on re-runs only the variants whose text
    it writes, and with `backend: none` the slice, hence every record, is what it was without a writer."""
    if section["backend"] == "none":
        return None
    levels = {"needle": needle, "haystack": haystack}
    uses = [u for u in get(task).writer_uses if u in section["use_for"] and levels[u] == "high"]
    if not uses:
        return None
    return {**section, "use_for": uses}
