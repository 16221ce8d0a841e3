"""Answer-scoring metrics: SQuAD F1, substring exact match, ROUGE-1 recall."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Iterable

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalisation, so answers differing only in case, punctuation,
    articles or spacing compare equal."""
    lowered = s.lower()
    no_punct = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _tokens(s: str) -> list[str]:
    """Whitespace tokens of the normalised string."""
    return normalize_answer(s).split()


def _overlap(a: list[str], b: list[str]) -> int:
    """Multiset (clipped) count of tokens shared by a and b."""
    return sum((Counter(a) & Counter(b)).values())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token-level F1 on normalised tokens; gives partial credit for
    near-miss free-form answers."""
    pred, ref = _tokens(prediction), _tokens(gold)
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    common = _overlap(pred, ref)
    if common == 0:
        return 0.0
    precision = common / len(pred)
    recall = common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _scorable(golds: list[str]) -> list[str]:
    """The golds that keep a token after normalisation. A gold that normalises to nothing (blank, or only an
    article or punctuation) would give an empty prediction full credit, so it counts only when no other does."""
    if not golds:
        raise ValueError("golds must contain at least one gold answer")
    return [g for g in golds if _tokens(g)] or golds


def max_token_f1(prediction: str, golds: list[str]) -> float:
    """Best token F1 over all acceptable gold answers, as in the SQuAD evaluator (blank golds aside)."""
    return max(token_f1(prediction, g) for g in _scorable(golds))


def substring_exact_match(prediction: str, golds: list[str]) -> float:
    """1.0 if any normalised gold occurs inside the normalised prediction
    (Liu et al. 'Lost in the Middle'), tolerating verbose generations."""
    pred = normalize_answer(prediction)
    for g in _scorable(golds):
        ref = normalize_answer(g)
        if ref and ref in pred:
            return 1.0
    return 0.0


def rouge1_recall(prediction: str, gold: str) -> float:
    """Clipped unigram recall of gold tokens in the prediction; Wu et al.'s
    retrieval-success gate is this value > 0.5. An empty gold scores 0.0."""
    pred, ref = _tokens(prediction), _tokens(gold)
    if not ref:
        return 0.0
    return _overlap(pred, ref) / len(ref)


_CITATION_LABEL = re.compile(r"(?<![A-Za-z0-9])([A-Za-z])0*(\d+)(?![A-Za-z0-9])")


def parse_citations(text: str, valid_labels: Collection[str] | None = None) -> list[str]:
    """Citation labels (a letter and a number, e.g. D12) in a free-form answer, in order of first
    mention; written as "D12" whatever the case or leading zeros, so "[d012]" cites D12."""
    labels: list[str] = []
    for m in _CITATION_LABEL.finditer(text):
        label = m.group(1).upper() + m.group(2)
        if label not in labels and (valid_labels is None or label in valid_labels):
            labels.append(label)
    return labels


def citation_prf(predicted: Iterable[str], gold: Iterable[str]) -> dict[str, float]:
    """Citation precision, recall and F1 over sets of labels (a repeated citation counts once).
    Both empty: all 1.0; only one empty: all 0.0."""
    pred, ref = set(predicted), set(gold)
    if not pred and not ref:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    hits = len(pred & ref)
    if hits == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall = hits / len(pred), hits / len(ref)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}
