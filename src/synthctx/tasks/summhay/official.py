"""Real SummHay Citation from the official topic JSON files (Laban et al. 2024) or a hub copy: every
(haystack, insight) pair whose gold documents fit, the insight aligned to a sentence of each gold document.
Every topic is checked (JSON schema, then ids and references) before any record is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.length_fitting import LengthFitter
from synthctx.data.sources import NONEMPTY_STRING, RecordError, check_schema, fail, hub_rows
from synthctx.records import RecordKey, rng_for
from synthctx.tasks.summhay.citations import (
    CITATION_QUESTION,
    align_insight,
    body_offset,
    citation_record,
    fit_with_golds,
    gold_prompt_tokens,
    label_of,
    labelled_document,
    place_golds,
)

ID = {"anyOf": [NONEMPTY_STRING, {"type": "integer"}], "description": "a non-empty string or an integer"}
TOPIC_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["subtopics", "documents"],
        "properties": {
            "subtopics": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["insights"],
                    "properties": {
                        "insights": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["insight_id", "insight"],
                                "properties": {"insight_id": ID, "insight": NONEMPTY_STRING},
                            },
                        }
                    },
                },
            },
            "documents": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["document_id", "document_text", "insights_included"],
                    "properties": {
                        "document_id": ID,
                        "document_text": NONEMPTY_STRING,
                        "insights_included": {"type": "array", "items": ID},
                    },
                },
            },
        },
    }
)


def iter_topics(source: dict[str, Any], split: str) -> Iterator[tuple[str, Any]]:
    """(origin, raw topic) from one topic JSON file, a folder of them (sorted), or a hub data set."""
    if source["kind"] == "files":
        path = Path(source[split])
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if not files:
            raise RecordError(f"{path}: no topic JSON files in this folder")
        for f in files:
            try:
                yield str(f), json.loads(f.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise RecordError(f"{f}: not valid JSON ({err.msg}, line {err.lineno})") from None
    else:
        for origin, row, topic in hub_rows(source, split):
            yield f"{origin} row {row - 1}", topic


def check_topic(origin: str, topic: Any) -> None:
    """The schema, then what it cannot say: unique ids, and documents that include only this topic's insights."""
    check_schema(origin, topic, TOPIC_SCHEMA)

    def unique_ids(values: list[tuple[str, Any]], kind: str) -> set[str]:
        seen: set[str] = set()
        for field, value in values:
            if str(value) in seen:
                raise fail(origin, field, f"duplicate {kind} id {value!r}")
            seen.add(str(value))
        return seen

    insight_ids = unique_ids(
        [
            (f"subtopics[{i}].insights[{j}].insight_id", ins["insight_id"])
            for i, sub in enumerate(topic["subtopics"])
            for j, ins in enumerate(sub["insights"])
        ],
        "insight",
    )
    unique_ids(
        [(f"documents[{i}].document_id", d["document_id"]) for i, d in enumerate(topic["documents"])], "document"
    )
    for i, doc in enumerate(topic["documents"]):
        for j, insight_id in enumerate(doc["insights_included"]):
            if str(insight_id) not in insight_ids:
                raise fail(
                    origin,
                    f"documents[{i}].insights_included[{j}]",
                    f"{insight_id!r} is not an insight_id of this topic",
                )


def topic_labels(document_ids: list[Any]) -> list[str]:
    """Stable labels from document ids: "D<id>" when every id is a number, otherwise "D<rank>" of the id
    among the topic's sorted ids (official ids are 24-digit hex ObjectIds)."""
    ids = [str(d).strip() for d in document_ids]
    if all(i.isdigit() for i in ids) and len({int(i) for i in ids}) == len(ids):
        return [f"D{int(i)}" for i in ids]
    rank = {d: r for r, d in enumerate(sorted(ids), 1)}
    return [f"D{rank[i]}" for i in ids]


@dataclass(frozen=True)
class CitationItem:
    """One (haystack, insight) pair with its gold documents and their aligned insight sentences."""

    origin: str
    topic: int
    insight_id: str
    insight: str
    golds: tuple[int, ...]  # indices into the topic's documents
    alignments: tuple[tuple[int, int, float], ...]  # per gold: sentence [start, end) in its body, recall


