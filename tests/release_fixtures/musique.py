"""Files in the format of the MuSiQue-Ans v1.0 release (Trivedi et al. 2022), generated: no real data.

As in musique_ans_v1.0_{train,dev}.jsonl: one JSON object per line with `id` ("2hop__<a>_<b>",
"3hop1__...", "4hop1__..."), `paragraphs` (20 of them: `idx` 0-19, `title`, `paragraph_text`, `is_supporting`),
`question`, `question_decomposition` (one hop per supporting paragraph: `id`, `question` with "#1"-style
references to earlier hops, `answer`, `paragraph_support_idx`), `answer`, `answer_aliases` and
`answerable`. Paragraphs run 40-120 words; distractors share the topic's vocabulary (lexically close, as
MuSiQue's retrieved distractors are) but hold none of the hops' answers.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

N_PARAGRAPHS = 20
SYLLABLES = ["mar", "ven", "dol", "ka", "ri", "sto", "lan", "bel", "tu", "ors", "quen", "pa", "li", "dra", "mo"]
WORDS = (
    "the of and in to was a is for on as by with from that at its which were an after during also first river "
    "region century local north early later known built town war new family large small main public several "
    "other part most many national based between under county government named area around district group "
    "village people name years since state west east became following population where about island coast"
).split()
# One relation per hop: (question about X, sentence stating the answer Y of X, kind of Y)
RELATIONS = [
    ("Who founded {x}?", "{x} was founded by {y}, whose workshop stood near the harbour.", "person"),
    ("Where was {x} born?", "{x} was born in {y} and spent a long career abroad.", "place"),
    ("In which country is {x}?", "{x} is a town in the north of {y}, on a wide river plain.", "country"),
    ("What is the capital of {x}?", "The capital of {x} is {y}, its largest port.", "place"),
]


def _name(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _entity(rng: random.Random, kind: str) -> str:
    if kind == "person":
        return f"{_name(rng)} {_name(rng, 3)}"
    if kind == "country":
        return _name(rng, 3) + "ia"
    return _name(rng, 2) + rng.choice(["by", "holm", "ford", "stad"])


def _filler(rng: random.Random, words: int, avoid: list[str]) -> str:
    out: list[str] = []
    while len(out) < words:
        sentence = [rng.choice(WORDS) for _ in range(rng.randrange(7, 15))]
        if rng.random() < 0.4:
            sentence.insert(rng.randrange(len(sentence)), str(rng.randrange(1700, 2020)))
        if rng.random() < 0.3:
            sentence.insert(rng.randrange(len(sentence)), _name(rng))
        text = " ".join(sentence)
        if not any(a.lower() in text.lower() for a in avoid):
            out.extend((text[0].upper() + text[1:] + ".").split())
    return " ".join(out)


def make_record(rng: random.Random, index: int) -> dict[str, Any]:
    hops = rng.choice((2, 2, 3, 4))
    start = _entity(rng, "place") + " Abbey"
    relations = rng.sample(RELATIONS, hops)
    subjects, answers = [start], []
    for _, _, kind in relations:
        answers.append(_entity(rng, kind))
        subjects.append(answers[-1])
    slots = rng.sample(range(N_PARAGRAPHS), hops)
    paragraphs = []
    for idx in range(N_PARAGRAPHS):
        if idx in slots:
            h = slots.index(idx)
            stated = relations[h][1].format(x=subjects[h], y=answers[h])
            before, after = _filler(rng, rng.randrange(20, 50), answers), _filler(rng, rng.randrange(10, 40), answers)
            text = f"{before} {stated} {after}"
            title, supporting = subjects[h], True
        else:
            text = _filler(rng, rng.randrange(40, 120), answers)
            title, supporting = f"{_name(rng)} {rng.choice(['River', 'Abbey', 'Museum', 'Railway'])}", False
        paragraphs.append({"idx": idx, "title": title, "paragraph_text": text, "is_supporting": supporting})
    ids = [rng.randrange(10_000, 900_000) for _ in range(hops)]
    decomposition = []
    for h, (question, _, _) in enumerate(relations):
        subject = start if h == 0 else f"#{h}"
        decomposition.append(
            {
                "id": ids[h],
                "question": question.format(x=subject),
                "answer": answers[h],
                "paragraph_support_idx": slots[h],
            }
        )
    prefix = "2hop" if hops == 2 else f"{hops}hop1"
    return {
        "id": f"{prefix}__" + "_".join(map(str, ids)),
        "paragraphs": paragraphs,
        "question": f"{relations[-1][0].format(x='the ' + relations[-2][2] + ' of ' + start).rstrip('?')}?",
        "question_decomposition": decomposition,
        "answer": answers[-1],
        "answer_aliases": [answers[-1].upper()] if rng.random() < 0.3 else [],
        "answerable": True,
    }


def _question_key(question: str) -> str:
    return " ".join(re.sub(r"\W+", " ", question.casefold()).split())


def write_split(path: Path, n: int, seed: int, disjoint_from: Path | None = None) -> Path:
    """`n` records as one jsonl file (the release's train or dev file). The release's train and dev share no
    question; `disjoint_from` (the train file, when writing dev) makes that hold here too."""
    taken = set()
    if disjoint_from is not None:
        taken = {_question_key(json.loads(line)["question"]) for line in disjoint_from.read_text().splitlines()}
    rng = random.Random(f"musique-release:{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        i = 0
        while i < n:
            record = make_record(rng, i)
            if _question_key(record["question"]) in taken:
                continue
            taken.add(_question_key(record["question"]))
            fh.write(json.dumps(record) + "\n")
            i += 1
    return path
