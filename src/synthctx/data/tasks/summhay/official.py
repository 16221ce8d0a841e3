"""Real SummHay Citation from the official topic JSON files (Laban et al. 2024) or the hub copy.

Items: every insight some document of a topic includes is one question; its gold documents are the
documents that include it. In each gold document the insight is aligned to the sentence, or window of up
to three consecutive sentences, that best paraphrases it (`citations.align_insight`: recall of the
insight's content words, lightly normalised); the span is exact, in characters of the document's text.
An insight whose alignment in some gold document stays below `min_insight_recall` is unalignable: an
error, or dropped and counted with `on_unalignable: drop`. An insight whose gold documents alone exceed
`target_tokens` or `max_documents` is dropped and counted too. One line per topic on stdout says how many
of its cited insights aligned and how many fit.

Haystacks: each usable insight gives up to `haystacks_per_insight` records, each with its own seeded random
subset of the topic's other documents (all gold documents kept, the others added in a random order while
they fit `target_tokens` and `max_documents`). The haystacks of one insight differ in their document set
(when the whole topic fits there is only one); a record names its subset in `haystack_document_ids`, in
prompt order, and its number among the insight's haystacks in `haystack`.

Train and test are cuts of whole topics, never of one topic's insights (the release has 10 topics, the hub
copy one `train` split):
- `test_topics: null`: train reads `real_data.train`, test reads `real_data.test`; the two may share no
  topic (same topic_id, or the same content), else both places are named and nothing is built;
- `test_topics: [names]`: train and test point at the same source (folder, file or hub split); the named
  topics (file name, file name without ".json", topic_id, or "row N" of a hub split) are the test split,
  all others the training split; copies of a named topic (same topic_id or content) go with it;
- `test_topics: <share in (0, 1)>`: the same cut, the test topics being round(share x topics) of them
  picked by a stable hash of the topic id (of the content, for a topic without one).

Every topic is checked (JSON schema, then ids, references and labels) before any record is built.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.records import RecordKey, rng_for
from synthctx.data.sources import NONEMPTY_STRING, RecordError, as_rows, check_schema, fail, hub_rows, read_json
from synthctx.data.tasks.summhay.citations import (
    CITATION_QUESTION,
    MAX_WINDOW,
    Alignment,
    CachedFitter,
    align_insight,
    body_offset,
    citation_record,
    fit_and_place,
    label_of,
    labelled_document,
    prompt_tokens,
)

ID = {"anyOf": [NONEMPTY_STRING, {"type": "integer"}], "description": "a non-empty string or an integer"}
TOPIC_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["subtopics", "documents"],
        "properties": {
            "topic_id": ID,
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
# Redraws of one haystack whose document set an earlier haystack of the same insight already has.
HAYSTACK_ATTEMPTS = 10


@dataclass(frozen=True)
class Topic:
    """One checked topic: where it came from, its content, and what identifies it across sources."""

    origin: str  # the file, or "<hub id>[<split>] row <n>"
    raw: dict[str, Any]
    digest: str  # sha256 of the topic's canonical JSON

    @property
    def topic_id(self) -> str | None:
        value = self.raw.get("topic_id")
        return None if value is None else str(value)

    @property
    def key(self) -> str:
        """The topic's identity: its topic_id, or its content when it has none."""
        return f"id:{self.topic_id}" if self.topic_id is not None else f"sha256:{self.digest}"

    def names(self) -> set[str]:
        """What `test_topics` may call it."""
        names = {self.topic_id} if self.topic_id is not None else set()
        if " row " in self.origin:
            return names | {"row " + self.origin.rsplit(" row ", 1)[1]}
        return names | {Path(self.origin).name, Path(self.origin).stem}

    def same_as(self, other: Topic) -> bool:
        return self.key == other.key or self.digest == other.digest


def iter_topics(source: dict[str, Any], split: str) -> Iterator[tuple[str, Any]]:
    """(origin, raw topic) from one topic JSON file, a folder of them (sorted), or a hub data set."""
    if source["kind"] == "files":
        path = Path(source[split])
        files = sorted([*path.glob("*.json"), *path.glob("*.json.gz")]) if path.is_dir() else [path]
        if not files:
            raise RecordError(f"{path}: no topic JSON files in this folder")
        for f in files:
            if not f.exists():
                raise RecordError(f"{f}: no such file or folder (real_data.{split})")
            yield str(f), read_json(f)
    else:
        for origin, row, topic in hub_rows(source, split):
            yield f"{origin} row {row - 1}", topic


