"""What every SummHay source shares: labelled documents ("[D7] ..."), insight alignment to a sentence or a
short window of sentences, fitting a haystack round several gold documents, and the citation record."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from synthctx.data.length_fitting import LengthFitter, gold_index
from synthctx.data.prompting import count_tokens
from synthctx.data.records import Record, RecordKey, document_span, make_record
from synthctx.data.tasks.summhay import CITATION_INSTRUCTION
from synthctx.data.wikipedia import split_sentences

CITATION_QUESTION = (
    'Which documents mention the following insight? Answer with their labels, separated by commas. Insight: "{insight}"'
)
# Words that carry no content: left out when matching an insight to a document's sentences (with what is
# left of contractions, such as the "s" of "Dodge's").
FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with and or but nor as is are was were be been being it its this "
    "that these those there their they he she his her we our you your i has have had do does did not "
    "will would shall should can could may might must also than then so such which who whom whose what "
    "when where while into onto about them him me my us s t d ll re ve m".split()
)
# Number words, so that "forty percent", "40 percent" and "40%" share their tokens.
UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
SCALES = {"hundred": 100, "thousand": 1000}
WORD = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+")
PER_CENT = re.compile(r"\bper cent\b")
VOWELS = frozenset("aeiouy")
# An insight may be paraphrased over up to MAX_WINDOW consecutive sentences; a longer window is chosen
# only when it adds at least WINDOW_GAIN of the insight's content words per extra sentence, so that
# neighbours sharing a word or two with the insight do not widen the span.
MAX_WINDOW = 3
WINDOW_GAIN = 0.15


def labelled_document(doc_id: str, title: str, label: str, body: str) -> dict[str, Any]:
    """A document whose text opens with its citation label, e.g. "[D7] ..."."""
    return {"doc_id": doc_id, "title": title, "text": f"[{label}] {body}"}


def label_of(document: dict[str, Any]) -> str:
    return document["text"][1 : document["text"].index("]")]


def body_offset(label: str) -> int:
    """Where the document's own text starts after its "[label] " prefix."""
    return len(label) + 3


