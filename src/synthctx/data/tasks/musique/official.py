"""Real MuSiQue from the official MuSiQue-Ans files (or a hub copy): the record's own paragraphs, padded
to the target length with paragraphs of other records that hold none of this record's hop answers.
Every record is checked (JSON schema, then the references between hops and paragraphs) before any is built.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.length_fitting import LengthFitter, fill, interleave, padding_from_other_records
from synthctx.data.matching import find_answer, mentions_any
from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.records import RecordKey, rng_for
from synthctx.data.sources import (
    NONEMPTY_STRING,
    Unalignable,
    as_rows,
    build_in_random_order,
    check_schema,
    fail,
    iter_records,
    refuse_repeated_ids,
    refuse_shared_questions,
    source_name,
)
from synthctx.data.tasks.musique.record import assemble

RECORD_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["id", "question", "answer", "answer_aliases", "paragraphs", "question_decomposition"],
        "properties": {
            "id": NONEMPTY_STRING,
            "question": NONEMPTY_STRING,
            "answer": NONEMPTY_STRING,
            "answer_aliases": {"type": "array", "items": NONEMPTY_STRING},
            "answerable": {"const": True, "description": "only answerable records (MuSiQue-Ans) can be built"},
            "paragraphs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["idx", "title", "paragraph_text", "is_supporting"],
                    "properties": {
                        "idx": {"type": "integer"},
                        "title": {"type": "string"},
                        "paragraph_text": {"type": "string"},
                        "is_supporting": {"type": "boolean"},
                    },
                },
            },
            "question_decomposition": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "required": ["question", "answer", "paragraph_support_idx"],
                    "properties": {
                        "question": NONEMPTY_STRING,
                        "answer": NONEMPTY_STRING,
                        "paragraph_support_idx": {"type": "integer"},
                    },
                },
            },
        },
    }
)


def check_record(origin: str, raw: Any) -> None:
    """The schema, then what it cannot say: unique paragraph ids, hops that point at supporting paragraphs."""
    check_schema(origin, raw, RECORD_SCHEMA)
    by_idx: dict[int, dict[str, Any]] = {}
    for i, p in enumerate(raw["paragraphs"]):
        if p["idx"] in by_idx:
            raise fail(origin, f"paragraphs[{i}].idx", f"repeated idx {p['idx']}")
        if p["is_supporting"] and not p["paragraph_text"].strip():
            raise fail(origin, f"paragraphs[{i}].paragraph_text", "a supporting paragraph is empty")
        by_idx[p["idx"]] = p
    for i, hop in enumerate(raw["question_decomposition"]):
        ref = hop["paragraph_support_idx"]
        if ref not in by_idx:
            raise fail(
                origin, f"question_decomposition[{i}].paragraph_support_idx", f"{ref!r} is not the idx of a paragraph"
            )
        if not by_idx[ref]["is_supporting"]:
            raise fail(
                origin,
                f"question_decomposition[{i}].paragraph_support_idx",
                f"paragraph idx {ref} is not marked is_supporting",
            )


def _read(source: dict[str, Any], split: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Every record of a split, checked before any is built."""
    raws = []
    for origin, line, raw in iter_records(source, split):
        if isinstance(raw, dict):
            raw = {
                **raw,
                "paragraphs": as_rows(raw.get("paragraphs")),
                "question_decomposition": as_rows(raw.get("question_decomposition")),
            }
        check_record(f"{origin}:{line}", raw)
        raws.append((origin, line, raw))
    return raws


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official MuSiQue-Ans data, and the number dropped because a hop's answer does not
    occur in its supporting paragraph (only with `source.on_unalignable: drop`; otherwise an error)."""
    source = cfg["source"]
    raws = _checked_split(source, split)
    slots = [(r, p) for r, (_, _, raw) in enumerate(raws) for p in range(len(raw["paragraphs"]))]

    def paragraph(k: int) -> tuple[int, dict[str, Any]]:
        r, p = slots[k]
        origin, line, raw = raws[r]
        para = raw["paragraphs"][p]
        return r, {"doc_id": f"{origin}:{line}:{para['idx']}", "title": para["title"], "text": para["paragraph_text"]}

    rng = rng_for("musique", "real-files", split, seed)
    key = RecordKey("musique", split, "real", "real", seed)
    fitter = LengthFitter(tokenizer, ANSWER_INSTRUCTION)

    def build_one(r: int, index: int) -> dict[str, Any]:
        origin, line, raw = raws[r]
        docs = [
            {"doc_id": f"{origin}:{line}:{p['idx']}", "title": p["title"], "text": p["paragraph_text"]}
            for p in raw["paragraphs"]
        ]
        hops = raw["question_decomposition"]
        hop_docs, found = _hop_answers(f"{origin}:{line}", raw, docs)
        form, offset = found[-1]
        answers = _unique([form, raw["answer"], *raw["answer_aliases"]])
        supporting = _unique(
            [docs[d]["doc_id"] for d in hop_docs]
            + [docs[i]["doc_id"] for i, p in enumerate(raw["paragraphs"]) if p["is_supporting"]]
        )
        required = [d for d in docs if d["doc_id"] in supporting]
        own_rest = [d for d in docs if d["doc_id"] not in supporting]
        forbidden = mentions_any([*answers, *(f[0] for f in found), *(h["answer"] for h in hops)])
        taken = {(d["title"], d["text"]) for d in docs}
        chosen = fill(
            fitter,
            required,
            chain(own_rest, padding_from_other_records(len(slots), paragraph, r, forbidden, taken, rng)),
            raw["question"],
            cfg["target_tokens"],
            cfg["max_documents"],
        )
        chosen_ids = {d["doc_id"] for d in chosen}
        gold = docs[hop_docs[-1]]
        own = [d for d in docs if d is not gold and (d["doc_id"] in supporting or d["doc_id"] in chosen_ids)]
        extras = [d for d in chosen if d not in own_rest]
        return assemble(
            key,
            index,
            gold=gold,
            others=interleave(own, extras, rng),
            gold_rule=cfg["gold_position"],
            rng=rng,
            question=raw["question"],
            answers=answers,
            answer_at=(gold["doc_id"], offset),
            insights=[(docs[d]["doc_id"], o, o + len(f)) for (f, o), d in zip(found[:-1], hop_docs)],
            supporting_ids=supporting,
            hops=[
                {"id": h.get("id"), "question": h["question"], "answer": h["answer"], "doc_id": docs[d]["doc_id"]}
                for h, d in zip(hops, hop_docs)
            ],
            extra={"target_tokens": cfg["target_tokens"], "source": f"{origin}:{line}", "source_id": raw["id"]},
        )

    unalignable = source["on_unalignable"]
    where = source_name(source, split)
    return build_in_random_order(len(raws), n_examples, rng, build_one, unalignable, f"MuSiQue {split}", where)


def _checked_split(source: dict[str, Any], split: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The split's (origin, line, raw) items, refused when an id repeats or a question is also the other
    split's (unless source.shared_questions says report)."""
    other = "test" if split == "train" else "train"
    raws, theirs = _read(source, split), _read(source, other)
    refuse_repeated_ids(raws, "id")
    refuse_shared_questions(
        "MuSiQue",
        split,
        raws,
        theirs,
        f"{source_name(source, split)} and {source_name(source, other)} must hold different questions (the release's "
        "train and dev files do; dev is the test split)",
        source.get("shared_questions", "refuse"),
    )
    return raws


def _hop_answers(
    where: str, raw: dict[str, Any], docs: list[dict[str, Any]]
) -> tuple[list[int], list[tuple[str, int]]]:
    """Each hop's supporting document (an index into docs) and its answer's (form, offset) there, the last
    hop's being the final answer (or an alias); Unalignable names the first hop whose answer is absent."""
    at = {p["idx"]: i for i, p in enumerate(raw["paragraphs"])}
    hops = raw["question_decomposition"]
    hop_docs = [at[h["paragraph_support_idx"]] for h in hops]
    final = find_answer(docs[hop_docs[-1]]["text"], [raw["answer"], *raw["answer_aliases"], hops[-1]["answer"]])
    found = [find_answer(docs[d]["text"], [h["answer"]]) for h, d in zip(hops[:-1], hop_docs)] + [final]
    missing = next((i for i, f in enumerate(found) if f is None), None)
    if missing is not None:
        field = "answer" if missing == len(hops) - 1 else f"question_decomposition[{missing}].answer"
        raise Unalignable(
            f"{where}: field '{field}': the answer does not occur in its supporting paragraph "
            f"idx {hops[missing]['paragraph_support_idx']}"
        )
    return hop_docs, found


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))
