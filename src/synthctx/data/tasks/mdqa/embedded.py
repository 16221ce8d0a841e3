"""The embedded real MDQA split, built from offline Wikipedia summaries.

Each question comes from one gold passage that mentions exactly one year: "Which year is mentioned in
the document about <title>?", answered by that year, which the passage holds. Answering means finding
the one passage about the title among distractors and copying the year out of it, the behaviour
retrieval heads implement. Distractors are other summaries from the same pool that do not contain the
year. Paper-scale runs use the original NaturalQuestions-Open MDQA files instead (official.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from synthctx.data.length_fitting import LengthFitter, place_gold
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import DataError, RecordKey, make_record, rng_for, single_gold_spans
from synthctx.data.wikipedia import Passage, load_passages, passage_document, summaries_path, year_question


def _distractors(pool: tuple[Passage, ...], exclude: Passage, answer: str, rng) -> Iterator[dict[str, Any]]:
    order = list(range(len(pool)))
    rng.shuffle(order)
    for i in order:
        p = pool[i]
        if p.title == exclude.title or answer in p.text:
            continue
        yield passage_document(p)


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """`n_examples` records of the real task's `split` ("train" or "test"), a pure function of its inputs."""
    pools = load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])
    pool = pools[f"real_{split}"]
    rng = rng_for("mdqa", "real", split, seed)
    key = RecordKey("mdqa", split, "real", "real", seed)
    fitter = LengthFitter(tokenizer, ANSWER_INSTRUCTION)
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
        chosen = fitter.fit(
            [passage_document(passage)],
            _distractors(pool, passage, answer, rng),
            question,
            cfg["target_tokens"],
            cfg["max_documents"],
        )
        documents, g = place_gold(chosen, cfg["gold_position"], rng)
        records.append(
            make_record(
                key,
                len(records),
                documents=documents,
                question=question,
                answers=[answer],
                spans=single_gold_spans(documents, g, offset, answer),
                gold_documents=[g],
                gold_position=g,
                extra={"target_tokens": cfg["target_tokens"]},
            )
        )
    if len(records) < n_examples:
        raise DataError(
            f"real MDQA {split}: only {len(records)} of {n_examples} examples could be built from "
            f"the {len(pool)} passages of the pool (tasks.mdqa.n_{split} too large?)"
        )
    return records, 0
