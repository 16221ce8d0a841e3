"""MuSiQue (multi-hop QA): a bridge entity found in one passage leads to the answer in another. The earlier
hops' answers are insight spans, so the task gets insight heads beside retrieval heads."""

from __future__ import annotations

import re
from typing import Any

from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.tasks.spec import TaskSpec
from synthctx.evaluation.metrics import citation_prf, max_token_f1, substring_exact_match

HOP_COUNTS = (2, 3)
_DOCUMENT_CITATION = re.compile(r"Document\s*\[?\s*(\d+)\s*\]?", re.IGNORECASE)


def cited_documents(text: str) -> list[str]:
    """1-based document numbers cited as "Document [i]" (how the context numbers its documents)."""
    return list(dict.fromkeys(m.group(1).lstrip("0") or "0" for m in _DOCUMENT_CITATION.finditer(text)))


def score(record: dict[str, Any], text: str) -> dict[str, float]:
    """Answer F1 and substring EM over answer + aliases; support F1 only for predictions that cite documents."""
    out = {"f1": max_token_f1(text, record["answers"]), "substring_em": substring_exact_match(text, record["answers"])}
    cited = cited_documents(text)
    if cited:
        gold = [str(i + 1) for i, d in enumerate(record["documents"]) if d["doc_id"] in record["gold_doc_ids"]]
        out["support_f1"] = citation_prf(cited, gold)["f1"]
    return out


SPEC = TaskSpec(
    name="musique",
    description="multi-hop QA: a bridge entity found in one passage leads to the answer in another",
    instruction=ANSWER_INSTRUCTION,
    metric="answer token F1 (SQuAD normalisation), max over answer + aliases; substring exact match; "
    "support F1 over the documents cited as 'Document [i]' when a prediction cites any",
    score=score,
    config_keys=("hops",),
    has_insights=True,
)
