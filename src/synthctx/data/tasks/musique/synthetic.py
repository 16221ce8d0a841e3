"""Synthetic MuSiQue training data: chains of relations on the needle/haystack realism axes, one hop per
document (with an LLM writer configured, high needles and high haystacks are written by it). The earlier
hops' answers are the insight spans.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from synthctx.data.length_fitting import fill, interleave
from synthctx.data.llm_writer import TextWriter
from synthctx.data.records import DataError, Needle, RecordKey
from synthctx.data.synthetic_text import (
    CITIES,
    distinct_symbols,
    haystack_without,
    insert_needle,
    invented_name,
    render_units,
    variant,
    written_needle,
)
from synthctx.data.tasks.musique import HOP_COUNTS
from synthctx.data.tasks.musique.record import assemble

# Invented countries, so that no chain can be answered from the model's knowledge of the world.
COUNTRIES = [
    "Aldoria",
    "Brevania",
    "Castova",
    "Dunmere",
    "Estravia",
    "Feldmark",
    "Galvonia",
    "Ilvania",
    "Karsland",
    "Lorvenia",
    "Marovia",
    "Ostmere",
    "Pelloria",
    "Quessania",
    "Rovenia",
    "Sarnovia",
    "Tellmark",
    "Ulvaria",
    "Vessaria",
    "Wendholm",
    "Zarovia",
    "Norvessa",
    "Halmora",
    "Brisland",
]
CURRENCIES = [
    "florin",
    "ducat",
    "thaler",
    "guilder",
    "escudo",
    "shilling",
    "dinar",
    "drachma",
    "zloty",
    "forint",
    "koruna",
    "markka",
    "kwacha",
    "rupiah",
    "tenge",
    "lempira",
    "quetzal",
    "balboa",
]

# One natural relation per hop of the chain person -> city -> country -> currency.
HIGH_TEMPLATES = [
    [
        "At the age of {age}, {subject} died in {value}.",
        "{subject} spent the final years of a long life in {value}, and died there in {year}.",
        "In {year}, {subject} passed away in {value} after a short illness.",
    ],
    [
        "{subject} lies in {value}.",
        "{subject} is a river port in the north of {value}.",
        "The town of {subject} became part of {value} in {year}.",
    ],
    [
        "The currency of {subject} is the {value}.",
        "Shops in {subject} take payment in the {value}.",
        "Since {year}, {subject} has used the {value} as its money.",
    ],
]
HIGH_HOP_QUESTIONS = [
    "Where did {subject} die?",
    "In which country does {subject} lie?",
    "What is the currency of {subject}?",
]
HIGH_QUESTIONS = {2: "In which country did {start} die?", 3: "What currency is used in the country where {start} died?"}
LOW_PHRASES = ["place of death", "country", "currency"]
# The relation of each hop as the LLM writer is asked to state it ("{value} is the {phrase} of {subject}").
WRITER_PHRASES = ["place of death", "country it lies in", "currency"]


@dataclass(frozen=True)
class Chain:
    question: str
    start: str  # the entity (or key) the chain starts from
    steps: list[Needle]  # one needle per hop


def make_chain(
    level: str, cfg: dict[str, Any], hops: int, rng: random.Random, writer: TextWriter | None = None
) -> Chain:
    """A chain of `hops` relations, one needle per hop: the value found at one hop is the subject (or key)
    of the next. With a writer (level high only), each hop's sentence is the LLM's, with the answer's
    offset in it."""
    if hops not in HOP_COUNTS:
        raise DataError(f"tasks.musique.hops must be one of {HOP_COUNTS}, not {hops!r}")
    if level == "symbolic":
        containers = distinct_symbols(rng, cfg["symbol_length"], 2 * hops + 1)
        containers, keys = containers[:hops], containers[hops:]
        steps = [
            Needle(
                unit=f"'{keys[i]}': '{keys[i + 1]}'",
                sentence=f"{containers[i]} {{'{keys[i]}': '{keys[i + 1]}'}}",
                answer=keys[i + 1],
                container=containers[i],
                question=f"What is the value of the key '{keys[i]}' in the dictionary {containers[i]}?",
            )
            for i in range(hops)
        ]
        question = (
            f"Look up the key '{keys[0]}' in the dictionary {containers[0]}, then look up the value found as a "
            f"key in the dictionary {containers[1]}"
            + "".join(f", then in {c}" for c in containers[2:])
            + ". What is the last value found?"
        )
        return Chain(question, keys[0], steps)
    if level == "high":
        values = [rng.choice(CITIES), rng.choice(COUNTRIES), rng.choice(CURRENCIES)][:hops]
        subjects = [invented_name(rng)] + values[:-1]
        sentences = [
            rng.choice(HIGH_TEMPLATES[i]).format(
                subject=subjects[i], value=values[i], age=rng.randrange(25, 95), year=rng.randrange(1820, 2000)
            )
            for i in range(hops)
        ]
        hop_questions = [HIGH_HOP_QUESTIONS[i].format(subject=subjects[i]) for i in range(hops)]
        question = HIGH_QUESTIONS[hops].format(start=subjects[0])
        if writer is not None:
            written = [written_needle(writer, WRITER_PHRASES[i], subjects[i], values[i], rng) for i in range(hops)]
            steps = [
                Needle(unit=f"'{s}'", sentence=s, answer=v, question=q, answer_offset=at)
                for (s, at), v, q in zip(written, values, hop_questions, strict=True)
            ]
            return Chain(question, subjects[0], steps)
    elif level == "low":
        symbols = distinct_symbols(rng, cfg["symbol_length"], hops + 1)
        subjects, values = symbols[:-1], symbols[1:]
        sentences = [f"{values[i]} is the {LOW_PHRASES[i]} of {subjects[i]}." for i in range(hops)]
        hop_questions = [f"What is the {LOW_PHRASES[i]} of {subjects[i]}?" for i in range(hops)]
        question = "What is the " + " of the ".join(reversed(LOW_PHRASES[:hops])) + f" of {subjects[0]}?"
    else:
        raise ValueError(f"unknown needle level {level!r}")
    steps = [
        Needle(unit=f"'{s}'", sentence=s, answer=v, question=q)
        for s, v, q in zip(sentences, values, hop_questions, strict=True)
    ]
    return Chain(question, subjects[0], steps)


def _clean_stream(
    level: str,
    cfg: dict[str, Any],
    rng: random.Random,
    pool,
    strings: list[str],
    fold_case: bool,
    writer: TextWriter | None = None,
    words: int = 0,
) -> Iterator[dict[str, Any]]:
    """Haystack documents mentioning none of the chain's strings, no wiki passage twice. Symbols are
    matched exactly (an upper-case code inside an ordinary word is no mention), words in any case."""
    pattern = re.compile("|".join(re.escape(s) for s in strings), re.IGNORECASE if fold_case else 0)
    return haystack_without(level, cfg, rng, pool, lambda text: bool(pattern.search(text)), writer, words)


def build(
    needle_level: str,
    haystack_level: str,
    cfg: dict[str, Any],
    n_examples: int,
    seed: int,
    tokenizer,
    writer: TextWriter | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Synthetic multi-hop training records; `cfg` (and `writer`) as MDQA's synthetic builder's, with `hops`.

    Each hop's sentence goes into its own haystack document; the final answer occurs once in the
    context, each bridge twice (as its hop's answer and as the next hop's subject)."""
    v = variant("musique", needle_level, haystack_level, cfg, seed, tokenizer, writer)
    key = RecordKey("musique", "train", needle_level, haystack_level, seed)
    needle_writer, haystack_writer, pool, rng, fitter = v.needle_writer, v.haystack_writer, v.pool, v.rng, v.fitter
    as_unit = haystack_level == "symbolic"
    records: list[dict[str, Any]] = []
    while len(records) < n_examples:
        chain = make_chain(needle_level, cfg["needle"], cfg["hops"], rng, needle_writer)
        steps = chain.steps
        strings = [chain.start] + [s.answer for s in steps] + [s.container for s in steps if s.container]
        stream = _clean_stream(
            haystack_level,
            cfg["haystack"],
            rng,
            pool,
            strings,
            needle_level == "high",
            haystack_writer,
            cfg["max_passage_words"],
        )
        i = len(records)
        hop_docs, offsets = [], []
        for k, step in enumerate(steps):
            doc = next(stream)
            if as_unit and step.container:
                doc["title"] = step.container
            text, offset = insert_needle(doc, step, as_unit, rng)
            hop_docs.append({"doc_id": f"synthetic:{i}:hop{k + 1}", "title": doc["title"], "text": text})
            offsets.append(offset)
        everything = "\n".join(d["title"] + "\n" + d["text"] for d in hop_docs)
        expected = [(chain.start, 1)] + [(s.answer, 2) for s in steps[:-1]] + [(steps[-1].answer, 1)]
        if any(everything.count(s) != n for s, n in expected):
            continue  # an entity also occurs by chance elsewhere in the chain's documents: draw again
        distractors = fill(
            fitter,
            hop_docs,
            (
                {"doc_id": d.get("id", f"synthetic:{i}:{k}"), "title": d["title"], "text": render_units(d)}
                for k, d in enumerate(stream)
            ),
            chain.question,
            cfg["target_tokens"],
            cfg["max_documents"],
        )
        answer = steps[-1].answer
        records.append(
            assemble(
                key,
                i,
                gold=hop_docs[-1],
                others=interleave(hop_docs[:-1], distractors, rng),
                gold_rule=cfg["gold_position"],
                rng=rng,
                question=chain.question,
                answers=[answer],
                answer_at=(hop_docs[-1]["doc_id"], offsets[-1]),
                insights=[(d["doc_id"], o, o + len(s.answer)) for d, o, s in zip(hop_docs[:-1], offsets, steps)],
                supporting_ids=[d["doc_id"] for d in hop_docs],
                hops=[
                    {"question": s.question, "answer": s.answer, "doc_id": d["doc_id"]} for s, d in zip(steps, hop_docs)
                ],
                extra={"target_tokens": cfg["target_tokens"]},
            )
        )
    return records, 0
