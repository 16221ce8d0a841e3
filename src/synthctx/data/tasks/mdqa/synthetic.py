"""Synthetic MDQA training data on the two realism axes.

needle    high: natural sentences about invented people and organisations; low: one template with
          symbolic entities ("WPFN is the place of death of ABCD."); symbolic: a key-value pair.
haystack  see data/synthetic_text.py.
Every record is a pure function of (config slice, seed, index) and the tokenizer used for length.
"""

from __future__ import annotations

import random
from typing import Any

from synthctx.data.length_fitting import place_gold
from synthctx.data.llm_writer import TextWriter
from synthctx.data.records import Needle, RecordKey, make_record, single_gold_spans
from synthctx.data.synthetic_text import (
    CITIES,
    haystack_stream,
    insert_needle,
    invented_name,
    render_units,
    symbol,
    variant,
    written_needle,
)

OCCUPATIONS = [
    "botanist",
    "watchmaker",
    "cartographer",
    "violinist",
    "architect",
    "glassblower",
    "surveyor",
    "pharmacist",
    "bookbinder",
    "astronomer",
    "stonemason",
    "translator",
    "engraver",
    "chemist",
]
ORG_KINDS = ["Society", "Institute", "Company", "Guild", "Observatory", "Foundation"]

# relation -> (value kind, natural templates, natural question, symbolic phrase)
RELATIONS: dict[str, tuple[str, list[str], str, str]] = {
    "place_of_death": (
        "city",
        [
            "At the age of {age}, {entity} died in {value}.",
            "{entity} spent the final years of a long life in {value}, and died there in {year}.",
            "In {year}, {entity} passed away in {value} after a short illness.",
        ],
        "Where did {entity} die?",
        "place of death",
    ),
    "place_of_birth": (
        "city",
        [
            "{entity} was born in {value} in {year}.",
            "Born in {value}, {entity} left home at the age of {age}.",
            "The records of {value} list {entity} among the children born there in {year}.",
        ],
        "Where was {entity} born?",
        "place of birth",
    ),
    "occupation": (
        "occupation",
        [
            "For most of a long career, {entity} worked as a {value}.",
            "{entity} trained as a {value} and kept at that trade until the age of {age}.",
        ],
        "What was the occupation of {entity}?",
        "occupation",
    ),
    "founding_year": (
        "year",
        [
            "The {entity} was founded in {value} by a group of local merchants.",
            "Records show that the {entity} opened its doors in {value}.",
        ],
        "In which year was the {entity} founded?",
        "founding year",
    ),
}


def make_needle(level: str, cfg: dict[str, Any], rng: random.Random, writer: TextWriter | None = None) -> Needle:
    """A fact to retrieve: its sentence (or key-value pair), the question and the answer.

    With a writer (level high only), the sentence is the LLM's and `answer_offset` says where the
    answer stands in it; the template sentence is still drawn first, so the rng path up to there is
    the offline one."""
    if level == "symbolic":
        n = cfg["symbol_length"]
        container, key, value = symbol(rng, n), symbol(rng, n), symbol(rng, n)
        return Needle(
            unit=f"'{key}': '{value}'",
            sentence=f"{container} {{'{key}': '{value}'}}",
            answer=value,
            question=f"What is the value of the key '{key}' in the dictionary {container}?",
            container=container,
        )
    relation = rng.choice(sorted(cfg["relations"]))
    kind, templates, question, phrase = RELATIONS[relation]
    year = rng.randrange(1820, 2000)
    value = {
        "city": lambda: rng.choice(CITIES),
        "occupation": lambda: rng.choice(OCCUPATIONS),
        "year": lambda: str(year),
    }[kind]()
    if level == "high":
        entity = invented_name(rng)
        if relation == "founding_year":
            entity = f"{invented_name(rng).split()[1]} {rng.choice(ORG_KINDS)}"
        sentence = rng.choice(templates).format(
            entity=entity,
            value=value,
            age=rng.randrange(25, 95),
            year=year if kind != "year" else rng.randrange(1820, 2000),
        )
        q = question.format(entity=entity)
        if writer is not None:
            sentence, at = written_needle(writer, phrase, entity, value, rng)
            return Needle(unit=f"'{sentence}'", sentence=sentence, answer=value, question=q, answer_offset=at)
    else:  # low: one template, symbolic entities
        entity = symbol(rng, cfg["symbol_length"])
        if kind != "year":
            value = symbol(rng, cfg["symbol_length"])
        sentence = f"{value} is the {phrase} of {entity}."
        q = f"What is the {phrase} of {entity}?"
    return Needle(unit=f"'{sentence}'", sentence=sentence, answer=value, question=q)


def build(
    needle_level: str,
    haystack_level: str,
    cfg: dict[str, Any],
    n_examples: int,
    seed: int,
    tokenizer,
    writer: TextWriter | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """`cfg` holds: text_package, max_passage_words, target_tokens, max_documents, gold_position, the
    needle and haystack slices for this variant (`needle`, `haystack`) and, when an LLM writes the high
    needle or haystack, `writer` (with `use_for`); `writer` is then the cached writer built from it."""
    v = variant("mdqa", needle_level, haystack_level, cfg, seed, tokenizer, writer)
    rng = v.rng
    key = RecordKey("mdqa", "train", needle_level, haystack_level, seed)
    records = []
    while len(records) < n_examples:
        needle = make_needle(needle_level, cfg["needle"], rng, v.needle_writer)
        answer = needle.answer
        stream = (
            d
            for d in haystack_stream(
                haystack_level, cfg["haystack"], rng, v.pool, v.haystack_writer, cfg["max_passage_words"]
            )
            if answer not in render_units(d) and (needle.container is None or d["title"] != needle.container)
        )
        gold = next(stream)
        if haystack_level == "symbolic" and needle_level == "symbolic":
            gold["title"] = needle.container
        text, offset = insert_needle(gold, needle, haystack_level == "symbolic", rng)
        if text.count(answer) != 1:
            continue
        i = len(records)
        gold_doc = {"doc_id": f"synthetic:{i}:gold", "title": gold["title"], "text": text}
        distractors = (
            {"doc_id": d.get("id", f"synthetic:{i}:{k}"), "title": d["title"], "text": render_units(d)}
            for k, d in enumerate(stream)
        )
        chosen = v.fitter.fit([gold_doc], distractors, needle.question, cfg["target_tokens"], cfg["max_documents"])
        documents, g = place_gold(chosen, cfg["gold_position"], rng)
        records.append(
            make_record(
                key,
                i,
                documents=documents,
                question=needle.question,
                answers=[answer],
                spans=single_gold_spans(documents, g, offset, answer),
                gold_documents=[g],
                gold_position=g,
                extra={"target_tokens": cfg["target_tokens"]},
            )
        )
    return records, 0
