"""Which builder makes which task's data: one entry per task, so the CLI and the workflow stay task-agnostic.

Every builder returns records of the one schema in `synthctx.records`; the real builders from files also
return how many source items they dropped (unalignable answers or insights, golds too long to fit).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the workflow imports this module at planning time: keep it free of runtime imports
    from synthctx.data.llm_writer import TextWriter

TASKS = ("mdqa", "musique", "summhay")
# Each task's own config keys beside the shared ones; they reach the data rules' slices and the needle.
TASK_KEYS = {"mdqa": (), "musique": ("hops",), "summhay": ("min_gold", "max_gold")}
# Tasks whose records carry insight spans (bridge entities, insight sentences): they get insight heads too.
INSIGHT_TASKS = ("musique", "summhay")
# What an LLM writer may write, per task: SummHay's insights stay template-based (each is phrased
# differently in every gold document and must stay aligned to the statement the question quotes).
WRITER_USES = {"mdqa": ("needle", "haystack"), "musique": ("needle", "haystack"), "summhay": ("haystack",)}
WRITER_CACHE_DIR = "resources/llm_cache"


def writer_slice(section: dict[str, Any], task: str, needle: str, haystack: str) -> dict[str, Any] | None:
    """The writer part of one synthetic variant's config slice, or None when no LLM writes any of it.

    Only a high needle or haystack named in `use_for` (and writable for the task) uses the writer, and
    `use_for` is narrowed to those uses: so turning the writer on re-runs only the variants whose text
    it writes, and with `backend: none` the slice, hence every record, is what it was without a writer."""
    if section.get("backend", "none") == "none":
        return None
    levels = {"needle": needle, "haystack": haystack}
    wanted = section.get("use_for", ["needle", "haystack"])
    uses = [u for u in WRITER_USES[task] if u in wanted and levels[u] == "high"]
    if not uses:
        return None
    return {**section, "cache_dir": section.get("cache_dir", WRITER_CACHE_DIR), "use_for": uses}


def build_real(task: str, cfg: dict[str, Any], split: str, n: int, seed: int,
               tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Real records of `task` from the source in cfg["source"] (embedded, files or hub)."""
    kind = cfg["source"]["kind"]
    if task == "mdqa":
        if kind == "embedded":
            from synthctx.data.real_mdqa import build_real_mdqa
            return build_real_mdqa(cfg, split, n, seed, tokenizer), 0
        from synthctx.data.mdqa_files import build_mdqa_from_files
        return build_mdqa_from_files(cfg, split, n, seed, tokenizer)
    if task == "musique":
        from synthctx.data import musique
        if kind == "embedded":
            return musique.build_real_musique(cfg, split, n, seed, tokenizer), 0
        return musique.build_musique_from_files(cfg, split, n, seed, tokenizer)
    if task == "summhay":
        from synthctx.data import summhay
        if kind == "embedded":
            return summhay.build_real_summhay(cfg, split, n, seed, tokenizer), 0
        return summhay.build_summhay_from_files(cfg, split, n, seed, tokenizer)
    raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")


def build_synthetic(task: str, needle: str, haystack: str, cfg: dict[str, Any], n: int, seed: int,
                    tokenizer, writer: "TextWriter | None" = None) -> list[dict[str, Any]]:
    """Synthetic training records of one (needle, haystack) variant. Task-level needle settings
    (MuSiQue's `hops`, SummHay's `min_gold`/`max_gold`) join the needle slice here. `writer` is the
    cached LLM writer built once from cfg["writer"] (by the caller, not here), or None; SummHay uses it
    for high haystacks only (its insights stay template-based)."""
    if task not in TASK_KEYS:
        raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    task_needle = {k: cfg[k] for k in TASK_KEYS[task] if k in cfg}
    cfg = {**cfg, "needle": {**cfg["needle"], **task_needle}}
    if task == "mdqa":
        from synthctx.data.synthetic import build_synthetic as build
        return build(task, needle, haystack, cfg, n, seed, tokenizer, writer)
    if task == "musique":
        from synthctx.data.musique import build_synthetic_musique
        return build_synthetic_musique(needle, haystack, cfg, n, seed, tokenizer, writer)
    if task == "summhay":
        from synthctx.data.summhay import build_synthetic_summhay
        return build_synthetic_summhay(needle, haystack, cfg, n, seed, tokenizer, writer)
    raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
