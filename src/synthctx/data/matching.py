"""Finding answers and mentions in real text: whole words before substrings, exact case before any case."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def find_answer(text: str, candidates: list[str]) -> tuple[str, int] | None:
    """(form in text, offset) of the first candidate found: whole words before substrings, exact case
    before any case, so a short answer ("US") is not taken from inside a longer word ("Russia")."""
    for flags, bounded in ((0, True), (re.IGNORECASE, True), (0, False), (re.IGNORECASE, False)):
        for c in candidates:
            if not c:
                continue
            pattern = rf"(?<!\w){re.escape(c)}(?!\w)" if bounded else re.escape(c)
            if m := re.search(pattern, text, flags):
                return m.group(0), m.start()
    return None


def mentions_any(strings: Iterable[str]) -> re.Pattern | None:
    """A case-insensitive whole-word matcher for any of `strings` (None when there are none)."""
    alts = sorted({s for s in strings if s}, key=len, reverse=True)
    return re.compile("|".join(rf"(?<!\w){re.escape(s)}(?!\w)" for s in alts), re.IGNORECASE) if alts else None


def question_key(question: str) -> str:
    """The normalised question: Unicode-compatibility form, case-folded, runs of non-word characters
    (punctuation, spacing) collapsed to one space. Questions with equal keys are the same question."""
    return " ".join(re.sub(r"\W+", " ", unicodedata.normalize("NFKC", question).casefold()).split())
