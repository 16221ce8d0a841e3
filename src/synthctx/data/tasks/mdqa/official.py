"""Real MDQA from the official "Lost in the Middle" files (NaturalQuestions-Open + Wikipedia passages).

Records: `question`, `answers[]`, `ctxs[{title, text, hasanswer, isgold}]` with exactly one gold passage
(the release's distractors also carry `id`, `score`, `original_retrieval_index`; records `nq_annotated_gold`),
read from local .jsonl / .jsonl.gz files or a hub data set. Every record read is checked before any is built;
a malformed one fails naming file, line and field.

Where the questions of each split come from (config `tasks.mdqa`):
  release_files   The release has no train/test split: its five files nq-open-20_total_documents_gold_at_<k>
                  hold the same 2,655 questions, the gold passage at index k. With `release_files` set, the
                  questions of every listed file are pooled and each question goes to the test split when
                  a hash of its normalised text (`question_key`: case-folded, punctuation and spacing
                  collapsed) falls below `test_share`, else to train: a pure function of the question, the
                  same for every seed and file order, so a question is never in both splits. The copies of
                  one question (one per file) are deduplicated: each record draws one copy with the seeded
                  rng, which matters only for `file_gold_position: keep` (the copies differ only in where
                  the gold passage stands).
  (empty)         `real_data.train` and `real_data.test` (or the hub splits) are the splits as given; both are
                  read, and when they share a question (normalised) the build is refused naming both.
Each split's questions are deduplicated (one record per normalised question).

A record's documents: its gold passage, its own distractors (in the file's order) and, while the prompt is
shorter than `target_tokens` and has fewer than `max_documents` documents, padding: passages of other
questions of the same split, drawn with the seeded rng, never one that mentions any of this record's answers
(whole word, any case) and never a passage already in the prompt. The own distractors (cut first when the
prompt would exceed `target_tokens`) and the padding are merged in random order, each keeping its order.
The gold passage then goes where `file_gold_position` says:
  place  by `gold_position` (uniform, first, middle, last or an index), as for every other data set;
  keep   the file's position, scaled to the prompt's documents: index k of the file's n passages becomes
         round(k * (N - 1) / (n - 1)) of N (exactly k when the prompt has the file's n passages).
The answer span is the first gold answer found in the gold passage, whole words before substrings and
exact case before any case (`synthctx.data.matching.find_answer`), so "201" is not taken from "2018".
"""

from __future__ import annotations

import hashlib
from itertools import chain
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.length_fitting import LengthFitter, fill, gold_index, interleave, padding_from_other_records
from synthctx.data.matching import find_answer, mentions_any, question_key
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import RecordKey, make_record, rng_for, single_gold_spans
from synthctx.data.sources import (
    NONEMPTY_STRING,
    RecordError,
    Unalignable,
    build_in_random_order,
    check_schema,
    fail,
    iter_jsonl,
    iter_records,
    refuse_shared_questions,
    source_name,
)

RECORD_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["question", "answers", "ctxs"],
        "properties": {
            "question": NONEMPTY_STRING,
            "answers": {"type": "array", "minItems": 1, "items": NONEMPTY_STRING},
            "ctxs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["title", "text"],
                    "properties": {"title": {"type": "string"}, "text": {"type": "string"}},
                },
            },
        },
    }
)

Copy = tuple[str, int, dict[str, Any]]  # (file, line, raw record): one file's copy of a question


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def check_record(origin: str, raw: Any) -> None:
    check_schema(origin, raw, RECORD_SCHEMA)
    n_gold = sum(_truthy(c.get("isgold")) for c in raw["ctxs"])
    if n_gold != 1:
        raise fail(origin, "ctxs[].isgold", f"expected exactly one gold passage, found {n_gold}")


def answer_offset(text: str, answers: list[str]) -> tuple[str, int] | None:
    """(form in text, offset) of the first gold answer found in the passage: whole words before substrings,
    exact case before any case, answers in their order within each pass."""
    return find_answer(text, answers)


