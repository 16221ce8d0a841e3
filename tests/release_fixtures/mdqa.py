"""Files in the format of the "Lost in the Middle" MDQA release (Liu et al.), generated: no real data.

The release ships nq-open-20_total_documents_gold_at_<k>.jsonl.gz for k in 0, 4, 9, 14, 19: the same
questions in the same order in every file, each with 20 passages, the gold one at index k and 19 retrieved
distractors (that hold no answer) in retrieval order around it. As there:
- a record has `question`, `answers[]`, `ctxs[]` and `nq_annotated_gold` {title, long_answer,
  chunked_long_answer, short_answers};
- a distractor has `id` (a Wikipedia passage id, a string), `title`, `text` (100 words), `score` (a string),
  `hasanswer` (false), `original_retrieval_index` and `isgold` (false); the gold passage has `title`, `text`,
  `hasanswer` and `isgold` (true) only;
- popular passages come back as distractors of several questions, and answers (years, names) of one question
  occur in other questions' passages.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

GOLD_INDICES = (0, 4, 9, 14, 19)
N_DOCUMENTS = 20
PASSAGE_WORDS = 100

SYLLABLES = ["ka", "lo", "ren", "va", "mi", "tor", "sel", "an", "dru", "pe", "lin", "os", "ber", "ta", "quin", "ul"]
FIRST_NAMES = ["Anna", "Marek", "Ilse", "Tomas", "Greta", "Pavel", "Leona", "Oskar", "Vera", "Henrik"]
SURNAMES = ["Varga", "Lindqvist", "Moreau", "Halden", "Kessler", "Ortega", "Brandt", "Novak"]
NOUNS = ["bridge", "cathedral", "railway", "harbour", "library", "observatory", "canal", "theatre", "museum"]
FILLER = (
    "the of and in to was a is for on as by with from that at its which were an after during also "
    "first city river region century local north south early later known built town war new family "
    "during large small main public several into other part most many national based between under "
    "county government named area around district original group village people name years since "
    "older state west east became following population where about island coast valley plain"
).split()


def _word(rng: random.Random, syllables: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _sentence(rng: random.Random) -> str:
    """A sentence of encyclopaedic filler, with the years and names that other questions ask about."""
    parts = [rng.choice(FILLER) for _ in range(rng.randrange(6, 14))]
    if rng.random() < 0.5:
        parts.insert(rng.randrange(len(parts)), str(rng.randrange(1800, 2021)))
    if rng.random() < 0.3:
        parts.insert(rng.randrange(len(parts)), _person(rng))
    if rng.random() < 0.4:
        parts.insert(rng.randrange(len(parts)), _word(rng))
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


def _passage(rng: random.Random, words: int, fact: str | None = None) -> str:
    """About `words` words of filler; cut mid-sentence to exactly `words` like the release's 100-word
    passages, the `fact` sentence (when given) kept whole."""
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(_sentence(rng))
    if fact is None:
        return " ".join(" ".join(sentences).split()[:words])
    budget = max(words - len(fact.split()), 0)
    head = " ".join(sentences).split()[:budget]
    at = rng.randrange(len(head) + 1)
    before, after = " ".join(head[:at]), " ".join(head[at:])
    return " ".join(p for p in (before and before + ".", fact, after) if p)


def _mentions(text: str, answers: list[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, re.IGNORECASE) for a in answers)


def _question(rng: random.Random, kind: str) -> tuple[str, list[str], str, str]:
    """(question, answers, gold title, fact sentence)."""
    place = _word(rng)
    if kind == "year":
        noun, year = rng.choice(NOUNS), str(rng.randrange(1800, 2021))
        return (
            f"when was the {noun} of {place} built",
            [year],
            f"{place} {noun.capitalize()}",
            f"The {noun} of {place} was built in {year} by the county.",
        )
    if kind == "person":
        who, org = _person(rng), f"{place} {rng.choice(['Society', 'Company', 'Institute'])}"
        initial = f"{who[0]}. {who.split()[1]}"
        return (f"who founded the {org.lower()}", [who, initial], org, f"The {org} was founded by {who}.")
    count = str(rng.randrange(20, 400))
    return (
        f"how many islands belong to the {place} archipelago",
        [count],
        f"{place} archipelago",
        f"The {place} archipelago has {count} islands, most of them uninhabited.",
    )


def release_records(n_questions: int = 60, seed: int = 0) -> list[dict[str, Any]]:
    """The questions with the gold passage first and the 19 distractors after it, in retrieval order."""
    rng = random.Random(f"mdqa-release-fixture:{seed}")
    shared: list[dict[str, Any]] = []  # popular passages, retrieved for several questions
    records, seen = [], set()
    while len(records) < n_questions:
        question, answers, title, fact = _question(rng, rng.choice(["year", "person", "count"]))
        if question in seen:
            continue
        seen.add(question)
        gold_text = _passage(rng, rng.randrange(70, 101), fact)
        distractors: list[dict[str, Any]] = []
        retrieval_index, score = 0, rng.uniform(1.6, 2.0)
        while len(distractors) < N_DOCUMENTS - 1:
            if shared and rng.random() < 0.15:
                doc = dict(rng.choice(shared))
            else:
                doc = {
                    "id": str(rng.randrange(1_000_000, 21_000_000)),
                    "title": f"{_word(rng)} {rng.choice(NOUNS)}",
                    "text": _passage(rng, PASSAGE_WORDS),
                }
                shared.append(dict(doc))
            retrieval_index += 1 + (rng.random() < 0.2)  # passages that hold an answer were skipped
            if _mentions(doc["title"] + " " + doc["text"], answers) or any(d["id"] == doc["id"] for d in distractors):
                continue
            score -= rng.uniform(0.0, 0.02)
            distractors.append(
                {
                    **doc,
                    "score": f"{score:.7f}",
                    "hasanswer": False,
                    "original_retrieval_index": retrieval_index,
                    "isgold": False,
                }
            )
        gold = {"title": title, "text": gold_text, "hasanswer": True, "isgold": True}
        records.append(
            {
                "question": question,
                "answers": answers,
                "ctxs": [gold, *distractors],
                "nq_annotated_gold": {
                    "title": title,
                    "long_answer": gold_text,
                    "chunked_long_answer": gold_text,
                    "short_answers": answers[:1],
                },
            }
        )
    return records


def with_gold_at(record: dict[str, Any], k: int) -> dict[str, Any]:
    """The record as the gold_at_k file holds it: the gold passage inserted at index k of the distractors."""
    gold, distractors = record["ctxs"][0], record["ctxs"][1:]
    return {**record, "ctxs": distractors[:k] + [gold] + distractors[k:]}


def release_name(k: int) -> str:
    return f"nq-open-{N_DOCUMENTS}_total_documents_gold_at_{k}.jsonl.gz"


def write_release(
    folder: Path, n_questions: int = 60, seed: int = 0, gold_indices: tuple[int, ...] = GOLD_INDICES
) -> list[Path]:
    """One gzip-compressed jsonl file per gold index, the same questions in the same order in each."""
    folder.mkdir(parents=True, exist_ok=True)
    records = release_records(n_questions, seed)
    paths = []
    for k in gold_indices:
        path = folder / release_name(k)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(with_gold_at(rec, k)) + "\n")
        paths.append(path)
    return paths


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
