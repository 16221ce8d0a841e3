"""The embedded real MDQA split, built from offline Wikipedia summaries.

Each question comes from one gold passage that mentions exactly one year: "Which year is mentioned in
the document about <title>?", answered by that year, which the passage holds. Answering means finding
the one passage about the title among distractors and copying the year out of it, the behaviour
retrieval heads implement. Distractors are other summaries from the same pool that do not contain the
year. Paper-scale runs use the original NaturalQuestions-Open MDQA files instead (Liu et al.).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from synthctx.data.assembly import LengthFitter, place_gold
from synthctx.data.wikipedia import Passage, load_passages, summaries_path
from synthctx.records import make_record, rng_for

YEAR = re.compile(r"(?<![\d,.])(1[0-9]{3}|20[0-2][0-9])(?![\d,])")


def year_question(passage: Passage) -> tuple[str, str, int] | None:
    """(question, answer, answer offset) when the passage mentions exactly one year, else None."""
    years = list(YEAR.finditer(passage.text))
    if len(years) != 1 or passage.text.count(years[0].group(1)) != 1:
        return None
    m = years[0]
    return f'Which year is mentioned in the document about "{passage.title}"?', m.group(1), m.start(1)


def _distractors(pool: tuple[Passage, ...], exclude: Passage, answer: str, rng) -> Iterator[dict[str, Any]]:
    order = list(range(len(pool)))
    rng.shuffle(order)
    for i in order:
        p = pool[i]
        if p.title == exclude.title or answer in p.text:
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
        qa = year_question(passage)
        if qa is None:
            continue
        question, answer, offset = qa
        gold = {"doc_id": f"wiki:{passage.title}", "title": passage.title, "text": passage.text}
        chosen = fitter.fit([gold], _distractors(pool, passage, answer, rng), question, cfg["target_tokens"], cfg["max_documents"])
        documents, g = place_gold(chosen, cfg["gold_position"], rng)
        records.append(make_record(
            task="mdqa", split=split, needle="real", haystack="real", seed=seed, index=len(records),
            documents=documents, gold_index=g, question=question, answers=[answer], answer_start=offset,
            extra={"target_tokens": cfg["target_tokens"]}))
    if len(records) < n_examples:
        raise ValueError(f"real MDQA {split}: only {len(records)} of {n_examples} examples could be built from "
                         f"the {len(pool)} passages of the pool (tasks.mdqa.n_{split} too large?)")
    return records
