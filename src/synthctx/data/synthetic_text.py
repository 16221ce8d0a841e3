"""The synthetic-text toolbox every task's generator draws from: invented names, places and symbols,
haystack documents on the three realism levels, needle insertion, and the per-variant setup
(writers, Wikipedia pool, seeded generator, length fitter).

haystack  high: real encyclopedic text (Wikipedia summaries from a pool disjoint from the real tasks);
          low: repeated filler sentences; symbolic: dictionaries of random keys and values.
With an LLM writer configured (slice key `writer`), high needles and high haystacks are written by the
LLM instead. Its texts come through an on-disk cache, so records stay a function of the slice and the
cache; without a writer nothing changes and no extra random number is drawn.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from synthctx.data.length_fitting import LengthFitter
from synthctx.data.llm_writer import TextWriter, haystack_document, needle_sentence, value_offset
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import DataError, Needle, rng_for
from synthctx.data.wikipedia import load_passages, split_sentences, summaries_path

WRITER_SEEDS = 2**31  # per-text writer seeds are drawn from the record rng in [0, WRITER_SEEDS)

CITIES = [
    "Belfast",
    "Lyon",
    "Porto",
    "Krakow",
    "Tampere",
    "Bergen",
    "Graz",
    "Utrecht",
    "Seville",
    "Turin",
    "Bremen",
    "Leeds",
    "Aarhus",
    "Brno",
    "Ghent",
    "Malmo",
    "Cork",
    "Bilbao",
    "Dresden",
    "Basel",
    "Valencia",
    "Geelong",
    "Halifax",
    "Quebec",
    "Tucson",
    "Memphis",
    "Osaka",
    "Pune",
    "Recife",
    "Mendoza",
]
SYLLABLES = [
    "bel",
    "mar",
    "dor",
    "vin",
    "tes",
    "lor",
    "cal",
    "den",
    "fra",
    "gor",
    "hal",
    "jun",
    "kel",
    "mon",
    "nor",
    "pel",
    "ros",
    "sal",
    "tam",
    "var",
    "wen",
    "zan",
    "lis",
    "ber",
    "cor",
    "dan",
]


def invented_name(rng: random.Random) -> str:
    first = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
    return f"{first} {last}"


def symbol(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(length))


def distinct_symbols(rng: random.Random, length: int, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        s = symbol(rng, length)
        if s not in out:
            out.append(s)
    return out


def writer_for(use: str, level: str, cfg: dict[str, Any], writer: TextWriter | None) -> TextWriter | None:
    """The writer for one use ("needle" or "haystack") at this level, or None for the offline text.

    Only the slice decides (it is what the workflow tracks); a writer handed in without a slice
    section, or a section without a writer, is an error rather than a silent fallback."""
    section = cfg.get("writer")
    if not section:
        if writer is not None:
            raise DataError("a writer was given but the config slice has no `writer` section")
        return None
    if writer is None:
        raise DataError(
            "the config slice has a `writer` section but no writer was given "
            "(the CLI creates it once with llm_writer.writer_from_slice)"
        )
    return writer if level == "high" and use in section["use_for"] else None


def written_needle(writer: TextWriter, phrase: str, entity: str, value: str, rng: random.Random) -> tuple[str, int]:
    """An LLM-written needle sentence and the offset of `value` in it; the seed comes from the record rng."""
    sentence = needle_sentence(writer, phrase, entity, value, rng.randrange(WRITER_SEEDS))
    return sentence, value_offset(sentence, entity, value)


def _filler_doc(cfg: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    sentences = split_sentences(cfg["filler"])
    start = rng.randrange(len(sentences))
    out: list[str] = []
    while sum(len(s.split()) for s in out) < cfg["document_words"]:
        out.append(sentences[(start + len(out)) % len(sentences)])
    return {"title": "", "units": out, "joiner": " ", "wrap": ("", "")}


def _dict_doc(cfg: dict[str, Any], rng: random.Random, name: str | None = None) -> dict[str, Any]:
    n = cfg["symbol_length"]
    units = [f"'{symbol(rng, n)}': '{symbol(rng, n)}'" for _ in range(cfg["keys_per_dict"])]
    return {"title": name or symbol(rng, n), "units": units, "joiner": ", ", "wrap": ("{", "}")}


def render_units(doc: dict[str, Any]) -> str:
    """A haystack document's text: its units joined and wrapped."""
    left, right = doc["wrap"]
    return left + doc["joiner"].join(doc["units"]) + right


