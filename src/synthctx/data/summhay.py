"""SummHay Citation: given a haystack and one insight, cite the documents that contain it.

Every document's text starts with its citation label ("[D7] "); the model answers with the labels of
the documents holding the insight ("D3, D12"). Spans: `answer` = each gold document's label (without
brackets), `gold_document` = each gold document's text, `insight` = the insight sentence inside each
gold document. Three sources share one record layout: the official topic JSON files (Laban et al.
2024), an embedded miniature built from offline Wikipedia text, and synthetic needles on the three
realism levels. Gold depth: `gold_position` places the first gold document; the others follow at
evenly spread positions, wrapping round the context. With an LLM writer configured, high haystacks
are written by it (see synthetic.py); insights (the needles) stay template-based, since each must be
phrased differently in every gold document and still be aligned to its statement.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from synthctx.data.assembly import LengthFitter, gold_index
from synthctx.data.llm_writer import TextWriter
from synthctx.data.mdqa_files import RecordError
from synthctx.data.real_mdqa import YEAR
from synthctx.data.synthetic import (CITIES, haystack_without, insert_needle, invented_name, render_units, symbol,
                                     variant)
from synthctx.data.wikipedia import Passage, load_passages, split_sentences, summaries_path
from synthctx.metrics import normalize_answer
from synthctx.prompting import count_tokens
from synthctx.records import build_context_spans, document_span, rng_for

TASK = "summhay"
CITATION_QUESTION = ('Which documents mention the following insight? Answer with their labels, separated by '
                     'commas. Insight: "{insight}"')
YEAR_QUESTION = "Which documents mention the year {year}? Answer with their labels, separated by commas."
MIN_INSIGHT_RECALL = 0.3  # below this share of the insight's content words, no sentence paraphrases it
# Words that carry no content: left out when matching an insight to a document's sentences.
FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with and or but nor as is are was were be been being it its this "
    "that these those there their they he she his her we our you your i has have had do does did not".split())


# ----------------------------------------------------------------------------------------------- shared

def labelled_document(doc_id: str, title: str, label: str, body: str) -> dict[str, Any]:
    """A document whose text opens with its citation label, e.g. "[D7] ..."."""
    return {"doc_id": doc_id, "title": title, "text": f"[{label}] {body}"}


def label_of(document: dict[str, Any]) -> str:
    return document["text"][1:document["text"].index("]")]


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
    return fitter.overhead + count_tokens(fitter.tokenizer, question) + \
        sum(fitter.doc_tokens(d, i) for i, d in enumerate(golds))


def fit_with_golds(fitter: LengthFitter, golds: list[dict[str, Any]], distractors: Iterable[dict[str, Any]],
                   question: str, target_tokens: int, max_documents: int) -> list[dict[str, Any]] | None:
    """Every gold document, then distractors while the prompt stays within target_tokens; None when the
    gold documents alone do not fit."""
    if gold_prompt_tokens(fitter, golds, question) > target_tokens or len(golds) > max_documents:
        return None
    return fitter.fit(golds, distractors, question, target_tokens, max_documents)


def place_golds(golds: list[dict[str, Any]], distractors: list[dict[str, Any]], rule: str | int,
                rng: random.Random) -> tuple[list[dict[str, Any]], list[int]]:
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


def citation_record(*, split: str, needle: str, haystack: str, seed: int, index: int,
                    documents: list[dict[str, Any]], gold_positions: list[int], question: str,
                    insight_spans: list[tuple[int, int, int]], extra: dict[str, Any]) -> dict[str, Any]:
    """The record (make_record's keys): answer = the gold labels in document order, joined by ", "."""
    golds = sorted(gold_positions)
    labels = [label_of(d) for d in documents]
    doc_spans = {"answer": [(i, 1, 1 + len(labels[i])) for i in golds],
                 "gold_document": [document_span(documents, i) for i in golds],
                 "insight": sorted(insight_spans)}
    context, spans = build_context_spans(documents, doc_spans)
    for (s, e), i in zip(spans["answer"], golds):
        assert context[s:e] == labels[i]
    return {
        "id": f"{TASK}-{needle}-{haystack}-{split}-s{seed}-{index:05d}",
        "task": TASK,
        "split": split,
        "needle_realism": needle,
        "haystack_realism": haystack,
        "seed": seed,
        "question": question,
        "answers": [", ".join(labels[i] for i in golds)],
        "documents": documents,
        "gold_doc_ids": [documents[i]["doc_id"] for i in golds],
        "gold_position": gold_positions[0],
        "context": context,
        "spans": spans,
        "citation_ids": labels,
        "gold_citation_ids": [labels[i] for i in golds],
        **extra,
    }


# ------------------------------------------------------------------------------------ official topic files

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
        from datasets import load_dataset

        name = source[f"{split}_split"]
        ds = load_dataset(source["hub_id"], source.get("hub_config"), split=name)
        for i, row in enumerate(ds):
            yield f"{source['hub_id']}[{name}] row {i}", dict(row)


def _is_id(v: Any) -> bool:
    return (isinstance(v, str) and v.strip() != "") or (isinstance(v, int) and not isinstance(v, bool))


def check_topic(origin: str, topic: Any) -> None:
    """Fail on the first malformed field, naming the file and its JSON path."""
    def fail(field: str, why: str) -> None:
        raise RecordError(f"{origin}: field '{field}': {why}")

    def unique_id(field: str, value: Any, seen: set[str], kind: str) -> None:
        if not _is_id(value):
            fail(field, "missing or not a non-empty string or integer")
        if str(value) in seen:
            fail(field, f"duplicate {kind} id {value!r}")
        seen.add(str(value))

    if not isinstance(topic, dict):
        fail("(top level)", "a topic must be a JSON object")
    subtopics = topic.get("subtopics")
    if not isinstance(subtopics, list) or not subtopics:
        fail("subtopics", "missing or not a non-empty list")
    insight_ids: set[str] = set()
    for i, sub in enumerate(subtopics):
        if not isinstance(sub, dict) or not isinstance(sub.get("insights"), list):
            fail(f"subtopics[{i}].insights", "missing or not a list")
        for j, ins in enumerate(sub["insights"]):
            where = f"subtopics[{i}].insights[{j}]"
            if not isinstance(ins, dict):
                fail(where, "not an object")
            unique_id(f"{where}.insight_id", ins.get("insight_id"), insight_ids, "insight")
            if not isinstance(ins.get("insight"), str) or not ins["insight"].strip():
                fail(f"{where}.insight", "missing or not a non-empty string")
    documents = topic.get("documents")
    if not isinstance(documents, list) or not documents:
        fail("documents", "missing or not a non-empty list")
    document_ids: set[str] = set()
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict):
            fail(f"documents[{i}]", "not an object")
        unique_id(f"documents[{i}].document_id", doc.get("document_id"), document_ids, "document")
        if not isinstance(doc.get("document_text"), str) or not doc["document_text"].strip():
            fail(f"documents[{i}].document_text", "missing or not a non-empty string")
        included = doc.get("insights_included")
        if not isinstance(included, list):
            fail(f"documents[{i}].insights_included", "missing or not a list of insight ids")
        for j, insight_id in enumerate(included):
            if not _is_id(insight_id) or str(insight_id) not in insight_ids:
                fail(f"documents[{i}].insights_included[{j}]", f"{insight_id!r} is not an insight_id of this topic")


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
    golds: tuple[int, ...]                    # indices into the topic's documents
    alignments: tuple[tuple[int, int, float], ...]  # per gold: sentence [start, end) in its body, recall