def as_topic_rows(topic: Any) -> Any:
    """A hub row may hold its lists of records as dicts of columns; turn them back into rows."""
    if not isinstance(topic, dict):
        return topic
    topic = {**topic, "subtopics": as_rows(topic.get("subtopics")), "documents": as_rows(topic.get("documents"))}
    if isinstance(topic["subtopics"], list):
        topic["subtopics"] = [
            {**s, "insights": as_rows(s.get("insights"))} if isinstance(s, dict) else s for s in topic["subtopics"]
        ]
    return topic


def check_topic(origin: str, topic: Any) -> None:
    """The schema, then what it cannot say: unique ids, documents that include only this topic's insights,
    and `label_<insight id>` keys (where a document has them) that agree with its insights_included."""
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
        included = {str(x) for x in doc["insights_included"]}
        for j, insight_id in enumerate(doc["insights_included"]):
            if str(insight_id) not in insight_ids:
                raise fail(
                    origin,
                    f"documents[{i}].insights_included[{j}]",
                    f"{insight_id!r} is not an insight_id of this topic",
                )
        for insight_id in sorted(insight_ids):
            label = doc.get(f"label_{insight_id}")
            if label is not None and bool(label) != (insight_id in included):
                raise fail(
                    origin,
                    f"documents[{i}].label_{insight_id}",
                    f"{label!r} disagrees with insights_included, which "
                    f"{'lists' if insight_id in included else 'does not list'} {insight_id!r}",
                )


def read_topics(source: dict[str, Any], split: str) -> list[Topic]:
    """Every topic of the split's source, each checked."""
    topics = []
    for origin, raw in iter_topics(source, split):
        raw = as_topic_rows(raw)
        check_topic(origin, raw)
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        topics.append(Topic(origin, raw, digest))
    return topics


def same_source(source: dict[str, Any]) -> bool:
    """Whether real_data's train and test read the same topics (one file, folder or hub split)."""
    if source["kind"] == "files":
        return Path(source["train"]).resolve() == Path(source["test"]).resolve()
    return source["train_split"] == source["test_split"]


