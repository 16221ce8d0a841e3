"""The embedded real MDQA split, built from offline Wikipedia summaries.

Each question is derived deterministically from one sentence of its gold passage: a year or a proper
name occurring exactly once in that passage is the answer, and the question quotes the sentence up to
it and asks how it continues. Answering means finding the one passage holding that sentence and
copying the next words, the behaviour retrieval heads implement. The distractor passages are other
summaries from the same pool that do not contain the answer. Paper-scale
runs use the original NaturalQuestions-Open MDQA files instead (Liu et al.).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from synthctx.data.assembly import LengthFitter, place_gold
from synthctx.data.wikipedia import Passage, load_passages, split_sentences, summaries_path
from synthctx.records import make_record, rng_for

YEAR = re.compile(r"(?<![\d,.])(1[0-9]{3}|20[0-2][0-9])(?![\d,])")
# A run of one to three capitalised words after a lower-case word, not glued to a hyphen or apostrophe.
NAME = re.compile(r"(?<=[a-z] )((?:[A-Z][a-z]{2,} ){0,2}[A-Z][a-z]{3,})(?![\w'-])")
MIN_PREFIX_WORDS = 6


def cloze_candidates(passage: Passage) -> list[tuple[str, str, str]]:
    """(kind, sentence prefix, answer): the answer occurs once in the passage, after >= 6 words."""
    out: list[tuple[str, str, str]] = []
    title_words = set(passage.title.lower().split())
    for sentence in split_sentences(passage.text):
        if not 6 <= len(sentence.split()) <= 45:
            continue
        for kind, pattern in (("year", YEAR), ("name", NAME)):
            for m in pattern.finditer(sentence):
                answer = m.group(1)
                if passage.text.count(answer) != 1 or sentence.count(answer) != 1:
                    continue
                if kind == "name" and set(answer.lower().split()) & title_words:
                    continue
                prefix = sentence[:m.start(1)].rstrip()
                if len(prefix.split()) < MIN_PREFIX_WORDS:
                    continue
                out.append((kind, prefix, answer))
    return out


def cloze_question(kind: str, prefix: str) -> str:
    return f'Which {"year" if kind == "year" else "name"} comes next in this sentence from the documents: "{prefix} ..."?'


def _distractors(pool: tuple[Passage, ...], exclude: Passage, answer: str, rng) -> Iterator[dict[str, Any]]:
    order = list(range(len(pool)))
    rng.shuffle(order)
    for i in order:
        p = pool[i]
        if p.title == exclude.title or answer.lower() in p.text.lower():
            continue
        yield {"doc_id": f"wiki:{p.title}", "title": p.title, "text": p.text}


def build_real_mdqa(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> list[dict[str, Any]]:
    """`n_examples` records of the real task's `split` ("train" or "test"), a pure function of its inputs."""
    pools = load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])
    pool = pools[f"real_{split}"]
    rng = rng_for("mdqa", "real", split, seed)
    fitter = LengthFitter(tokenizer)
    order = list(range(len(pool)))
    rng.shuffle(order)
    records = []
    for i in order:
        if len(records) >= n_examples:
            break
        passage = pool[i]
        candidates = cloze_candidates(passage)
        if not candidates:
            continue
        years = [c for c in candidates if c[0] == "year"]
        kind, prefix, answer = rng.choice(years if years and rng.random() < cfg["year_fraction"] else candidates)
        question = cloze_question(kind, prefix)
        gold = {"doc_id": f"wiki:{passage.title}", "title": passage.title, "text": passage.text}
        chosen = fitter.fit(gold, _distractors(pool, passage, answer, rng), question, cfg["target_tokens"], cfg["max_documents"])
        documents, g = place_gold(chosen, cfg["gold_position"], rng)
        records.append(make_record(
            task="mdqa", split=split, needle="real", haystack="real", seed=seed, index=len(records),
            documents=documents, gold_index=g, question=question, answers=[answer],
            answer_start=passage.text.index(answer), extra={"question_kind": kind, "target_tokens": cfg["target_tokens"]}))
    if len(records) < n_examples:
        raise ValueError(f"real MDQA {split}: only {len(records)} of {n_examples} examples could be built from the pool")
    return records
