"""MuSiQue: multi-hop questions whose answer is copied from the last hop's paragraph.

Three sources, one record schema (task "musique"):
- official MuSiQue-Ans files or a hub data set: the record's own paragraphs, padded to the target
  length with paragraphs of other records that hold none of this record's hop answers;
- an embedded miniature from the offline Wikipedia text: passage A mentions the title of passage B,
  and B mentions one year (bridge = B's title inside A, answer = the year inside B);
- synthetic chains of relations on the needle/haystack realism axes, one hop per document (with an
  LLM writer configured, high needles and high haystacks are written by it, see synthetic.py).
Spans: `answer` (the final answer in the last hop's document), `insight` (each earlier hop's answer in
its own document), `gold_document` (every supporting document's text).
"""
from __future__ import annotations

import random
import re
from functools import lru_cache
from itertools import chain
from typing import Any, Iterable, Iterator

from synthctx.data.assembly import LengthFitter, place_gold
from synthctx.data.llm_writer import TextWriter
from synthctx.data.mdqa_files import RecordError, iter_raw
from synthctx.data.real_mdqa import year_question
from synthctx.data.synthetic import (CITIES, haystack_without, insert_needle, invented_name,
                                     render_units, symbol, variant, written_needle)
from synthctx.data.wikipedia import Passage, load_passages, summaries_path
from synthctx.records import build_context_spans, document_span, rng_for

TASK = "musique"
HOP_COUNTS = (2, 3)

# Invented countries, so that no chain can be answered from the model's knowledge of the world.
COUNTRIES = ["Aldoria", "Brevania", "Castova", "Dunmere", "Estravia", "Feldmark", "Galvonia", "Ilvania",
             "Karsland", "Lorvenia", "Marovia", "Ostmere", "Pelloria", "Quessania", "Rovenia", "Sarnovia",
             "Tellmark", "Ulvaria", "Vessaria", "Wendholm", "Zarovia", "Norvessa", "Halmora", "Brisland"]
CURRENCIES = ["florin", "ducat", "thaler", "guilder", "escudo", "shilling", "dinar", "drachma", "zloty",
              "forint", "koruna", "markka", "kwacha", "rupiah", "tenge", "lempira", "quetzal", "balboa"]

# One natural relation per hop of the chain person -> city -> country -> currency.
HIGH_TEMPLATES = [
    ["At the age of {age}, {subject} died in {value}.",
     "{subject} spent the final years of a long life in {value}, and died there in {year}.",
     "In {year}, {subject} passed away in {value} after a short illness."],
    ["{subject} lies in {value}.",
     "{subject} is a river port in the north of {value}.",
     "The town of {subject} became part of {value} in {year}."],
    ["The currency of {subject} is the {value}.",
     "Shops in {subject} take payment in the {value}.",
     "Since {year}, {subject} has used the {value} as its money."],
]
HIGH_HOP_QUESTIONS = ["Where did {subject} die?", "In which country does {subject} lie?",
                      "What is the currency of {subject}?"]
HIGH_QUESTIONS = {2: "In which country did {start} die?", 3: "What currency is used in the country where {start} died?"}
LOW_PHRASES = ["place of death", "country", "currency"]
# The relation of each hop as the LLM writer is asked to state it ("{value} is the {phrase} of {subject}").
WRITER_PHRASES = ["place of death", "country it lies in", "currency"]


# ---------------------------------------------------------------- shared assembly

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


def fill(fitter: LengthFitter, required: list[dict[str, Any]], candidates: Iterable[dict[str, Any]],
         question: str, target_tokens: int, max_documents: int) -> list[dict[str, Any]]:
    """The candidates that fit beside the required documents (always kept), in order, until one does not."""
    return fitter.fit(required, candidates, question, target_tokens, max_documents)[len(required):]


def interleave(first: list[Any], second: list[Any], rng: random.Random) -> list[Any]:
    """A random merge of two lists that keeps each one's order."""
    at = set(rng.sample(range(len(first) + len(second)), len(first)))
    a, b = iter(first), iter(second)
    return [next(a) if i in at else next(b) for i in range(len(first) + len(second))]