def citation_items(origin: str, t: int, topic: dict[str, Any], threshold: float,
                   on_unalignable: str) -> tuple[list[CitationItem], int]:
    """Every insight some document includes, with its alignments; and the number dropped as unalignable."""
    items: list[CitationItem] = []
    dropped = 0
    documents = topic["documents"]
    for i, sub in enumerate(topic["subtopics"]):
        for j, ins in enumerate(sub["insights"]):
            insight_id = str(ins["insight_id"])
            golds = tuple(d for d, doc in enumerate(documents)
                          if insight_id in {str(x) for x in doc["insights_included"]})
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
                        f"skip and count such insights")
                dropped += 1
                continue
            items.append(CitationItem(origin, t, insight_id, ins["insight"], golds, alignments))
    return items, dropped


def build_summhay_from_files(cfg: dict[str, Any], split: str, n_examples: int, seed: int,
                             tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official SummHay topics (every gold document kept, non-gold ones cut to fit
    `target_tokens`), and how many (haystack, insight) items were dropped: unalignable insights when
    on_unalignable is "drop", plus items whose gold documents alone exceed target_tokens or max_documents."""
    source = cfg["source"]
    topics = list(iter_topics(source, split))
    for origin, topic in topics:  # every topic is checked before any record is built
        check_topic(origin, topic)
    threshold = source.get("min_insight_recall", MIN_INSIGHT_RECALL)
    fitter = LengthFitter(tokenizer)
    all_docs: list[list[dict[str, Any]]] = []
    items: list[CitationItem] = []
    dropped = 0
    for t, (origin, topic) in enumerate(topics):
        labels = topic_labels([d["document_id"] for d in topic["documents"]])
        all_docs.append([labelled_document(f"{origin}:{d['document_id']}", "", label, d["document_text"].strip())
                         for d, label in zip(topic["documents"], labels)])
        found, n_dropped = citation_items(origin, t, topic, threshold, source["on_unalignable"])
        dropped += n_dropped
        for item in found:  # decided before sampling, so `dropped` does not depend on the seed
            golds = [all_docs[t][g] for g in item.golds]
            question = CITATION_QUESTION.format(insight=item.insight.strip())
            if len(golds) > cfg["max_documents"] or gold_prompt_tokens(fitter, golds, question) > cfg["target_tokens"]:
                dropped += 1
            else:
                items.append(item)
    rng = rng_for(TASK, "real-files", split, seed)
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
        documents, positions = place_golds(golds, chosen[len(golds):], cfg["gold_position"], rng)
        shifts = [body_offset(label_of(documents[p])) for p in positions]
        insight_spans = [(p, shift + s, shift + e) for p, shift, (s, e, _) in zip(positions, shifts, item.alignments)]
        records.append(citation_record(
            split=split, needle="real", haystack="real", seed=seed, index=len(records), documents=documents,
            gold_positions=positions, question=question, insight_spans=insight_spans,
            extra={"target_tokens": cfg["target_tokens"], "source": item.origin, "insight_id": item.insight_id,
                   "insight_recall": [round(a[2], 4) for a in item.alignments]}))
    if len(records) < n_examples:
        raise RecordError(f"real SummHay {split}: only {len(records)} of {n_examples} usable (haystack, insight) "
                          f"items in the source ({dropped} dropped as unalignable or longer than target_tokens)")
    return records, dropped


# ------------------------------------------------------------------------------- embedded real miniature

def single_years(text: str) -> list[str]:
    """Years the passage mentions exactly once (not as part of "1990s" or a longer number)."""
    found = {m.group(1) for m in YEAR.finditer(text) if not text[m.end():m.end() + 1].isalpha()}
    return sorted(y for y in found if text.count(y) == 1)


def year_holders(pool: tuple[Passage, ...]) -> dict[str, list[int]]:
    holders: dict[str, list[int]] = {}
    for i, p in enumerate(pool):
        for year in single_years(p.text):
            if year in p.title:  # the rendered title would mention it a second time
                continue
            holders.setdefault(year, []).append(i)
    return holders


def year_distractors(pool: tuple[Passage, ...], year: str, labels: list[str],
                     rng: random.Random) -> Iterator[dict[str, Any]]:
    """Passages of the pool, shuffled, whose title and text do not contain the year, labelled in turn."""
    order = list(range(len(pool)))
    rng.shuffle(order)
    for n, i in enumerate(i for i in order if year not in pool[i].text and year not in pool[i].title):
        yield labelled_document(f"wiki:{pool[i].title}", pool[i].title, labels[n], pool[i].text)


def build_real_summhay(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> list[dict[str, Any]]:
    """Embedded real split: 2-3 passages of the pool each mention a year once; cite them. Distractors never
    contain the year; the insight span is the sentence holding it. A pure function of its inputs."""
    pool = load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])[f"real_{split}"]
    if cfg["max_gold"] > cfg["max_documents"]:
        raise ValueError(f"max_gold={cfg['max_gold']} exceeds max_documents={cfg['max_documents']}")
    holders = year_holders(pool)
    years = sorted(y for y, h in holders.items() if len(h) >= cfg["min_gold"])
    rng = rng_for(TASK, "real", split, seed)
    rng.shuffle(years)
    fitter = LengthFitter(tokenizer)
    records: list[dict[str, Any]] = []
    for year in years:
        if len(records) >= n_examples:
            break
        k = rng.randint(cfg["min_gold"], min(cfg["max_gold"], len(holders[year])))
        chosen_passages = [pool[i] for i in rng.sample(holders[year], k)]
        labels = draw_labels(rng, cfg["max_documents"])
        golds = [labelled_document(f"wiki:{p.title}", p.title, labels[j], p.text)
                 for j, p in enumerate(chosen_passages)]
        question = YEAR_QUESTION.format(year=year)
        distractors = year_distractors(pool, year, labels[k:], rng)
        chosen = fit_with_golds(fitter, golds, distractors, question, cfg["target_tokens"], cfg["max_documents"])
        if chosen is None:
            continue
        documents, positions = place_golds(golds, chosen[k:], cfg["gold_position"], rng)
        insight_spans = []
        for p, passage in zip(positions, chosen_passages):
            at = passage.text.index(year)
            s, e = next((s, e) for s, e in sentence_spans(passage.text) if s <= at < e)
            shift = body_offset(label_of(documents[p]))
            insight_spans.append((p, shift + s, shift + e))
        records.append(citation_record(
            split=split, needle="real", haystack="real", seed=seed, index=len(records), documents=documents,
            gold_positions=positions, question=question, insight_spans=insight_spans,
            extra={"target_tokens": cfg["target_tokens"], "year": year}))
    if len(records) < n_examples:
        raise ValueError(f"real SummHay {split}: only {len(records)} of {n_examples} examples could be built from "
                         f"the {len(years)} years that {cfg['min_gold']}+ passages of the pool mention once "
                         f"(tasks.summhay.n_{split} too large?)")
    return records


# ------------------------------------------------------------------------------------- synthetic needles

STUDY_KINDS = ["survey", "study", "field study", "report"]
# (who, what they did), past tense, so every phrasing below reads as one finding
FINDINGS = [
    ("most farmers in {city}", "switched to drip irrigation"),
    ("most bakeries in {city}", "stopped baking with palm oil"),
    ("nearly half of the ferries in {city}", "ran on electric motors"),
    ("most libraries in {city}", "extended their opening hours"),
    ("a third of the households in {city}", "installed solar panels"),
    ("most fishermen in {city}", "sold their catch directly to restaurants"),
    ("many schools in {city}", "moved their lessons outdoors in spring"),
    ("most taxi drivers in {city}", "preferred working night shifts"),
    ("most vineyards near {city}", "planted drought-resistant grapes"),
    ("several hospitals in {city}", "hired more night nurses"),
]
INSIGHT_TEMPLATES = [
    "{person}'s {kind} found that {group} {finding}.",
    "According to a {kind} by {person}, {group} {finding}.",
    "A {kind} carried out by {person} showed that {group} {finding}.",
    "{person} reported in a {kind} that {group} {finding}.",
    "The {kind} by {person} revealed that {group} {finding}.",
]


def make_insight(level: str, cfg: dict[str, Any], k: int, rng: random.Random) -> dict[str, Any]:
    """An insight for k gold documents: the statement the question quotes, the text put into each gold
    document (varied phrasing at level high), and markers no other document may contain."""
    if level == "high":
        person, city = invented_name(rng), rng.choice(CITIES)
        kind = rng.choice(STUDY_KINDS)
        group, finding = rng.choice(FINDINGS)
        slots = {"person": person, "kind": kind, "group": group.format(city=city), "finding": finding}
        start = rng.randrange(len(INSIGHT_TEMPLATES))
        texts = [INSIGHT_TEMPLATES[(start + j) % len(INSIGHT_TEMPLATES)].format(**slots) for j in range(k)]
        return {"statement": INSIGHT_TEMPLATES[0].format(**slots), "texts": texts, "units": [f"'{t}'" for t in texts],
                "sentences": texts, "markers": [person]}
    n = cfg["symbol_length"]
    key = symbol(rng, n)
    value = symbol(rng, n)
    while value == key:
        value = symbol(rng, n)
    if level == "low":
        text = f"The finding of {key} is {value}."
        return {"statement": text, "texts": [text] * k, "units": [f"'{text}'"] * k, "sentences": [text] * k,
                "markers": [key, value]}
    pair = f"'{key}': '{value}'"
    return {"statement": pair, "texts": [pair] * k, "units": [pair] * k, "sentences": ["{" + pair + "}"] * k,
            "markers": [key, value]}


def clean_haystack(level: str, cfg: dict[str, Any], rng: random.Random, pool, markers: list[str],
                   writer: TextWriter | None = None, words: int = 0) -> Iterator[dict[str, Any]]:
    """Haystack documents whose title and text hold no marker of the insight, each Wikipedia passage at
    most once."""
    return haystack_without(level, cfg, rng, pool, lambda text: any(m in text for m in markers), writer, words)


def build_synthetic_summhay(needle_level: str, haystack_level: str, cfg: dict[str, Any], n_examples: int,
                            seed: int, tokenizer, writer: TextWriter | None = None) -> list[dict[str, Any]]:
    """Synthetic citation training data: one insight inserted into k (min_gold..max_gold) documents of
    a haystack; `cfg` (and `writer`) as synthetic.build_synthetic's, with min_gold and max_gold in the
    needle slice. The writer, if any, writes high haystacks only: insights stay template-based."""
    if cfg["needle"]["max_gold"] > cfg["max_documents"]:
        raise ValueError(f"needle.max_gold={cfg['needle']['max_gold']} exceeds max_documents={cfg['max_documents']}")
    v = variant(TASK, needle_level, haystack_level, cfg, seed, tokenizer, writer)
    haystack_writer, pool, rng, fitter = v.haystack_writer, v.pool, v.rng, v.fitter
    as_unit = haystack_level == "symbolic"
    records: list[dict[str, Any]] = []
    while len(records) < n_examples:
        i = len(records)
        k = rng.randint(cfg["needle"]["min_gold"], cfg["needle"]["max_gold"])
        insight = make_insight(needle_level, cfg["needle"], k, rng)
        labels = draw_labels(rng, cfg["max_documents"])
        stream = clean_haystack(haystack_level, cfg["haystack"], rng, pool, insight["markers"], haystack_writer,
                                cfg["max_passage_words"])
        golds: list[dict[str, Any]] = []
        offsets: list[int] = []
        for j in range(k):
            base = next(stream)
            needle = {"unit": insight["units"][j], "sentence": insight["sentences"][j], "answer": insight["texts"][j]}
            text, offset = insert_needle(base, needle, as_unit, rng)
            golds.append(labelled_document(f"synthetic:{i}:gold{j}", base["title"], labels[j], text))
            offsets.append(body_offset(labels[j]) + offset)
        distractors = (labelled_document(d.get("id", f"synthetic:{i}:{n}"), d["title"], labels[k + n],
                                         render_units(d)) for n, d in enumerate(stream))
        question = CITATION_QUESTION.format(insight=insight["statement"])
        chosen = fit_with_golds(fitter, golds, distractors, question, cfg["target_tokens"], cfg["max_documents"])
        if chosen is None:
            raise ValueError(f"synthetic SummHay {needle_level}/{haystack_level}: {k} gold documents alone exceed "
                             f"target_tokens={cfg['target_tokens']} or max_documents={cfg['max_documents']}: raise "
                             f"target_tokens or lower needle.max_gold")
        documents, positions = place_golds(golds, chosen[k:], cfg["gold_position"], rng)
        insight_spans = [(p, offsets[j], offsets[j] + len(insight["texts"][j])) for j, p in enumerate(positions)]
        records.append(citation_record(
            split="train", needle=needle_level, haystack=haystack_level, seed=seed, index=i, documents=documents,
            gold_positions=positions, question=question, insight_spans=insight_spans,
            extra={"target_tokens": cfg["target_tokens"]}))
    return records
