"""Synthetic training data on two realism axes: the needle (what to retrieve) and the haystack.

needle    high: natural sentences about invented people and organisations; low: one template with
          symbolic entities ("WPFN is the place of death of ABCD."); symbolic: a key-value pair.
haystack  high: real encyclopedic text (Wikipedia summaries from a pool disjoint from the real task);
          low: repeated filler sentences; symbolic: dictionaries of random keys and values.
Every record is a pure function of (config slice, seed, index) and the tokenizer used for length.

With an LLM writer configured (config `writer`, slice key `writer`), high needles and high haystacks
are written by the LLM instead (needle: one sentence per fact; haystack: a paragraph on the title of a
pool passage). Its texts come through an on-disk cache, so records stay a function of the slice and
the cache; without a writer nothing here changes and no extra random number is drawn.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from synthctx.data.assembly import LengthFitter, place_gold
from synthctx.data.llm_writer import TextWriter, haystack_document, needle_sentence, value_offset
from synthctx.data.wikipedia import load_passages, split_sentences, summaries_path
from synthctx.records import make_record, rng_for

WRITER_SEEDS = 2**31  # per-text writer seeds are drawn from the record rng in [0, WRITER_SEEDS)

CITIES = ["Belfast", "Lyon", "Porto", "Krakow", "Tampere", "Bergen", "Graz", "Utrecht", "Seville", "Turin",
          "Bremen", "Leeds", "Aarhus", "Brno", "Ghent", "Malmo", "Cork", "Bilbao", "Dresden", "Basel",
          "Valencia", "Geelong", "Halifax", "Quebec", "Tucson", "Memphis", "Osaka", "Pune", "Recife", "Mendoza"]
OCCUPATIONS = ["botanist", "watchmaker", "cartographer", "violinist", "architect", "glassblower", "surveyor",
               "pharmacist", "bookbinder", "astronomer", "stonemason", "translator", "engraver", "chemist"]
SYLLABLES = ["bel", "mar", "dor", "vin", "tes", "lor", "cal", "den", "fra", "gor", "hal", "jun", "kel",
             "mon", "nor", "pel", "ros", "sal", "tam", "var", "wen", "zan", "lis", "ber", "cor", "dan"]
ORG_KINDS = ["Society", "Institute", "Company", "Guild", "Observatory", "Foundation"]

# relation -> (value kind, natural templates, natural question, symbolic phrase)
RELATIONS: dict[str, tuple[str, list[str], str, str]] = {
    "place_of_death": ("city", [
        "At the age of {age}, {entity} died in {value}.",
        "{entity} spent the final years of a long life in {value}, and died there in {year}.",
        "In {year}, {entity} passed away in {value} after a short illness.",
    ], "Where did {entity} die?", "place of death"),
    "place_of_birth": ("city", [
        "{entity} was born in {value} in {year}.",
        "Born in {value}, {entity} left home at the age of {age}.",
        "The records of {value} list {entity} among the children born there in {year}.",
    ], "Where was {entity} born?", "place of birth"),
    "occupation": ("occupation", [
        "For most of a long career, {entity} worked as a {value}.",
        "{entity} trained as a {value} and kept at that trade until the age of {age}.",
    ], "What was the occupation of {entity}?", "occupation"),
    "founding_year": ("year", [
        "The {entity} was founded in {value} by a group of local merchants.",
        "Records show that the {entity} opened its doors in {value}.",
    ], "In which year was the {entity} founded?", "founding year"),
}


def writer_for(use: str, level: str, cfg: dict[str, Any], writer: TextWriter | None) -> TextWriter | None:
    """The writer for one use ("needle" or "haystack") at this level, or None for the offline text.

    Only the slice decides (it is what the workflow tracks); a writer handed in without a slice
    section, or a section without a writer, is an error rather than a silent fallback."""
    section = cfg.get("writer")
    if not section:
        if writer is not None:
            raise ValueError("a writer was given but the config slice has no `writer` section")
        return None
    if writer is None:
        raise ValueError("the config slice has a `writer` section but no writer was given "
                         "(the CLI creates it once with llm_writer.writer_from_config)")
    return writer if level == "high" and use in section["use_for"] else None


def written_needle(writer: TextWriter, phrase: str, entity: str, value: str, rng: random.Random) -> tuple[str, int]:
    """An LLM-written needle sentence and the offset of `value` in it; the seed comes from the record rng."""
    sentence = needle_sentence(writer, phrase, entity, value, rng.randrange(WRITER_SEEDS))
    return sentence, value_offset(sentence, entity, value)


def invented_name(rng: random.Random) -> str:
    first = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
    return f"{first} {last}"


def symbol(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(length))


def make_needle(level: str, cfg: dict[str, Any], rng: random.Random,
                writer: TextWriter | None = None) -> dict[str, Any]:
    """A fact to retrieve: its sentence (or key-value pair), the question and the answer.

    With a writer (level high only), the sentence is the LLM's and `answer_offset` says where the
    answer stands in it; the template sentence is still drawn first, so the rng path up to there is
    the offline one."""
    if level == "symbolic":
        n = cfg["symbol_length"]
        container, key, value = symbol(rng, n), symbol(rng, n), symbol(rng, n)
        return {"unit": f"'{key}': '{value}'", "sentence": f"{container} {{'{key}': '{value}'}}",
                "question": f"What is the value of the key '{key}' in the dictionary {container}?",
                "answer": value, "container": container}
    relation = rng.choice(sorted(cfg["relations"]))
    kind, templates, question, phrase = RELATIONS[relation]
    year = rng.randrange(1820, 2000)
    value = {"city": lambda: rng.choice(CITIES), "occupation": lambda: rng.choice(OCCUPATIONS),
             "year": lambda: str(year)}[kind]()
    if level == "high":
        entity = invented_name(rng)
        if relation == "founding_year":
            entity = f"{invented_name(rng).split()[1]} {rng.choice(ORG_KINDS)}"
        sentence = rng.choice(templates).format(entity=entity, value=value, age=rng.randrange(25, 95),
                                                year=year if kind != "year" else rng.randrange(1820, 2000))
        q = question.format(entity=entity)
        if writer is not None:
            sentence, at = written_needle(writer, phrase, entity, value, rng)
            return {"unit": f"'{sentence}'", "sentence": sentence, "question": q, "answer": value, "container": None,
                    "answer_offset": at}
    else:  # low: one template, symbolic entities
        entity = symbol(rng, cfg["symbol_length"])
        if kind != "year":
            value = symbol(rng, cfg["symbol_length"])
        sentence = f"{value} is the {phrase} of {entity}."
        q = f"What is the {phrase} of {entity}?"
    return {"unit": f"'{sentence}'", "sentence": sentence, "question": q, "answer": value, "container": None}


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


def haystack_stream(level: str, cfg: dict[str, Any], rng: random.Random, pool, writer: TextWriter | None = None,
                    words: int = 0) -> Iterator[dict[str, Any]]:
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


def haystack_without(level: str, cfg: dict[str, Any], rng: random.Random, pool,
                     mentions: Callable[[str], bool], writer: TextWriter | None = None,
                     words: int = 0) -> Iterator[dict[str, Any]]:
    """Haystack documents whose title and text do not `mentions` the needle, each passage (or, with a
    writer, each topic) at most once."""
    seen: set[str] = set()
    for doc in haystack_stream(level, cfg, rng, pool, writer, words):
        if doc.get("id") in seen or mentions(doc["title"] + "\n" + render_units(doc)):
            continue
        if "id" in doc:
            seen.add(doc["id"])
        yield doc


def insert_needle(doc: dict[str, Any], needle: dict[str, Any], as_unit: bool, rng: random.Random) -> tuple[str, int]:
    """Put the needle between two units of the gold document; returns (text, answer offset).

    In a dictionary haystack the needle goes in as a dictionary item, elsewhere as a sentence. A needle
    with `answer_offset` (an LLM sentence) says where its answer stands; otherwise it is the first match."""
    unit = needle["unit"] if as_unit else needle["sentence"]
    within = unit.index(needle["sentence"]) + needle["answer_offset"] if "answer_offset" in needle \
        else unit.index(needle["answer"])
    at = rng.randrange(len(doc["units"]) + 1)
    units = doc["units"][:at] + [unit] + doc["units"][at:]
    left, right = doc["wrap"]
    prefix = left + doc["joiner"].join(units[:at]) + (doc["joiner"] if at else "")
    text = left + doc["joiner"].join(units) + right
    offset = len(prefix) + within
    assert text[offset:offset + len(needle["answer"])] == needle["answer"]
    return text, offset


@dataclass
class Variant:
    """What every synthetic builder starts from, for one (task, needle, haystack, seed)."""
    needle_writer: TextWriter | None
    haystack_writer: TextWriter | None
    pool: tuple  # synthetic-pool passages for a high haystack, else empty
    rng: random.Random
    fitter: LengthFitter


def variant(task: str, needle_level: str, haystack_level: str, cfg: dict[str, Any], seed: int, tokenizer,
            writer: TextWriter | None) -> Variant:
    pool = load_passages(str(summaries_path(cfg["text_package"])), cfg["max_passage_words"])["synthetic"] \
        if haystack_level == "high" else ()
    return Variant(writer_for("needle", needle_level, cfg, writer), writer_for("haystack", haystack_level, cfg, writer),
                   pool, rng_for(task, needle_level, haystack_level, "train", seed), LengthFitter(tokenizer))


def build_synthetic(task: str, needle_level: str, haystack_level: str, cfg: dict[str, Any], n_examples: int,
                    seed: int, tokenizer, writer: TextWriter | None = None) -> list[dict[str, Any]]:
    """`cfg` holds: text_package, max_passage_words, target_tokens, max_documents, gold_position, the
    needle and haystack slices for this variant (`needle`, `haystack`) and, when an LLM writes the high
    needle or haystack, `writer` (with `use_for`); `writer` is then the cached writer built from it."""
    v = variant(task, needle_level, haystack_level, cfg, seed, tokenizer, writer)
    needle_writer, haystack_writer, pool, rng, fitter = v.needle_writer, v.haystack_writer, v.pool, v.rng, v.fitter
    records = []
    while len(records) < n_examples:
        needle = make_needle(needle_level, cfg["needle"], rng, needle_writer)
        answer = needle["answer"]
        stream = (d for d in haystack_stream(haystack_level, cfg["haystack"], rng, pool, haystack_writer,
                                             cfg["max_passage_words"])
                  if answer not in render_units(d) and (needle["container"] is None or d["title"] != needle["container"]))
        gold = next(stream)
        if haystack_level == "symbolic" and needle_level == "symbolic":
            gold["title"] = needle["container"]
        text, offset = insert_needle(gold, needle, haystack_level == "symbolic", rng)
        if text.count(answer) != 1:
            continue
        i = len(records)
        gold_doc = {"doc_id": f"synthetic:{i}:gold", "title": gold["title"], "text": text}
        distractors = ({"doc_id": d.get("id", f"synthetic:{i}:{k}"), "title": d["title"], "text": render_units(d)}
                       for k, d in enumerate(stream))
        chosen = fitter.fit([gold_doc], distractors, needle["question"], cfg["target_tokens"], cfg["max_documents"])
        documents, g = place_gold(chosen, cfg["gold_position"], rng)
        records.append(make_record(
            task=task, split="train", needle=needle_level, haystack=haystack_level, seed=seed, index=i,
            documents=documents, gold_index=g, question=needle["question"], answers=[answer], answer_start=offset,
            extra={"target_tokens": cfg["target_tokens"]}))
    return records