def assemble(*, needle: str, haystack: str, split: str, seed: int, index: int, gold: dict[str, Any],
             others: list[dict[str, Any]], gold_rule: str | int, rng: random.Random, question: str,
             answers: list[str], answer_at: tuple[str, int], insights: list[tuple[str, int, int]],
             supporting_ids: list[str], hops: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """Place the last hop's document by `gold_rule` and build the record; spans are given per doc_id.

    `answer_at` is (doc_id, offset) of answers[0]; `insights` are (doc_id, start, end)."""
    documents, g = place_gold([gold] + others, gold_rule, rng)
    pos = {d["doc_id"]: i for i, d in enumerate(documents)}
    doc_id, offset = answer_at
    context, spans = build_context_spans(documents, {
        "answer": [(pos[doc_id], offset, offset + len(answers[0]))],
        "insight": [(pos[d], s, e) for d, s, e in insights],
        "gold_document": [document_span(documents, pos[d]) for d in supporting_ids],
    })
    return {
        "id": f"{TASK}-{needle}-{haystack}-{split}-s{seed}-{index:05d}",
        "task": TASK, "split": split, "needle_realism": needle, "haystack_realism": haystack, "seed": seed,
        "question": question, "answers": answers, "documents": documents, "gold_doc_ids": supporting_ids,
        "gold_position": g, "context": context, "spans": spans, "hops": hops, **extra,
    }


def unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# ---------------------------------------------------------------- official MuSiQue-Ans files / hub

def _rows(value: Any) -> Any:
    """Hub data sets may store a list of records as a dict of columns; turn it back into rows."""
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        n = {len(v) for v in value.values()}
        if len(n) == 1:
            return [dict(zip(value, row)) for row in zip(*value.values())]
    return value


def check_musique_record(origin: str, line: int, raw: dict[str, Any]) -> None:
    """Fail naming file, line and field on anything the builder would trip over."""
    def fail(field: str, why: str) -> None:
        raise RecordError(f"{origin}:{line}: field '{field}': {why}")

    def nonempty_str(v: Any) -> bool:
        return isinstance(v, str) and bool(v.strip())

    for field in ("id", "question", "answer"):
        if not nonempty_str(raw.get(field)):
            fail(field, "missing or not a non-empty string")
    aliases = raw.get("answer_aliases")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        fail("answer_aliases", "missing or not a list of strings")
    if raw.get("answerable", True) is not True:
        fail("answerable", "only answerable records (MuSiQue-Ans) can be built")
    paragraphs = raw.get("paragraphs")
    if not isinstance(paragraphs, list) or not paragraphs:
        fail("paragraphs", "missing or not a non-empty list")
    by_idx: dict[int, dict[str, Any]] = {}
    for i, p in enumerate(paragraphs):
        if not isinstance(p, dict):
            fail(f"paragraphs[{i}]", "not an object")
        if not isinstance(p.get("idx"), int) or isinstance(p.get("idx"), bool) or p["idx"] in by_idx:
            fail(f"paragraphs[{i}].idx", "missing, not an integer, or repeated")
        if not isinstance(p.get("title"), str):
            fail(f"paragraphs[{i}].title", "missing or not a string")
        if not isinstance(p.get("paragraph_text"), str):
            fail(f"paragraphs[{i}].paragraph_text", "missing or not a string")
        if not isinstance(p.get("is_supporting"), bool):
            fail(f"paragraphs[{i}].is_supporting", "missing or not a boolean")
        if p["is_supporting"] and not p["paragraph_text"].strip():
            fail(f"paragraphs[{i}].paragraph_text", "a supporting paragraph is empty")
        by_idx[p["idx"]] = p
    hops = raw.get("question_decomposition")
    if not isinstance(hops, list) or len(hops) < 2:
        fail("question_decomposition", "missing or fewer than two hops")
    for i, hop in enumerate(hops):
        if not isinstance(hop, dict):
            fail(f"question_decomposition[{i}]", "not an object")
        for field in ("question", "answer"):
            if not nonempty_str(hop.get(field)):
                fail(f"question_decomposition[{i}].{field}", "missing or not a non-empty string")
        ref = hop.get("paragraph_support_idx")
        if not isinstance(ref, int) or isinstance(ref, bool) or ref not in by_idx:
            fail(f"question_decomposition[{i}].paragraph_support_idx", f"{ref!r} is not the idx of a paragraph")
        if not by_idx[ref]["is_supporting"]:
            fail(f"question_decomposition[{i}].paragraph_support_idx", f"paragraph idx {ref} is not marked is_supporting")


def _lazy_permutation(n: int, rng: random.Random) -> Iterator[int]:
    """range(n) in random order, drawn one at a time (a Fisher-Yates shuffle that stops when asked)."""
    moved: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        yield moved.get(j, j)
        moved[j] = moved.pop(i, i)


def _padding(raws: list[tuple[str, int, dict[str, Any]]], slots: list[tuple[int, int]], own: int,
             forbidden: re.Pattern | None, taken: set[tuple[str, str]], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Paragraphs of other records in random order, none holding a forbidden string or repeating one taken."""
    for k in _lazy_permutation(len(slots), rng):
        r, p = slots[k]
        if r == own:
            continue
        origin, line, raw = raws[r]
        para = raw["paragraphs"][p]
        key = (para["title"], para["paragraph_text"])
        if key in taken or (forbidden and forbidden.search(para["title"] + "\n" + para["paragraph_text"])):
            continue
        taken.add(key)
        yield {"doc_id": f"{origin}:{line}:{para['idx']}", "title": para["title"], "text": para["paragraph_text"]}


def build_musique_from_files(cfg: dict[str, Any], split: str, n_examples: int, seed: int,
                             tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official MuSiQue-Ans data, and the number dropped because a hop's answer does not
    occur in its supporting paragraph (only with `source.on_unalignable: drop`; otherwise an error)."""
    source = cfg["source"]
    raws = []
    for origin, line, raw in iter_raw(source, split):
        raw = {**raw, "paragraphs": _rows(raw.get("paragraphs")),
               "question_decomposition": _rows(raw.get("question_decomposition"))}
        check_musique_record(origin, line, raw)  # every record is checked before any is built
        raws.append((origin, line, raw))
    slots = [(r, p) for r, (_, _, raw) in enumerate(raws) for p in range(len(raw["paragraphs"]))]
    rng = rng_for(TASK, "real-files", split, seed)
    order = list(range(len(raws)))
    rng.shuffle(order)
    fitter = LengthFitter(tokenizer)
    records: list[dict[str, Any]] = []
    dropped = 0
    for r in order:
        if len(records) >= n_examples:
            break
        origin, line, raw = raws[r]
        docs = [{"doc_id": f"{origin}:{line}:{p['idx']}", "title": p["title"], "text": p["paragraph_text"]}
                for p in raw["paragraphs"]]
        at = {p["idx"]: i for i, p in enumerate(raw["paragraphs"])}
        hops = raw["question_decomposition"]
        hop_docs = [at[h["paragraph_support_idx"]] for h in hops]
        final = find_answer(docs[hop_docs[-1]]["text"], [raw["answer"], *raw["answer_aliases"], hops[-1]["answer"]])
        found = [find_answer(docs[d]["text"], [h["answer"]]) for h, d in zip(hops[:-1], hop_docs)] + [final]
        missing = next((i for i, f in enumerate(found) if f is None), None)
        if missing is not None:
            field = "answer" if missing == len(hops) - 1 else f"question_decomposition[{missing}].answer"
            if source["on_unalignable"] == "error":
                raise RecordError(
                    f"{origin}:{line}: field '{field}': the answer does not occur in its supporting paragraph "
                    f"idx {hops[missing]['paragraph_support_idx']} (set on_unalignable: drop to skip and count such records)")
            dropped += 1
            continue
        form, offset = final
        answers = unique([form, raw["answer"], *raw["answer_aliases"]])
        supporting = unique([docs[d]["doc_id"] for d in hop_docs]
                            + [docs[i]["doc_id"] for i, p in enumerate(raw["paragraphs"]) if p["is_supporting"]])
        required = [d for d in docs if d["doc_id"] in supporting]
        own_rest = [d for d in docs if d["doc_id"] not in supporting]
        forbidden = mentions_any([*answers, *(f[0] for f in found), *(h["answer"] for h in hops)])
        taken = {(d["title"], d["text"]) for d in docs}
        chosen = fill(fitter, required, chain(own_rest, _padding(raws, slots, r, forbidden, taken, rng)),
                      raw["question"], cfg["target_tokens"], cfg["max_documents"])
        chosen_ids = {d["doc_id"] for d in chosen}
        gold = docs[hop_docs[-1]]
        own = [d for d in docs if d is not gold and (d["doc_id"] in supporting or d["doc_id"] in chosen_ids)]
        extras = [d for d in chosen if d not in own_rest]
        records.append(assemble(
            needle="real", haystack="real", split=split, seed=seed, index=len(records), gold=gold,
            others=interleave(own, extras, rng), gold_rule=cfg["gold_position"], rng=rng, question=raw["question"],
            answers=answers, answer_at=(gold["doc_id"], offset),
            insights=[(docs[d]["doc_id"], o, o + len(f)) for (f, o), d in zip(found[:-1], hop_docs)],
            supporting_ids=supporting,
            hops=[{"id": h.get("id"), "question": h["question"], "answer": h["answer"], "doc_id": docs[d]["doc_id"]}
                  for h, d in zip(hops, hop_docs)],
            extra={"target_tokens": cfg["target_tokens"], "source": f"{origin}:{line}", "source_id": raw["id"]}))
    if len(records) < n_examples:
        raise RecordError(f"real MuSiQue {split}: only {len(records)} of {n_examples} usable records in the source "
                          f"({dropped} dropped as unalignable)")
    return records, dropped


# ---------------------------------------------------------------- embedded miniature (offline Wikipedia)

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
        hits = [(t, at) for t, at in title_mentions(passage.text, titles)
                if t != passage.title and _title_is_specific(t)]
        if len(hits) != 1:
            continue
        (title, bridge_at), = hits
        b = index[title]
        qa = year_question(pool[b])
        if qa is None or qa[1] in passage.title + "\n" + passage.text + "\n" + title:
            continue
        chains.append((a, b, bridge_at, qa[2], qa[1]))
    return tuple(chains)


def _wiki_doc(p: Passage) -> dict[str, Any]:
    return {"doc_id": f"wiki:{p.title}", "title": p.title, "text": p.text}


def build_real_musique(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> list[dict[str, Any]]:
    """`n_examples` two-hop records of the embedded real task's `split`, a pure function of its inputs."""
    path = str(summaries_path(cfg["text_package"]))
    pool = load_passages(path, cfg["max_passage_words"])[f"real_{split}"]
    chains = list(two_hop_chains(path, cfg["max_passage_words"], f"real_{split}"))
    titles = _titles_by_first_word(path, cfg["max_passage_words"], f"real_{split}")
    if len(chains) < n_examples:
        raise ValueError(f"real MuSiQue {split}: only {len(chains)} two-hop chains in the {len(pool)} passages of "
                         f"the pool, {n_examples} asked (lower tasks.musique.n_{split} or raise max_passage_words)")
    rng = rng_for(TASK, "real", split, seed)
    rng.shuffle(chains)
    fitter = LengthFitter(tokenizer)
    records = []
    for a, b, bridge_at, year_at, year in chains[:n_examples]:
        doc_a, doc_b = _wiki_doc(pool[a]), _wiki_doc(pool[b])
        question = (f'The document about "{pool[a].title}" mentions a subject that has a document of its own. '
                    f'Which year is mentioned in that document?')
        # no distractor holds the year or B's title, nor is about any other subject A mentions
        bridge = mentions_any([pool[b].title])
        mentioned = {t for t, _ in title_mentions(pool[a].text, titles)}
        order = list(range(len(pool)))
        rng.shuffle(order)
        candidates = (_wiki_doc(p) for p in (pool[i] for i in order if i not in (a, b))
                      if p.title not in mentioned and year not in p.title + "\n" + p.text
                      and not bridge.search(p.title + "\n" + p.text))
        distractors = fill(fitter, [doc_b, doc_a], candidates, question, cfg["target_tokens"], cfg["max_documents"])
        records.append(assemble(
            needle="real", haystack="real", split=split, seed=seed, index=len(records), gold=doc_b,
            others=interleave([doc_a], distractors, rng), gold_rule=cfg["gold_position"], rng=rng, question=question,
            answers=[year], answer_at=(doc_b["doc_id"], year_at),
            insights=[(doc_a["doc_id"], bridge_at, bridge_at + len(pool[b].title))],
            supporting_ids=[doc_a["doc_id"], doc_b["doc_id"]],
            hops=[{"question": f'Which subject with a document of its own does the document about "{pool[a].title}" mention?',
                   "answer": pool[b].title, "doc_id": doc_a["doc_id"]},
                  {"question": f'Which year is mentioned in the document about "{pool[b].title}"?',
                   "answer": year, "doc_id": doc_b["doc_id"]}],
            extra={"target_tokens": cfg["target_tokens"]}))
    return records


# ---------------------------------------------------------------- synthetic multi-hop needles

def _distinct_symbols(rng: random.Random, length: int, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        s = symbol(rng, length)
        if s not in out:
            out.append(s)
    return out


def make_chain(level: str, cfg: dict[str, Any], rng: random.Random, writer: TextWriter | None = None) -> dict[str, Any]:
    """A chain of `cfg["hops"]` relations, one needle per hop: the value found at one hop is the
    subject (or key) of the next. Returns the question, the start entity and the per-hop needles.

    With a writer (level high only), each hop's sentence is the LLM's, with the answer's offset in it."""
    hops = cfg["hops"]
    if hops not in HOP_COUNTS:
        raise ValueError(f"needle.hops must be one of {HOP_COUNTS}, not {hops!r}")
    if level == "symbolic":
        containers = _distinct_symbols(rng, cfg["symbol_length"], 2 * hops + 1)
        containers, keys = containers[:hops], containers[hops:]
        steps = [{"unit": f"'{keys[i]}': '{keys[i + 1]}'", "sentence": f"{containers[i]} {{'{keys[i]}': '{keys[i + 1]}'}}",
                  "answer": keys[i + 1], "container": containers[i],
                  "question": f"What is the value of the key '{keys[i]}' in the dictionary {containers[i]}?"}
                 for i in range(hops)]
        question = (f"Look up the key '{keys[0]}' in the dictionary {containers[0]}, then look up the value found as a "
                    f"key in the dictionary {containers[1]}" + "".join(f", then in {c}" for c in containers[2:])
                    + ". What is the last value found?")
        return {"question": question, "start": keys[0], "steps": steps}
    if level == "high":
        values = [rng.choice(CITIES), rng.choice(COUNTRIES), rng.choice(CURRENCIES)][:hops]
        subjects = [invented_name(rng)] + values[:-1]
        sentences = [rng.choice(HIGH_TEMPLATES[i]).format(subject=subjects[i], value=values[i], age=rng.randrange(25, 95),
                                                          year=rng.randrange(1820, 2000)) for i in range(hops)]
        hop_questions = [HIGH_HOP_QUESTIONS[i].format(subject=subjects[i]) for i in range(hops)]
        question = HIGH_QUESTIONS[hops].format(start=subjects[0])
        if writer is not None:
            written = [written_needle(writer, WRITER_PHRASES[i], subjects[i], values[i], rng) for i in range(hops)]
            steps = [{"unit": f"'{s}'", "sentence": s, "answer": v, "container": None, "question": q, "answer_offset": at}
                     for (s, at), v, q in zip(written, values, hop_questions)]
            return {"question": question, "start": subjects[0], "steps": steps}
    elif level == "low":
        symbols = _distinct_symbols(rng, cfg["symbol_length"], hops + 1)
        subjects, values = symbols[:-1], symbols[1:]
        sentences = [f"{values[i]} is the {LOW_PHRASES[i]} of {subjects[i]}." for i in range(hops)]
        hop_questions = [f"What is the {LOW_PHRASES[i]} of {subjects[i]}?" for i in range(hops)]
        question = "What is the " + " of the ".join(reversed(LOW_PHRASES[:hops])) + f" of {subjects[0]}?"
    else:
        raise ValueError(f"unknown needle level {level!r}")
    steps = [{"unit": f"'{s}'", "sentence": s, "answer": v, "container": None, "question": q}
             for s, v, q in zip(sentences, values, hop_questions)]
    return {"question": question, "start": subjects[0], "steps": steps}


def _clean_stream(level: str, cfg: dict[str, Any], rng: random.Random, pool, strings: list[str],
                  fold_case: bool, writer: TextWriter | None = None, words: int = 0) -> Iterator[dict[str, Any]]:
    """Haystack documents mentioning none of the chain's strings, no wiki passage twice. Symbols are
    matched exactly (an upper-case code inside an ordinary word is no mention), words in any case."""
    pattern = re.compile("|".join(re.escape(s) for s in strings), re.IGNORECASE if fold_case else 0)
    return haystack_without(level, cfg, rng, pool, lambda text: bool(pattern.search(text)), writer, words)


def build_synthetic_musique(needle_level: str, haystack_level: str, cfg: dict[str, Any], n_examples: int,
                            seed: int, tokenizer, writer: TextWriter | None = None) -> list[dict[str, Any]]:
    """Synthetic multi-hop training records; `cfg` (and `writer`) as synthetic.build_synthetic's, with
    `needle.hops`.

    Each hop's sentence goes into its own haystack document; the final answer occurs once in the
    context, each bridge twice (as its hop's answer and as the next hop's subject)."""
    v = variant(TASK, needle_level, haystack_level, cfg, seed, tokenizer, writer)
    needle_writer, haystack_writer, pool, rng, fitter = v.needle_writer, v.haystack_writer, v.pool, v.rng, v.fitter
    as_unit = haystack_level == "symbolic"
    records: list[dict[str, Any]] = []
    while len(records) < n_examples:
        needle = make_chain(needle_level, cfg["needle"], rng, needle_writer)
        steps = needle["steps"]
        strings = [needle["start"]] + [s["answer"] for s in steps] + [s["container"] for s in steps if s["container"]]
        stream = _clean_stream(haystack_level, cfg["haystack"], rng, pool, strings, needle_level == "high",
                               haystack_writer, cfg["max_passage_words"])
        i = len(records)
        hop_docs, offsets = [], []
        for k, step in enumerate(steps):
            doc = next(stream)
            if as_unit and step["container"]:
                doc["title"] = step["container"]
            text, offset = insert_needle(doc, step, as_unit, rng)
            hop_docs.append({"doc_id": f"synthetic:{i}:hop{k + 1}", "title": doc["title"], "text": text})
            offsets.append(offset)
        everything = "\n".join(d["title"] + "\n" + d["text"] for d in hop_docs)
        expected = [(needle["start"], 1)] + [(s["answer"], 2) for s in steps[:-1]] + [(steps[-1]["answer"], 1)]
        if any(everything.count(s) != n for s, n in expected):
            continue  # an entity also occurs by chance elsewhere in the chain's documents: draw again
        distractors = fill(fitter, hop_docs, ({"doc_id": d.get("id", f"synthetic:{i}:{k}"), "title": d["title"],
                                               "text": render_units(d)} for k, d in enumerate(stream)),
                           needle["question"], cfg["target_tokens"], cfg["max_documents"])
        answer = steps[-1]["answer"]
        records.append(assemble(
            needle=needle_level, haystack=haystack_level, split="train", seed=seed, index=i, gold=hop_docs[-1],
            others=interleave(hop_docs[:-1], distractors, rng), gold_rule=cfg["gold_position"], rng=rng,
            question=needle["question"], answers=[answer], answer_at=(hop_docs[-1]["doc_id"], offsets[-1]),
            insights=[(d["doc_id"], o, o + len(s["answer"])) for d, o, s in zip(hop_docs[:-1], offsets, steps)],
            supporting_ids=[d["doc_id"] for d in hop_docs],
            hops=[{"question": s["question"], "answer": s["answer"], "doc_id": d["doc_id"]} for s, d in zip(steps, hop_docs)],
            extra={"target_tokens": cfg["target_tokens"]}))
    return records
