"""Synthetic SummHay Citation training data: one insight inserted into k (min_gold..max_gold) documents of a
haystack on the three realism levels. High insights are phrased differently in each gold document; an LLM
writer, if any, writes high haystacks only."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from synthctx.data.llm_writer import TextWriter
from synthctx.data.records import DataError, Needle, RecordKey
from synthctx.data.synthetic_text import (
    CITIES,
    haystack_without,
    insert_needle,
    invented_name,
    render_units,
    symbol,
    variant,
)
from synthctx.data.tasks.summhay.citations import (
    CITATION_QUESTION,
    body_offset,
    citation_record,
    draw_labels,
    fit_with_golds,
    labelled_document,
    place_golds,
)

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
        return {
            "statement": INSIGHT_TEMPLATES[0].format(**slots),
            "texts": texts,
            "units": [f"'{t}'" for t in texts],
            "sentences": texts,
            "markers": [person],
        }
    n = cfg["symbol_length"]
    key = symbol(rng, n)
    value = symbol(rng, n)
    while value == key:
        value = symbol(rng, n)
    if level == "low":
        text = f"The finding of {key} is {value}."
        return {
            "statement": text,
            "texts": [text] * k,
            "units": [f"'{text}'"] * k,
            "sentences": [text] * k,
            "markers": [key, value],
        }
    pair = f"'{key}': '{value}'"
    return {
        "statement": pair,
        "texts": [pair] * k,
        "units": [pair] * k,
        "sentences": ["{" + pair + "}"] * k,
        "markers": [key, value],
    }


def clean_haystack(
    level: str,
    cfg: dict[str, Any],
    rng: random.Random,
    pool,
    markers: list[str],
    writer: TextWriter | None = None,
    words: int = 0,
) -> Iterator[dict[str, Any]]:
    """Haystack documents whose title and text hold no marker of the insight, each Wikipedia passage at
    most once."""
    return haystack_without(level, cfg, rng, pool, lambda text: any(m in text for m in markers), writer, words)


def build(
    needle_level: str,
    haystack_level: str,
    cfg: dict[str, Any],
    n_examples: int,
    seed: int,
    tokenizer,
    writer: TextWriter | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Synthetic citation training data: one insight inserted into k (min_gold..max_gold) documents of
    a haystack; `cfg` (and `writer`) as MDQA's synthetic builder's, with the task's min_gold and max_gold.
    The writer, if any, writes high haystacks only: insights stay template-based."""
    v = variant("summhay", needle_level, haystack_level, cfg, seed, tokenizer, writer)
    key = RecordKey("summhay", "train", needle_level, haystack_level, seed)
    haystack_writer, pool, rng, fitter = v.haystack_writer, v.pool, v.rng, v.fitter
    as_unit = haystack_level == "symbolic"
    records: list[dict[str, Any]] = []
    while len(records) < n_examples:
        i = len(records)
        k = rng.randint(cfg["min_gold"], cfg["max_gold"])
        insight = make_insight(needle_level, cfg["needle"], k, rng)
        labels = draw_labels(rng, cfg["max_documents"])
        stream = clean_haystack(
            haystack_level, cfg["haystack"], rng, pool, insight["markers"], haystack_writer, cfg["max_passage_words"]
        )
        golds: list[dict[str, Any]] = []
        offsets: list[int] = []
        for j in range(k):
            base = next(stream)
            needle = Needle(unit=insight["units"][j], sentence=insight["sentences"][j], answer=insight["texts"][j])
            text, offset = insert_needle(base, needle, as_unit, rng)
            golds.append(labelled_document(f"synthetic:{i}:gold{j}", base["title"], labels[j], text))
            offsets.append(body_offset(labels[j]) + offset)
        distractors = (
            labelled_document(d.get("id", f"synthetic:{i}:{n}"), d["title"], labels[k + n], render_units(d))
            for n, d in enumerate(stream)
        )
        question = CITATION_QUESTION.format(insight=insight["statement"])
        chosen = fit_with_golds(fitter, golds, distractors, question, cfg["target_tokens"], cfg["max_documents"])
        if chosen is None:
            raise DataError(
                f"synthetic SummHay {needle_level}/{haystack_level}: {k} gold documents alone exceed "
                f"target_tokens={cfg['target_tokens']} or max_documents={cfg['max_documents']}: raise "
                f"target_tokens or lower tasks.summhay.max_gold"
            )
        documents, positions = place_golds(golds, chosen[k:], cfg["gold_position"], rng)
        insight_spans = [(p, offsets[j], offsets[j] + len(insight["texts"][j])) for j, p in enumerate(positions)]
        records.append(
            citation_record(
                key,
                i,
                documents=documents,
                gold_positions=positions,
                question=question,
                insight_spans=insight_spans,
                extra={"target_tokens": cfg["target_tokens"]},
            )
        )
    return records, 0