def haystack_stream(
    level: str, cfg: dict[str, Any], rng: random.Random, pool, writer: TextWriter | None = None, words: int = 0
) -> Iterator[dict[str, Any]]:
    """Endless documents of one haystack level (unit lists, so a needle can be inserted between units).

    With a writer (level high), each document is an LLM paragraph of about `words` words on the title
    of the pool passage the offline stream would have used; the title is kept, the text replaced."""
    while True:
        if level == "high":
            p = pool[rng.randrange(len(pool))]
            if writer is None:
                text, doc_id = p.text, f"wiki:{p.title}"
            else:
                text, doc_id = haystack_document(writer, p.title, words, rng.randrange(WRITER_SEEDS)), f"llm:{p.title}"
            yield {"title": p.title, "units": split_sentences(text), "joiner": " ", "wrap": ("", ""), "id": doc_id}
        elif level == "low":
            yield _filler_doc(cfg, rng)
        else:
            yield _dict_doc(cfg, rng)


def haystack_without(
    level: str,
    cfg: dict[str, Any],
    rng: random.Random,
    pool,
    mentions: Callable[[str], bool],
    writer: TextWriter | None = None,
    words: int = 0,
) -> Iterator[dict[str, Any]]:
    """Haystack documents whose title and text do not `mentions` the needle, each passage (or, with a
    writer, each topic) at most once."""
    seen: set[str] = set()
    for doc in haystack_stream(level, cfg, rng, pool, writer, words):
        if doc.get("id") in seen or mentions(doc["title"] + "\n" + render_units(doc)):
            continue
        if "id" in doc:
            seen.add(doc["id"])
        yield doc


def insert_needle(doc: dict[str, Any], needle: Needle, as_unit: bool, rng: random.Random) -> tuple[str, int]:
    """Put the needle between two units of the haystack document; returns (text, answer offset).

    In a dictionary haystack the needle goes in as a dictionary item, elsewhere as a sentence."""
    unit = needle.unit if as_unit else needle.sentence
    within = (
        unit.index(needle.sentence) + needle.answer_offset
        if needle.answer_offset is not None
        else unit.index(needle.answer)
    )
    at = rng.randrange(len(doc["units"]) + 1)
    units = doc["units"][:at] + [unit] + doc["units"][at:]
    left, right = doc["wrap"]
    prefix = left + doc["joiner"].join(units[:at]) + (doc["joiner"] if at else "")
    text = left + doc["joiner"].join(units) + right
    offset = len(prefix) + within
    assert text[offset : offset + len(needle.answer)] == needle.answer
    return text, offset


@dataclass
class Variant:
    """What every synthetic builder starts from, for one (task, needle, haystack, seed)."""

    needle_writer: TextWriter | None
    haystack_writer: TextWriter | None
    pool: tuple  # synthetic-pool passages for a high haystack, else empty
    rng: random.Random
    fitter: LengthFitter


def variant(
    task: str,
    needle_level: str,
    haystack_level: str,
    cfg: dict[str, Any],
    seed: int,
    tokenizer,
    writer: TextWriter | None,
) -> Variant:
    pool = (
        load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])["synthetic"]
        if haystack_level == "high"
        else ()
    )
    return Variant(
        writer_for("needle", needle_level, cfg, writer),
        writer_for("haystack", haystack_level, cfg, writer),
        pool,
        rng_for(task, needle_level, haystack_level, "train", seed),
        # Every task's synthetic sets are fitted with the short-answer prompt, SummHay's included.
        LengthFitter(tokenizer, ANSWER_INSTRUCTION),
    )