def cut_topics(pool: list[Topic], test_topics: list[str] | float, where: str) -> set[str]:
    """The keys of the test topics of `pool`: the named ones, or a stable-hash share."""
    if isinstance(test_topics, list):
        chosen: set[str] = set()
        for name in test_topics:
            hits = {t.key for t in pool if name in t.names()}
            if not hits:
                known = ", ".join(sorted({min(t.names(), key=lambda n: (len(n), n)) for t in pool}))
                raise RecordError(
                    f"tasks.summhay.test_topics: {name!r} names no topic of {where} (its topics: {known})"
                )
            chosen |= hits
        return chosen
    keys = sorted({t.key for t in pool}, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    if len(keys) < 2:
        raise RecordError(f"tasks.summhay.test_topics: {where} has {len(keys)} topic(s); a share needs two or more")
    n_test = min(len(keys) - 1, max(1, round(test_topics * len(keys))))
    return set(keys[:n_test])


def topics_of_split(cfg: dict[str, Any], split: str) -> list[Topic]:
    """The split's topics, with train and test never sharing one (see the module docstring)."""
    source, test_topics = cfg["source"], cfg["test_topics"]
    other = "train" if split == "test" else "test"
    if source["kind"] == "files":
        where, paths = source["test"], (source["train"], source["test"])
    else:
        where, paths = f"{source['hub_id']}[{source['test_split']}]", (source["train_split"], source["test_split"])
    if test_topics is None:
        if same_source(source):
            raise RecordError(
                f"real SummHay: real_data.train and real_data.test both read {where}, so every topic would be "
                f"in both splits: cut its topics with tasks.summhay.test_topics (names or a share), or point "
                f"train and test at separate topics"
            )
        own, theirs = read_topics(source, split), read_topics(source, other)
        for a in own:
            for b in theirs:
                if a.same_as(b):
                    why = "the same topic_id" if a.key == b.key else "the same content"
                    raise RecordError(
                        f"real SummHay: {a.origin} ({split}) and {b.origin} ({other}) are one topic ({why}): "
                        f"a topic may not be in both splits; point real_data.train and real_data.test at "
                        f"separate topics, or cut one source with tasks.summhay.test_topics"
                    )
        return own
    if not same_source(source):
        raise RecordError(
            f"tasks.summhay.test_topics cuts one source into train and test, but real_data.train ({paths[0]}) "
            f"and real_data.test ({paths[1]}) differ: point both at the same topics, or set test_topics: null"
        )
    pool = read_topics(source, split)
    test_keys = cut_topics(pool, test_topics, where)
    topics = [t for t in pool if (t.key in test_keys) == (split == "test")]
    if not topics:
        raise RecordError(f"real SummHay {split}: tasks.summhay.test_topics leaves no topic of {where} for {split}")
    return topics


def topic_labels(document_ids: list[Any]) -> list[str]:
    """Stable labels from document ids: "D<id>" when every id is a number, otherwise "D<rank>" of the id
    among the topic's sorted ids (official ids are 24-character base62 strings)."""
    ids = [str(d).strip() for d in document_ids]
    if all(i.isdigit() for i in ids) and len({int(i) for i in ids}) == len(ids):
        return [f"D{int(i)}" for i in ids]
    rank = {d: r for r, d in enumerate(sorted(ids), 1)}
    return [f"D{rank[i]}" for i in ids]


@dataclass(frozen=True)
class CitationItem:
    """One insight with its gold documents and their aligned insight spans."""

    origin: str
    topic: int  # index into the split's topics
    topic_key: str
    insight_id: str
    insight: str
    golds: tuple[int, ...]  # indices into the topic's documents
    alignments: tuple[Alignment, ...]  # per gold: span [start, end) in its text, recall, sentences


def citation_items(topic: Topic, t: int, threshold: float, on_unalignable: str) -> tuple[list[CitationItem], int, int]:
    """Every insight some document includes whose alignments all reach `threshold`; the number of cited
    insights; and the number dropped as unalignable."""
    items: list[CitationItem] = []
    cited = dropped = 0
    documents = topic.raw["documents"]
    for i, sub in enumerate(topic.raw["subtopics"]):
        for j, ins in enumerate(sub["insights"]):
            insight_id = str(ins["insight_id"])
            golds = tuple(
                d for d, doc in enumerate(documents) if insight_id in {str(x) for x in doc["insights_included"]}
            )
            if not golds:
                continue
            cited += 1
            path = f"subtopics[{i}].insights[{j}].insight"
            alignments = tuple(align_insight(documents[d]["document_text"].strip(), ins["insight"]) for d in golds)
            worst = min(range(len(golds)), key=lambda g: alignments[g].recall)
            if alignments[worst].recall < threshold:
                if on_unalignable == "error":
                    raise RecordError(
                        f"{topic.origin}: field '{path}': no sentence or window of up to {MAX_WINDOW} sentences "
                        f"of documents[{golds[worst]}] (document_id {documents[golds[worst]]['document_id']!r}) "
                        f"paraphrases the insight (best recall of its content words {alignments[worst].recall:.2f} "
                        f"< min_insight_recall {threshold}); set on_unalignable: drop to skip and count such insights"
                    )
                dropped += 1
                continue
            items.append(CitationItem(topic.origin, t, topic.key, insight_id, ins["insight"], golds, alignments))
    return items, cited, dropped


@dataclass(frozen=True)
class Haystack:
    """One haystack of an item: its documents in prompt order, where its gold documents are (in the item's
    order) and which other documents of the topic it holds."""

    documents: list[dict[str, Any]]
    positions: list[int]
    others: tuple[int, ...]  # indices of the chosen non-gold documents in the topic


def _fitting_items(
    topics: list[Topic], cfg: dict[str, Any], split: str, fitter: CachedFitter
) -> tuple[list[list[dict[str, Any]]], list[CitationItem], int]:
    """Each topic's labelled documents, the insights whose gold documents fit the prompt, and how many
    were dropped (unalignable, or their gold documents alone too long); reports each topic's counts."""
    threshold, per_insight = cfg["min_insight_recall"], cfg["haystacks_per_insight"]
    target, max_documents = cfg["target_tokens"], cfg["max_documents"]
    all_docs: list[list[dict[str, Any]]] = []
    items: list[CitationItem] = []
    dropped = 0
    for t, topic in enumerate(topics):
        documents = topic.raw["documents"]
        labels = topic_labels([d["document_id"] for d in documents])
        all_docs.append(
            [
                labelled_document(f"{topic.origin}:{d['document_id']}", "", label, d["document_text"].strip())
                for d, label in zip(documents, labels)
            ]
        )
        found, cited, unaligned = citation_items(topic, t, threshold, cfg["source"]["on_unalignable"])
        fitting = 0
        for item in found:  # decided before sampling, so `dropped` does not depend on the seed
            golds = [all_docs[t][g] for g in item.golds]
            question = CITATION_QUESTION.format(insight=item.insight.strip())
            if len(golds) > max_documents or prompt_tokens(fitter, golds, question) > target:
                dropped += 1
            else:
                items.append(item)
                fitting += 1
        dropped += unaligned
        print(
            f"summhay {split}: {topic.origin}: {cited - unaligned} of {cited} cited insights aligned "
            f"({(cited - unaligned) / max(1, cited):.0%}, min_insight_recall {threshold}), {fitting} fit "
            f"target_tokens={target}: up to {fitting * per_insight} haystacks ({per_insight} per insight)",
            flush=True,
        )
    return all_docs, items, dropped


def _item_haystacks(
    item: CitationItem, docs: list[dict[str, Any]], cfg: dict[str, Any], split: str, seed: int, fitter: CachedFitter
) -> list[Haystack | None]:
    """The item's haystacks, each a pure function of (split, seed, topic, insight, its number); None where
    no document set new for the insight turned up."""
    golds = [docs[g] for g in item.golds]
    rest = [d for d in range(len(docs)) if d not in item.golds]
    question = CITATION_QUESTION.format(insight=item.insight.strip())
    target, max_documents, rule = cfg["target_tokens"], cfg["max_documents"], cfg["gold_position"]
    seen: set[frozenset[int]] = set()
    out: list[Haystack | None] = []
    for j in range(cfg["haystacks_per_insight"]):
        found: Haystack | None = None
        for attempt in range(HAYSTACK_ATTEMPTS):
            rng = rng_for("summhay", "real-files", split, seed, item.topic_key, item.insight_id, j, attempt)
            order = list(rest)
            rng.shuffle(order)
            placed = fit_and_place(fitter, golds, [docs[d] for d in order], question, target, max_documents, rule, rng)
            assert placed is not None, "items whose gold documents do not fit were dropped above"
            others = tuple(order[: len(placed[0]) - len(golds)])
            if frozenset(others) not in seen:
                seen.add(frozenset(others))
                found = Haystack(*placed, others)
                break
            if len(others) == len(rest):  # the whole topic fits: no other document set exists
                break
        out.append(found)
    return out


def _item_record(
    key: RecordKey, index: int, item: CitationItem, haystack: Haystack, j: int, topic_id: str, target: int
) -> dict[str, Any]:
    """The record of one insight in its j-th haystack, its insight spans in the gold documents' bodies."""
    documents, positions = haystack.documents, haystack.positions
    shifts = [body_offset(label_of(documents[p])) for p in positions]
    insight_spans = [(p, shift + a.start, shift + a.end) for p, shift, a in zip(positions, shifts, item.alignments)]
    return citation_record(
        key,
        index,
        documents=documents,
        gold_positions=positions,
        question=CITATION_QUESTION.format(insight=item.insight.strip()),
        insight_spans=insight_spans,
        extra={
            "target_tokens": target,
            "source": item.origin,
            "topic_id": topic_id,
            "insight_id": item.insight_id,
            "insight_recall": [round(a.recall, 4) for a in item.alignments],
            "insight_sentences": [a.sentences for a in item.alignments],
            "haystack": j,
            "haystack_document_ids": [d["doc_id"][len(item.origin) + 1 :] for d in documents],
        },
    )


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official SummHay topics (every gold document kept, other documents of the topic drawn
    to fit `target_tokens`, up to `haystacks_per_insight` haystacks per insight), and how many insights
    were dropped: unalignable ones when on_unalignable is "drop", plus those whose gold documents alone
    exceed target_tokens or max_documents."""
    topics = topics_of_split(cfg, split)  # every topic is read and checked before any record is built
    per_insight, target, max_documents = cfg["haystacks_per_insight"], cfg["target_tokens"], cfg["max_documents"]
    fitter = CachedFitter(tokenizer)
    all_docs, items, dropped = _fitting_items(topics, cfg, split, fitter)
    haystacks: dict[int, list[Haystack | None]] = {}

    def haystacks_of(k: int) -> list[Haystack | None]:
        if k not in haystacks:
            haystacks[k] = _item_haystacks(items[k], all_docs[items[k].topic], cfg, split, seed, fitter)
        return haystacks[k]

    candidates = [(k, j) for k in range(len(items)) for j in range(per_insight)]
    rng_for("summhay", "real-files", split, seed).shuffle(candidates)
    key = RecordKey("summhay", split, "real", "real", seed)
    records: list[dict[str, Any]] = []
    for k, j in candidates:
        if len(records) >= n_examples:
            break
        haystack = haystacks_of(k)[j]
        if haystack is not None:
            topic_id = topics[items[k].topic].topic_id
            records.append(_item_record(key, len(records), items[k], haystack, j, topic_id, target))
    if len(records) < n_examples:
        usable = sum(h is not None for k in range(len(items)) for h in haystacks_of(k))
        raise RecordError(
            f"real SummHay {split}: only {usable} usable of {n_examples} asked (haystack, insight) items, from "
            f"the {len(topics)} topic(s) {', '.join(t.origin for t in topics)}: {len(items)} insights fit, with up "
            f"to {per_insight} haystacks each ({dropped} insights dropped as unalignable or longer than "
            f"target_tokens={target} / max_documents={max_documents}); raise tasks.summhay.haystacks_per_insight, "
            f"give the split more topics (tasks.summhay.test_topics) or ask for fewer"
        )
    return records, dropped
