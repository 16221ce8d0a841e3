"""MDQA (multi-document QA, Liu et al. "Lost in the Middle"): one gold passage among distractors, a short
answer copied from it."""

from __future__ import annotations

from typing import Any

from synthctx.metrics import max_token_f1, substring_exact_match
from synthctx.prompting import ANSWER_INSTRUCTION
from synthctx.tasks.spec import TaskSpec


def score(record: dict[str, Any], text: str) -> dict[str, float]:
    return {"f1": max_token_f1(text, record["answers"]), "substring_em": substring_exact_match(text, record["answers"])}


SPEC = TaskSpec(
    name="mdqa",
    description="multi-document QA: one gold passage among distractors, a short answer",
    instruction=ANSWER_INSTRUCTION,
    metric="token F1 (SQuAD normalisation), max over gold answers; substring exact match",
    score=score,
)
