"""The embedded real SummHay miniature, from the offline Wikipedia text: 2-3 passages of the pool each
mention one year Y exactly once (the shared "insight"); the question asks which documents mention Y."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from synthctx.data.length_fitting import LengthFitter
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import DataError, RecordKey, rng_for
from synthctx.data.tasks.summhay.citations import (
    body_offset,
    citation_record,
    draw_labels,
    fit_with_golds,
    label_of,
    labelled_document,
    place_golds,
    sentence_spans,
)
from synthctx.data.wikipedia import YEAR, Passage, load_passages, summaries_path

YEAR_QUESTION = "Which documents mention the year {year}? Answer with their labels, separated by commas."


def single_years(text: str) -> list[str]:
    """Years the passage mentions exactly once (not as part of "1990s" or a longer number)."""
    found = {m.group(1) for m in YEAR.finditer(text) if not text[m.end() : m.end() + 1].isalpha()}
    return sorted(y for y in found if text.count(y) == 1)


def year_holders(pool: tuple[Passage, ...]) -> dict[str, list[int]]:
    holders: dict[str, list[int]] = {}
    for i, p in enumerate(pool):
        for year in single_years(p.text):
            if year in p.title:  # the rendered title would mention it a second time
                continue
            holders.setdefault(year, []).append(i)
    return holders


def year_distractors(
    pool: tuple[Passage, ...], year: str, labels: list[str], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Passages of the pool, shuffled, whose title and text do not contain the year, labelled in turn."""
    order = list(range(len(pool)))
    rng.shuffle(order)
    for n, i in enumerate(i for i in order if year not in pool[i].text and year not in pool[i].title):
        yield labelled_document(f"wiki:{pool[i].title}", pool[i].title, labels[n], pool[i].text)


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Embedded real split: 2-3 passages of the pool each mention a year once; cite them. Distractors never
    contain the year; the insight span is the sentence holding it. A pure function of its inputs."""
    pool = load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])[f"real_{split}"]
    holders = year_holders(pool)
    years = sorted(y for y, h in holders.items() if len(h) >= cfg["min_gold"])
    rng = rng_for("summhay", "real", split, seed)
    key = RecordKey("summhay", split, "real", "real", seed)
    rng.shuffle(years)
    # Fitted with the short-answer prompt, not SummHay's longer one (CachedFitter): so were its records.
    fitter = LengthFitter(tokenizer, ANSWER_INSTRUCTION)
    records: list[dict[str, Any]] = []
    for year in years:
        if len(records) >= n_examples:
            break
        k = rng.randint(cfg["min_gold"], min(cfg["max_gold"], len(holders[year])))
        chosen_passages = [pool[i] for i in rng.sample(holders[year], k)]
        labels = draw_labels(rng, cfg["max_documents"])
        golds = [
            labelled_document(f"wiki:{p.title}", p.title, labels[j], p.text) for j, p in enumerate(chosen_passages)
        ]
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
        records.append(
            citation_record(
                key,
                len(records),
                documents=documents,
                gold_positions=positions,
                question=question,
                insight_spans=insight_spans,
                extra={"target_tokens": cfg["target_tokens"], "year": year},
            )
        )
    if len(records) < n_examples:
        raise DataError(
            f"real SummHay {split}: only {len(records)} of {n_examples} examples could be built from "
            f"the {len(years)} years that {cfg['min_gold']}+ passages of the pool mention once "
            f"(tasks.summhay.n_{split} too large?)"
        )
    return records, 0
