"""The embedded real MuSiQue miniature, from the offline Wikipedia text: passage A mentions the title of
passage B, and B mentions one year (bridge = B's title inside A, answer = the year inside B). Both are
supporting documents; distractors hold neither the year nor B's title, nor are about another subject A
mentions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from synthctx.data.length_fitting import LengthFitter, fill, interleave
from synthctx.data.matching import mentions_any
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import DataError, RecordKey, rng_for
from synthctx.data.tasks.musique.record import assemble
from synthctx.data.wikipedia import load_passages, passage_document, summaries_path, year_question


def _title_is_specific(title: str) -> bool:
    return len(title.split()) >= 2 or len(title) >= 8


@lru_cache(maxsize=8)
def _titles_by_first_word(path: str, max_words: int, pool_name: str) -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for p in load_passages(path, max_words)[pool_name]:
        if first := re.match(r"\w+", p.title):
            index.setdefault(first.group(0), []).append(p.title)
    return {w: tuple(ts) for w, ts in index.items()}


def title_mentions(text: str, titles_by_word: dict[str, tuple[str, ...]]) -> list[tuple[str, int]]:
    """(title, offset) of every whole-word occurrence of a pool title in `text`."""
    hits: list[tuple[str, int]] = []
    for m in re.finditer(r"\w+", text):
        for title in titles_by_word.get(m.group(0), ()):
            end = m.start() + len(title)
            if text.startswith(title, m.start()) and not (end < len(text) and re.match(r"\w", text[end])):
                hits.append((title, m.start()))
    return hits


@lru_cache(maxsize=8)
def two_hop_chains(path: str, max_words: int, pool_name: str) -> tuple[tuple[int, int, int, int, str], ...]:
    """(A, B, bridge offset in A, year offset in B, year) for every usable chain of a pool, by passage index.

    A mentions, exactly once, the title of exactly one other passage B of the pool (a title of at least
    two words or eight characters); B mentions exactly one year, which neither A nor B's title contains."""
    pool = load_passages(path, max_words)[pool_name]
    index = {p.title: i for i, p in enumerate(pool)}
    titles = _titles_by_first_word(path, max_words, pool_name)
    chains = []
    for a, passage in enumerate(pool):
        hits = [
            (t, at) for t, at in title_mentions(passage.text, titles) if t != passage.title and _title_is_specific(t)
        ]
        if len(hits) != 1:
            continue
        ((title, bridge_at),) = hits
        b = index[title]
        qa = year_question(pool[b])
        if qa is None or qa[1] in passage.title + "\n" + passage.text + "\n" + title:
            continue
        chains.append((a, b, bridge_at, qa[2], qa[1]))
    return tuple(chains)


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """`n_examples` two-hop records of the embedded real task's `split`, a pure function of its inputs."""
    path = str(summaries_path(cfg["text_package"]))
    pool = load_passages(path, cfg["max_passage_words"])[f"real_{split}"]
    chains = list(two_hop_chains(path, cfg["max_passage_words"], f"real_{split}"))
    titles = _titles_by_first_word(path, cfg["max_passage_words"], f"real_{split}")
    if len(chains) < n_examples:
        raise DataError(
            f"real MuSiQue {split}: only {len(chains)} two-hop chains in the {len(pool)} passages of "
            f"the pool, {n_examples} asked (lower tasks.musique.n_{split} or raise max_passage_words)"
        )
    rng = rng_for("musique", "real", split, seed)
    key = RecordKey("musique", split, "real", "real", seed)
    rng.shuffle(chains)
    fitter = LengthFitter(tokenizer, ANSWER_INSTRUCTION)
    records = []
    for a, b, bridge_at, year_at, year in chains[:n_examples]:
        doc_a, doc_b = passage_document(pool[a]), passage_document(pool[b])
        question = (
            f'The document about "{pool[a].title}" mentions a subject that has a document of its own. '
            f"Which year is mentioned in that document?"
        )
        # no distractor holds the year or B's title, nor is about any other subject A mentions
        bridge = mentions_any([pool[b].title])
        mentioned = {t for t, _ in title_mentions(pool[a].text, titles)}
        order = list(range(len(pool)))
        rng.shuffle(order)
        candidates = (
            passage_document(p)
            for p in (pool[i] for i in order if i not in (a, b))
            if p.title not in mentioned
            and year not in p.title + "\n" + p.text
            and not bridge.search(p.title + "\n" + p.text)
        )
        distractors = fill(fitter, [doc_b, doc_a], candidates, question, cfg["target_tokens"], cfg["max_documents"])
        records.append(
            assemble(
                key,
                len(records),
                gold=doc_b,
                others=interleave([doc_a], distractors, rng),
                gold_rule=cfg["gold_position"],
                rng=rng,
                question=question,
                answers=[year],
                answer_at=(doc_b["doc_id"], year_at),
                insights=[(doc_a["doc_id"], bridge_at, bridge_at + len(pool[b].title))],
                supporting_ids=[doc_a["doc_id"], doc_b["doc_id"]],
                hops=[
                    {
                        "question": f"Which subject with a document of its own does the document about "
                        f'"{pool[a].title}" mention?',
                        "answer": pool[b].title,
                        "doc_id": doc_a["doc_id"],
                    },
                    {
                        "question": f'Which year is mentioned in the document about "{pool[b].title}"?',
                        "answer": year,
                        "doc_id": doc_b["doc_id"],
                    },
                ],
                extra={"target_tokens": cfg["target_tokens"]},
            )
        )
    return records, 0
