"""What the rest of the study asks about a task, in one place: `TaskSpec`.

A task is one package under `synthctx/data/tasks/<name>/`: `__init__.py` defines `SPEC`, and three modules
build its data, each with a `build` function returning `Built`:
  official.py   the official release (files or hub): build(cfg, split, n, seed, tokenizer)
  embedded.py   the offline miniature of the real task: build(cfg, split, n, seed, tokenizer)
  synthetic.py  the synthetic generator: build(needle, haystack, cfg, n, seed, tokenizer, writer)
The spec module imports nothing heavy: the workflow reads it while planning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Built(NamedTuple):
    """What every builder returns: the records, and how many source items it dropped (unalignable answers
    or insights, gold documents too long to fit; 0 for builders that never drop)."""

    records: list[dict[str, Any]]
    dropped: int


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    instruction: str  # the user turn's first line, before the documents
    metric: str  # what `f1` (the headline metric) and the other metrics of `score` are
    score: Callable[[dict[str, Any], str], dict[str, float]]  # (record, prediction) -> metrics, `f1` first
    config_keys: tuple[str, ...] = ()  # the task's own keys under tasks.<name> (its block in the schema)
    # Of those, the keys only the real-data builders read (kept out of the synthetic sets' slices, so changing
    # them does not re-make synthetic data), and the keys that list files they read (declared rule inputs).
    real_data_keys: tuple[str, ...] = ()
    input_file_keys: tuple[str, ...] = ()
    has_insights: bool = False  # records carry `insight` spans: the task gets insight heads too
    writer_uses: tuple[str, ...] = ("needle", "haystack")  # what an LLM writer may write for it
    # Cross-field checks of the task's config block: (key, problem) for each violation.
    check_config: Callable[[dict[str, Any]], list[tuple[str, str]]] = field(default=lambda cfg: [])
