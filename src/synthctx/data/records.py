"""The one record schema every task and variant uses, and how a record becomes a context.

A record holds its documents, the rendered context, and exact character spans into that context:
`answer` (the needle occurrence of the gold answer), `gold_document` (its text) and, for multi-hop and
citation tasks, `insight`. Later stages are task-agnostic because they only read these fields. Every
builder of every task makes its records through `make_record`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

DOC_SEPARATOR = "\n\n"


class DataError(ValueError):
    """A data file a job cannot use (malformed, too short); the message names the file (and line), and the
    command line prints it alone, without a traceback."""


def render_document(index: int, title: str, text: str) -> str:
    header = f"Document [{index + 1}]" + (f" (Title: {title})" if title else "")
    return f"{header} {text}"


def text_offset_in_rendered(index: int, title: str) -> int:
    return len(render_document(index, title, ""))


class Document(TypedDict):
    doc_id: str
    title: str
    text: str


class Record(TypedDict, total=False):
    """One training or test example, the same for every task and variant.

    `spans` maps a role ("answer", "gold_document", "insight") to [start, end) character offsets in
    `context`; task-specific fields (MuSiQue's `hops`, SummHay's citation labels, the source line of an
    official record) ride along beside the common ones."""

    id: str
    task: str
    split: str
    needle_realism: str
    haystack_realism: str
    seed: int
    question: str
    answers: list[str]
    documents: list[Document]
    gold_doc_ids: list[str]
    gold_position: int
    context: str
    spans: dict[str, list[list[int]]]


DocSpan = tuple[int, int, int]  # (document index, start, end) inside that document's text


@dataclass(frozen=True)
class Needle:
    """A fact put into a haystack document: `sentence` in prose haystacks, `unit` in a dictionary one,
    `answer` the text to retrieve from it (at `answer_offset` in the sentence when given, else its first
    occurrence); `container` names the dictionary a symbolic needle lives in."""

    unit: str
    sentence: str
    answer: str
    question: str = ""
    container: str | None = None
    answer_offset: int | None = None


@dataclass(frozen=True)
class RecordKey:
    """What every record of one built set shares: its task, split, realism levels and seed."""

    task: str
    split: str
    needle: str
    haystack: str
    seed: int

    def record_id(self, index: int) -> str:
        return f"{self.task}-{self.needle}-{self.haystack}-{self.split}-s{self.seed}-{index:05d}"


def make_record(
    key: RecordKey,
    index: int,
    *,
    documents: list[Document],
    question: str,
    answers: list[str],
    spans: dict[str, list[DocSpan]],
    gold_documents: list[int],
    gold_position: int,
    extra: dict[str, Any] | None = None,
) -> Record:
    """The record, with every span given per document and mapped into the rendered context; each answer
    span must hold (a part of) the first answer, so a misplaced offset fails here, not in a later stage."""
    context, context_spans = build_context_spans(documents, spans)
    for s, e in context_spans.get("answer", []):
        if not context[s:e] or context[s:e] not in answers[0]:
            raise DataError(
                f"record {key.record_id(index)}: answer span {context[s:e]!r} is not part of the answer {answers[0]!r}"
            )
    return {
        "id": key.record_id(index),
        "task": key.task,
        "split": key.split,
        "needle_realism": key.needle,
        "haystack_realism": key.haystack,
        "seed": key.seed,
        "question": question,
        "answers": answers,
        "documents": documents,
        "gold_doc_ids": [documents[i]["doc_id"] for i in gold_documents],
        "gold_position": gold_position,
        "context": context,
        "spans": context_spans,
        **(extra or {}),
    }


def single_gold_spans(documents: list[Document], gold: int, offset: int, answer: str) -> dict[str, list[DocSpan]]:
    """Spans of a one-gold-document record: the answer at `offset` in the gold document, and its whole text."""
    return {"answer": [(gold, offset, offset + len(answer))], "gold_document": [document_span(documents, gold)]}


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None


def rng_for(*parts: Any) -> random.Random:
    """A generator seeded by a readable key: data are a pure function of (config, seed)."""
    return random.Random(":".join(str(p) for p in parts))


def build_context_spans(
    documents: list[Document], doc_spans: dict[str, list[DocSpan]]
) -> tuple[str, dict[str, list[list[int]]]]:
    """Join documents and map spans given as (document index, start, end) inside a document's text
    to [start, end) in the context; every role's spans stay in the order given."""
    starts: list[int] = []
    parts: list[str] = []
    pos = 0
    for i, doc in enumerate(documents):
        rendered = render_document(i, doc["title"], doc["text"])
        starts.append(pos + text_offset_in_rendered(i, doc["title"]))
        parts.append(rendered)
        pos += len(rendered) + len(DOC_SEPARATOR)
    context = DOC_SEPARATOR.join(parts)
    spans: dict[str, list[list[int]]] = {}
    for role, items in doc_spans.items():
        spans[role] = []
        for d, s, e in items:
            if not 0 <= s < e <= len(documents[d]["text"]):
                raise DataError(f"span {role} [{s}, {e}) outside document {documents[d]['doc_id']}")
            spans[role].append([starts[d] + s, starts[d] + e])
    return context, spans


def document_span(documents: list[Document], index: int) -> DocSpan:
    """The whole text of document `index`, as a (document, start, end) span."""
    return (index, 0, len(documents[index]["text"]))


def first_records(path: Path, n: int) -> tuple[list[dict[str, Any]], int]:
    """The first n records of a file (real (limited): the real training set cut to a synthetic set's size),
    and how many the file holds."""
    records = list(read_jsonl(path))
    if len(records) < n:
        raise DataError(f"{path}: {len(records)} records, cannot keep {n}")
    return records[:n], len(records)
