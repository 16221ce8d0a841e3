"""A MuSiQue record from its documents: the last hop's document placed by the position rule, spans given
per document id (answer in the last hop, insights = earlier hops' answers, every supporting document)."""

from __future__ import annotations

import random
from typing import Any

from synthctx.data.length_fitting import place_gold
from synthctx.data.records import Record, RecordKey, document_span, make_record


def assemble(
    key: RecordKey,
    index: int,
    *,
    gold: dict[str, Any],
    others: list[dict[str, Any]],
    gold_rule: str | int,
    rng: random.Random,
    question: str,
    answers: list[str],
    answer_at: tuple[str, int],
    insights: list[tuple[str, int, int]],
    supporting_ids: list[str],
    hops: list[dict[str, Any]],
    extra: dict[str, Any],
) -> Record:
    """`answer_at` is (doc_id, offset) of answers[0]; `insights` are (doc_id, start, end)."""
    documents, g = place_gold([gold] + others, gold_rule, rng)
    pos = {d["doc_id"]: i for i, d in enumerate(documents)}
    doc_id, offset = answer_at
    spans = {
        "answer": [(pos[doc_id], offset, offset + len(answers[0]))],
        "insight": [(pos[d], s, e) for d, s, e in insights],
        "gold_document": [document_span(documents, pos[d]) for d in supporting_ids],
    }
    return make_record(
        key,
        index,
        documents=documents,
        question=question,
        answers=answers,
        spans=spans,
        gold_documents=[pos[d] for d in supporting_ids],
        gold_position=g,
        extra={"hops": hops, **extra},
    )
