"""The one record schema every task and variant uses, and how a record becomes a context.

A record holds its documents, the rendered context, and exact character spans into that context:
`answer` (the needle occurrence of the gold answer), `gold_document` (its text) and, for multi-hop and
citation tasks, `insight`. Later stages are task-agnostic because they only read these fields.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Iterable, Iterator

DOC_SEPARATOR = "\n\n"


def render_document(index: int, title: str, text: str) -> str:
    header = f"Document [{index + 1}]" + (f" (Title: {title})" if title else "")
    return f"{header} {text}"


def text_offset_in_rendered(index: int, title: str) -> int:
    return len(render_document(index, title, ""))


def make_record(*, task: str, split: str, needle: str, haystack: str, seed: int, index: int,
                documents: list[dict[str, Any]], gold_index: int, question: str, answers: list[str],
                answer_start: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = answers[0]
    if documents[gold_index]["text"][answer_start:answer_start + len(answer)] != answer:
        raise ValueError(f"answer {answer!r} not at offset {answer_start} of gold document {documents[gold_index]['doc_id']}")
    context, spans = build_context_spans(documents, {
        "answer": [(gold_index, answer_start, answer_start + len(answer))],
        "gold_document": [document_span(documents, gold_index)]})
    return {
        "id": f"{task}-{needle}-{haystack}-{split}-s{seed}-{index:05d}",
        "task": task,
        "split": split,
        "needle_realism": needle,
        "haystack_realism": haystack,
        "seed": seed,
        "question": question,
        "answers": answers,
        "documents": documents,
        "gold_doc_ids": [documents[gold_index]["doc_id"]],
        "gold_position": gold_index,
        "context": context,
        "spans": spans,
        **(extra or {}),
    }


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write sorted-key JSON lines under a temporary name, then rename: no partial file survives a kill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None


def rng_for(*parts: Any) -> random.Random:
    """A generator seeded by a readable key: data are a pure function of (config, seed)."""
    return random.Random(":".join(str(p) for p in parts))


def build_context_spans(documents: list[dict[str, Any]],
                        doc_spans: dict[str, list[tuple[int, int, int]]]) -> tuple[str, dict[str, list[list[int]]]]:
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
                raise ValueError(f"span {role} [{s}, {e}) outside document {documents[d]['doc_id']}")
            spans[role].append([starts[d] + s, starts[d] + e])
    return context, spans


def document_span(documents: list[dict[str, Any]], index: int) -> tuple[int, int, int]:
    """The whole text of document `index`, as a (document, start, end) span."""
    return (index, 0, len(documents[index]["text"]))