def split_hash(question: str) -> float:
    """A stable number in [0, 1) from the question's key (SHA-256), independent of seed and file order."""
    digest = hashlib.sha256(question_key(question).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(question: str, test_share: float) -> str:
    """ "test" for the `test_share` of questions whose hash falls lowest, else "train"."""
    return "test" if split_hash(question) < test_share else "train"


def _group(copies: list[Copy]) -> list[list[Copy]]:
    """Copies grouped by question key; groups sorted by key and copies by (file, line), so the result does
    not depend on the order the files were listed in."""
    groups: dict[str, list[Copy]] = {}
    seen: dict[tuple[str, str], int] = {}  # (question key, file) -> line: each file holds a question once
    for c in copies:
        key = question_key(c[2]["question"])
        if (key, c[0]) in seen:
            raise RecordError(
                f"{c[0]}:{c[1]}: field 'question': repeats the question of line {seen[key, c[0]]} (normalised): "
                f"{c[2]['question']!r}; each file of the release holds a question once"
            )
        seen[key, c[0]] = c[1]
        groups.setdefault(key, []).append(c)
    return [sorted(groups[k], key=lambda c: (c[0], c[1])) for k in sorted(groups)]


def _read(records) -> list[Copy]:
    out = []
    for origin, line, raw in records:
        check_record(f"{origin}:{line}", raw)  # every record is checked before any is built
        out.append((origin, line, raw))
    return out


def split_questions(cfg: dict[str, Any], split: str) -> list[list[Copy]]:
    """The questions of `split`, each as its copies (one per file holding it), in a fixed order."""
    if cfg["release_files"]:
        copies = _read(chain.from_iterable(iter_jsonl(Path(p)) for p in cfg["release_files"]))
        return [g for g in _group(copies) if split_of(g[0][2]["question"], cfg["test_share"]) == split]
    source = cfg["source"]
    other = "test" if split == "train" else "train"
    mine, theirs = _read(iter_records(source, split)), _read(iter_records(source, other))
    refuse_shared_questions(
        "MDQA",
        split,
        mine,
        theirs,
        f"{source_name(source, split)} and {source_name(source, other)} must not hold the same questions. The "
        "release's gold_at_k files all hold the same questions: list them under tasks.mdqa.release_files to split "
        "them by question",
        source.get("shared_questions", "refuse"),
    )
    return _group(mine)


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official MDQA data, and the number of questions dropped because no gold answer occurs in
    their gold passage (only with `source.on_unalignable: drop`; otherwise an error)."""
    groups = split_questions(cfg, split)
    slots = [(q, i) for q, g in enumerate(groups) for i in range(len(g[0][2]["ctxs"]))]

    def passage(k: int) -> tuple[int, dict[str, Any]]:
        q, i = slots[k]
        origin, line, raw = groups[q][0]
        c = raw["ctxs"][i]
        return q, {"doc_id": f"{origin}:{line}:{i}", "title": c["title"], "text": c["text"]}

    rng = rng_for("mdqa", "real-files", split, seed)
    key = RecordKey("mdqa", split, "real", "real", seed)
    fitter = LengthFitter(tokenizer, ANSWER_INSTRUCTION)

    def build_one(item: int, index: int) -> dict[str, Any]:
        copies = groups[item]
        origin, line, raw = copies[0] if len(copies) == 1 else rng.choice(copies)
        docs = [
            {"doc_id": f"{origin}:{line}:{i}", "title": c["title"], "text": c["text"]}
            for i, c in enumerate(raw["ctxs"])
        ]
        k = next(i for i, c in enumerate(raw["ctxs"]) if _truthy(c.get("isgold")))
        found = answer_offset(docs[k]["text"], raw["answers"])
        if found is None:
            raise Unalignable(f"{origin}:{line}: field 'answers': no gold answer occurs in the gold passage")
        answer, offset = found
        answers = list(dict.fromkeys([answer, *raw["answers"]]))
        gold, own = docs[k], docs[:k] + docs[k + 1 :]
        taken = {(d["title"], d["text"]) for d in docs}
        padding = padding_from_other_records(len(slots), passage, item, mentions_any(answers), taken, rng)
        chosen = fill(fitter, [gold], chain(own, padding), raw["question"], cfg["target_tokens"], cfg["max_documents"])
        kept = chosen[: len(own)]  # own distractors come first, cut from the end
        extras = chosen[len(kept) :]
        others = interleave(kept, extras, rng)
        n = len(others) + 1
        if cfg["file_gold_position"] == "keep":
            g = round(k * (n - 1) / (len(docs) - 1)) if len(docs) > 1 else 0
        else:
            g = gold_index(cfg["gold_position"], n, rng)
        documents = others[:g] + [gold] + others[g:]
        return make_record(
            key,
            index,
            documents=documents,
            question=raw["question"],
            answers=answers,
            spans=single_gold_spans(documents, g, offset, answer),
            gold_documents=[g],
            gold_position=g,
            extra={
                "target_tokens": cfg["target_tokens"],
                "source": f"{origin}:{line}",
                "source_gold_index": k,
                "padding_documents": len(extras),
            },
        )

    where = ", ".join(cfg["release_files"]) if cfg["release_files"] else source_name(cfg["source"], split)
    return build_in_random_order(
        len(groups), n_examples, rng, build_one, cfg["source"]["on_unalignable"], f"MDQA {split}", where
    )
