"""What every SummHay source shares: labelled documents ("[D7] ..."), insight alignment to sentences,
fitting a haystack round several gold documents, and the citation record."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from synthctx.data.length_fitting import LengthFitter, gold_index
from synthctx.data.wikipedia import split_sentences
from synthctx.metrics import normalize_answer
from synthctx.prompting import count_tokens
from synthctx.records import Record, RecordKey, document_span, make_record

CITATION_QUESTION = (
    'Which documents mention the following insight? Answer with their labels, separated by commas. Insight: "{insight}"'
)
# Words that carry no content: left out when matching an insight to a document's sentences.
FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with and or but nor as is are was were be been being it its this "
    "that these those there their they he she his her we our you your i has have had do does did not".split()
)


def labelled_document(doc_id: str, title: str, label: str, body: str) -> dict[str, Any]:
    """A document whose text opens with its citation label, e.g. "[D7] ..."."""
    return {"doc_id": doc_id, "title": title, "text": f"[{label}] {body}"}


def label_of(document: dict[str, Any]) -> str:
    return document["text"][1 : document["text"].index("]")]


def body_offset(label: str) -> int:
    """Where the document's own text starts after its "[label] " prefix."""
    return len(label) + 3


def draw_labels(rng: random.Random, max_documents: int) -> list[str]:
    """Distinct labels "D<number>" for the candidates in the order the fitter sees them (it looks at one
    more than it keeps); random numbers, so a label says nothing about position or gold."""
    n = max_documents + 1
    return [f"D{i}" for i in rng.sample(range(1, 5 * n + 1), n)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of every sentence, line by line (SummHay documents have paragraph breaks)."""
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line in text.split("\n"):
        cursor = 0
        for sentence in split_sentences(line):
            at = line.index(sentence, cursor)
            spans.append((line_start + at, line_start + at + len(sentence)))
            cursor = at + len(sentence)
        line_start += len(line) + 1
    return spans


def content_tokens(text: str) -> list[str]:
    return [t for t in normalize_answer(text).split() if t not in FUNCTION_WORDS]


def align_insight(text: str, insight: str) -> tuple[int, int, float]:
    """The sentence of `text` that best paraphrases `insight`: (start, end, recall of the insight's content
    words in it); ties go to the more precise, then the earlier sentence."""
    wanted = Counter(content_tokens(insight))
    best: tuple[float, float, int, int] = (-1.0, -1.0, 0, 0)
    for s, e in sentence_spans(text):
        have = Counter(content_tokens(text[s:e]))
        common = sum((wanted & have).values())
        recall = common / max(1, sum(wanted.values()))
        precision = common / max(1, sum(have.values()))
        if (recall, precision) > best[:2]:
            best = (recall, precision, s, e)
    return best[2], best[3], max(0.0, best[0])


def gold_prompt_tokens(fitter: LengthFitter, golds: list[dict[str, Any]], question: str) -> int:
    """Prompt length with the gold documents only."""
    return (
        fitter.overhead
        + count_tokens(fitter.tokenizer, question)
        + sum(fitter.doc_tokens(d, i) for i, d in enumerate(golds))
    )


def fit_with_golds(
    fitter: LengthFitter,
    golds: list[dict[str, Any]],
    distractors: Iterable[dict[str, Any]],
    question: str,
    target_tokens: int,
    max_documents: int,
) -> list[dict[str, Any]] | None:
    """Every gold document, then distractors while the prompt stays within target_tokens; None when the
    gold documents alone do not fit."""
    if gold_prompt_tokens(fitter, golds, question) > target_tokens or len(golds) > max_documents:
        return None
    return fitter.fit(golds, distractors, question, target_tokens, max_documents)


def place_golds(
    golds: list[dict[str, Any]], distractors: list[dict[str, Any]], rule: str | int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[int]]:
    """The first gold document goes where `rule` says, gold j at n*j/k further on (wrapping round);
    returns the documents and the position of each gold, in the order given."""
    n, k = len(golds) + len(distractors), len(golds)
    first = gold_index(rule, n, rng)
    positions = [(first + j * n // k) % n for j in range(k)]
    documents: list[dict[str, Any] | None] = [None] * n
    for p, doc in zip(positions, golds):
        documents[p] = doc
    rest = iter(distractors)
    return [d if d is not None else next(rest) for d in documents], positions


def citation_record(
    key: RecordKey,
    index: int,
    *,
    documents: list[dict[str, Any]],
    gold_positions: list[int],
    question: str,
    insight_spans: list[tuple[int, int, int]],
    extra: dict[str, Any],
) -> Record:
    """The record: answer = the gold labels in document order, joined by ", " (each label is an answer
    span); `gold_position` is where the first gold document (in the order given) went."""
    golds = sorted(gold_positions)
    labels = [label_of(d) for d in documents]
    spans = {
        "answer": [(i, 1, 1 + len(labels[i])) for i in golds],
        "gold_document": [document_span(documents, i) for i in golds],
        "insight": sorted(insight_spans),
    }
    return make_record(
        key,
        index,
        documents=documents,
        question=question,
        answers=[", ".join(labels[i] for i in golds)],
        spans=spans,
        gold_documents=golds,
        gold_position=gold_positions[0],
        extra={"citation_ids": labels, "gold_citation_ids": [labels[i] for i in golds], **extra},
    )