def citation_items(
    origin: str, t: int, topic: dict[str, Any], threshold: float, on_unalignable: str
) -> tuple[list[CitationItem], int]:
    """Every insight some document includes, with its alignments; and the number dropped as unalignable."""
    items: list[CitationItem] = []
    dropped = 0
    documents = topic["documents"]
    for i, sub in enumerate(topic["subtopics"]):
        for j, ins in enumerate(sub["insights"]):
            insight_id = str(ins["insight_id"])
            golds = tuple(
                d for d, doc in enumerate(documents) if insight_id in {str(x) for x in doc["insights_included"]}
            )
            if not golds:
                continue
            path = f"subtopics[{i}].insights[{j}].insight"
            alignments = tuple(align_insight(documents[d]["document_text"].strip(), ins["insight"]) for d in golds)
            worst = min(range(len(golds)), key=lambda g: alignments[g][2])
            if alignments[worst][2] < threshold:
                if on_unalignable == "error":
                    raise RecordError(
                        f"{origin}: field '{path}': no sentence of documents[{golds[worst]}] (document_id "
                        f"{documents[golds[worst]]['document_id']!r}) paraphrases the insight (best recall of its "
                        f"content words {alignments[worst][2]:.2f} < {threshold}); set on_unalignable: drop to "
                        f"skip and count such insights"
                    )
                dropped += 1
                continue
            items.append(CitationItem(origin, t, insight_id, ins["insight"], golds, alignments))
    return items, dropped


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official SummHay topics (every gold document kept, non-gold ones cut to fit
    `target_tokens`), and how many (haystack, insight) items were dropped: unalignable insights when
    on_unalignable is "drop", plus items whose gold documents alone exceed target_tokens or max_documents."""
    source = cfg["source"]
    topics = list(iter_topics(source, split))
    for origin, topic in topics:  # every topic is checked before any record is built
        check_topic(origin, topic)
    threshold = cfg["min_insight_recall"]
    fitter = LengthFitter(tokenizer)
    all_docs: list[list[dict[str, Any]]] = []
    items: list[CitationItem] = []
    dropped = 0
    for t, (origin, topic) in enumerate(topics):
        labels = topic_labels([d["document_id"] for d in topic["documents"]])
        all_docs.append(
            [
                labelled_document(f"{origin}:{d['document_id']}", "", label, d["document_text"].strip())
                for d, label in zip(topic["documents"], labels)
            ]
        )
        found, n_dropped = citation_items(origin, t, topic, threshold, source["on_unalignable"])
        dropped += n_dropped
        for item in found:  # decided before sampling, so `dropped` does not depend on the seed
            golds = [all_docs[t][g] for g in item.golds]
            question = CITATION_QUESTION.format(insight=item.insight.strip())
            if len(golds) > cfg["max_documents"] or gold_prompt_tokens(fitter, golds, question) > cfg["target_tokens"]:
                dropped += 1
            else:
                items.append(item)
    rng = rng_for("summhay", "real-files", split, seed)
    key = RecordKey("summhay", split, "real", "real", seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    records: list[dict[str, Any]] = []
    for idx in order:
        if len(records) >= n_examples:
            break
        item = items[idx]
        docs = all_docs[item.topic]
        question = CITATION_QUESTION.format(insight=item.insight.strip())
        others = [d for k, d in enumerate(docs) if k not in item.golds]
        rng.shuffle(others)
        golds = [docs[g] for g in item.golds]
        chosen = fit_with_golds(fitter, golds, others, question, cfg["target_tokens"], cfg["max_documents"])
        assert chosen is not None, "items whose gold documents do not fit were dropped above"
        documents, positions = place_golds(golds, chosen[len(golds) :], cfg["gold_position"], rng)
        shifts = [body_offset(label_of(documents[p])) for p in positions]
        insight_spans = [(p, shift + s, shift + e) for p, shift, (s, e, _) in zip(positions, shifts, item.alignments)]
        records.append(
            citation_record(
                key,
                len(records),
                documents=documents,
                gold_positions=positions,
                question=question,
                insight_spans=insight_spans,
                extra={
                    "target_tokens": cfg["target_tokens"],
                    "source": item.origin,
                    "insight_id": item.insight_id,
                    "insight_recall": [round(a[2], 4) for a in item.alignments],
                },
            )
        )
    if len(records) < n_examples:
        raise RecordError(
            f"real SummHay {split}: only {len(records)} of {n_examples} usable (haystack, insight) "
            f"items in the source ({dropped} dropped as unalignable or longer than target_tokens)"
        )
    return records, dropped