def draw_labels(rng: random.Random, max_documents: int) -> list[str]:
    """Distinct labels "D<number>" for the candidates in the order the fitter sees them (it looks at one
    more than it keeps); random numbers, so a label says nothing about position or gold."""
    n = max_documents + 1
    return [f"D{i}" for i in rng.sample(range(1, 5 * n + 1), n)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of every sentence, line by line (SummHay documents have paragraph breaks)."""
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line in text.split("\n"):
        cursor = 0
        for sentence in split_sentences(line):
            at = line.index(sentence, cursor)
            spans.append((line_start + at, line_start + at + len(sentence)))
            cursor = at + len(sentence)
        line_start += len(line) + 1
    return spans


def stem(word: str) -> str:
    """A crude lemma: plural -s/-es/-ies cut, then -ing or -ed (a doubled final consonant undoubled), then
    -ly; a final -e dropped and -y read as -i. So "studies", "studied" and "study", or "plans", "planned"
    and "planning", meet. Words of three letters or fewer stay as they are."""
    if len(word) <= 3:
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("es") and w[:-2].endswith(("s", "x", "z", "ch", "sh")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and VOWELS & set(w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in VOWELS | {"l", "s"}:
                w = w[:-1]
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if w.endswith("y"):
        w = w[:-1] + "i"
    return w


def number_words(words: list[str]) -> list[str]:
    """Runs of number words as one number ("three hundred" -> "300", "twenty five" -> "25")."""
    out: list[str] = []
    total = current = 0
    inside = False
    for w in [*words, ""]:
        if w in UNITS or w in TENS:
            current += UNITS.get(w, TENS.get(w, 0))
            inside = True
        elif w in SCALES and inside:
            if w == "hundred":
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * SCALES[w], 0
        else:
            if inside:
                out.append(str(total + current))
                total = current = 0
                inside = False
            if w:
                out.append(w)
    return out


def content_tokens(text: str) -> list[str]:
    """The words of `text` that carry content, lightly normalised: lower case, crude lemmas, numbers
    without thousands separators ("3,300" -> "3300"), number words as digits, "%" and "per cent" as
    "percent"; single letters (initials, what is left of "U.S.") left out."""
    words: list[str] = []
    for w in WORD.findall(PER_CENT.sub("percent", text.lower())):
        if w[0].isdigit():
            if w.endswith("%"):
                words += [w[:-1].replace(",", ""), "percent"]
            else:
                words.append(w.replace(",", ""))
        else:
            words.append(w)
    return [
        t if t[0].isdigit() else stem(t)
        for t in number_words(words)
        if t not in FUNCTION_WORDS and (len(t) > 1 or t.isdigit())
    ]


class Alignment(NamedTuple):
    """Where an insight is paraphrased in a document: [start, end) in its text, the share of the insight's
    content words found there, and how many consecutive sentences the span covers."""

    start: int
    end: int
    recall: float
    sentences: int


def align_insight(text: str, insight: str) -> Alignment:
    """The sentence, or window of up to MAX_WINDOW consecutive sentences, of `text` that best paraphrases
    `insight`, by recall of the insight's (normalised) content words. Within one window size the highest
    recall wins, then the more precise, then the earlier window; a window of n sentences replaces the best
    shorter one only if its recall is higher by at least WINDOW_GAIN per extra sentence."""
    wanted = Counter(content_tokens(insight))
    size = max(1, sum(wanted.values()))
    spans = sentence_spans(text)
    have = [Counter(content_tokens(text[s:e])) for s, e in spans]
    best = Alignment(0, 0, 0.0, 0)
    for n in range(1, min(MAX_WINDOW, len(spans)) + 1):
        top: tuple[float, float, int] | None = None
        for i in range(len(spans) - n + 1):
            window = sum(have[i : i + n], Counter())
            common = sum((wanted & window).values())
            key = (common / size, common / max(1, sum(window.values())), -i)
            if top is None or key > top:
                top = key
        assert top is not None
        recall, i = top[0], -top[2]
        if best.sentences == 0 or recall >= best.recall + WINDOW_GAIN * (n - best.sentences) - 1e-9:
            best = Alignment(spans[i][0], spans[i + n - 1][1], recall, n)
    return best


class CachedFitter(LengthFitter):
    """A LengthFitter for SummHay's own instruction (longer than the short-answer one)
    that counts each rendered document's tokens once (haystacks of one topic share them)."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer, CITATION_INSTRUCTION)
        self._counts: dict[tuple[str, str, int], int] = {}

    def doc_tokens(self, doc: dict[str, Any], index: int = 0) -> int:
        key = (doc["title"], doc["text"], index)
        if key not in self._counts:
            self._counts[key] = super().doc_tokens(doc, index)
        return self._counts[key]


def prompt_tokens(fitter: LengthFitter, documents: list[dict[str, Any]], question: str) -> int:
    """Prompt length with these documents, numbered in this order (e.g. the gold documents only)."""
    return (
        fitter.overhead
        + count_tokens(fitter.tokenizer, question)
        + sum(fitter.doc_tokens(d, i) for i, d in enumerate(documents))
    )


def fit_with_golds(
    fitter: LengthFitter,
    golds: list[dict[str, Any]],
    distractors: Iterable[dict[str, Any]],
    question: str,
    target_tokens: int,
    max_documents: int,
) -> list[dict[str, Any]] | None:
    """Every gold document, then distractors while the prompt stays within target_tokens; None when the
    gold documents alone do not fit."""
    if prompt_tokens(fitter, golds, question) > target_tokens or len(golds) > max_documents:
        return None
    return fitter.fit(golds, distractors, question, target_tokens, max_documents)


def fit_and_place(
    fitter: LengthFitter,
    golds: list[dict[str, Any]],
    distractors: Iterable[dict[str, Any]],
    question: str,
    target_tokens: int,
    max_documents: int,
    rule: str | int,
    rng: random.Random,
) -> tuple[list[dict[str, Any]], list[int]] | None:
    """fit_with_golds, then place_golds; the fitter counts each document's header number as if the gold
    documents came first, so while the placed documents (counted with their real numbers) exceed
    target_tokens the last distractor goes and the same placement is drawn again. None when the gold
    documents alone do not fit."""
    chosen = fit_with_golds(fitter, golds, distractors, question, target_tokens, max_documents)
    if chosen is None:
        return None
    others = chosen[len(golds) :]
    state = rng.getstate()
    while True:
        rng.setstate(state)
        documents, positions = place_golds(golds, others, rule, rng)
        if not others or prompt_tokens(fitter, documents, question) <= target_tokens:
            return documents, positions
        others = others[:-1]


def place_golds(
    golds: list[dict[str, Any]], distractors: list[dict[str, Any]], rule: str | int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[int]]:
    """The first gold document goes where `rule` says, gold j at n*j/k further on (wrapping round);
    returns the documents and the position of each gold, in the order given."""
    n, k = len(golds) + len(distractors), len(golds)
    first = gold_index(rule, n, rng)
    positions = [(first + j * n // k) % n for j in range(k)]
    documents: list[dict[str, Any] | None] = [None] * n
    for p, doc in zip(positions, golds):
        documents[p] = doc
    rest = iter(distractors)
    return [d if d is not None else next(rest) for d in documents], positions


def citation_record(
    key: RecordKey,
    index: int,
    *,
    documents: list[dict[str, Any]],
    gold_positions: list[int],
    question: str,
    insight_spans: list[tuple[int, int, int]],
    extra: dict[str, Any],
) -> Record:
    """The record: answer = the gold labels in document order, joined by ", " (each label is an answer
    span); `gold_position` is where the first gold document (in the order given) went."""
    golds = sorted(gold_positions)
    labels = [label_of(d) for d in documents]
    spans = {
        "answer": [(i, 1, 1 + len(labels[i])) for i in golds],
        "gold_document": [document_span(documents, i) for i in golds],
        "insight": sorted(insight_spans),
    }
    return make_record(
        key,
        index,
        documents=documents,
        question=question,
        answers=[", ".join(labels[i] for i in golds)],
        spans=spans,
        gold_documents=golds,
        gold_position=gold_positions[0],
        extra={"citation_ids": labels, "gold_citation_ids": [labels[i] for i in golds], **extra},
    )
