"""Length fitting shared by every task: documents are added until the prompt reaches a target length in the
model's tokens, and the gold document is placed by a position rule."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from synthctx.data.prompting import count_tokens, template_overhead
from synthctx.data.records import Document, render_document


def gold_index(rule: str | int, n_documents: int, rng: random.Random) -> int:
    """Where the gold document goes: uniform, first, middle, last, or a 0-based index (clipped)."""
    if isinstance(rule, int):
        return max(0, min(rule, n_documents - 1))
    return {
        "uniform": lambda: rng.randrange(n_documents),
        "first": lambda: 0,
        "middle": lambda: n_documents // 2,
        "last": lambda: n_documents - 1,
    }[rule]()


class LengthFitter:
    """Counts tokens per document once; the total is the prompt's length up to a token or two.

    `instruction` is the one whose prompt is measured: `prompting` lays the prompt out, the fitter only
    counts (see `prompting.template_overhead`)."""

    def __init__(self, tokenizer, instruction: str):
        self.tokenizer = tokenizer
        self.overhead = template_overhead(tokenizer, instruction)

    def doc_tokens(self, doc: dict[str, Any], index: int = 0) -> int:
        """Tokens of a rendered document (header numbered as the index-th) plus its separator."""
        return count_tokens(self.tokenizer, render_document(index, doc["title"], doc["text"])) + 1

    def fit(
        self,
        required: list[dict[str, Any]],
        distractors: Iterable[dict[str, Any]],
        question: str,
        target_tokens: int,
        max_documents: int,
    ) -> list[dict[str, Any]]:
        """The required documents (always kept), then distractors in order while the prompt stays
        within target_tokens and max_documents."""
        total = (
            self.overhead
            + count_tokens(self.tokenizer, question)
            + sum(self.doc_tokens(d, i) for i, d in enumerate(required))
        )
        chosen = list(required)
        for doc in distractors:
            if len(chosen) >= max_documents:
                break
            cost = self.doc_tokens(doc, len(chosen))
            if total + cost > target_tokens:
                break
            chosen.append(doc)
            total += cost
        return chosen


def place_gold(chosen: list[Document], rule: str | int, rng: random.Random) -> tuple[list[Document], int]:
    """The first document (the gold one) moved to where `rule` says among the others; returns its index."""
    gold, distractors = chosen[0], chosen[1:]
    g = gold_index(rule, len(chosen), rng)
    return distractors[:g] + [gold] + distractors[g:], g


def fill(
    fitter: LengthFitter,
    required: list[Document],
    candidates: Iterable[Document],
    question: str,
    target_tokens: int,
    max_documents: int,
) -> list[Document]:
    """The candidates that fit beside the required documents (always kept), in order, until one does not."""
    return fitter.fit(required, candidates, question, target_tokens, max_documents)[len(required) :]


def interleave(first: list[Any], second: list[Any], rng: random.Random) -> list[Any]:
    """A random merge of two lists that keeps each one's order."""
    at = set(rng.sample(range(len(first) + len(second)), len(first)))
    a, b = iter(first), iter(second)
    return [next(a) if i in at else next(b) for i in range(len(first) + len(second))]


def lazy_permutation(n: int, rng: random.Random) -> Iterator[int]:
    """range(n) in random order, drawn one at a time (a Fisher-Yates shuffle that stops when asked)."""
    moved: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        yield moved.get(j, j)
        moved[j] = moved.pop(i, i)


def padding_from_other_records(
    n_slots: int,
    slot: Callable[[int], tuple[int, Document]],
    own: int,
    forbidden: re.Pattern | None,
    taken: set[tuple[str, str]],
    rng: random.Random,
) -> Iterator[Document]:
    """Passages of other source records, in seeded random order, to pad a prompt to length: `slot(k)` gives
    the k-th passage and the record it belongs to; none of record `own`, none mentioning a forbidden string
    (an answer of the record), none repeating a passage already taken."""
    for k in lazy_permutation(n_slots, rng):
        owner, doc = slot(k)
        if owner == own:
            continue
        key = (doc["title"], doc["text"])
        if key in taken or (forbidden and forbidden.search(doc["title"] + "\n" + doc["text"])):
            continue
        taken.add(key)
        yield doc
