"""Real MDQA from the official "Lost in the Middle" files (NaturalQuestions-Open + Wikipedia passages).

Records: `question`, `answers[]`, `ctxs[{title, text, hasanswer, isgold}]` with exactly one gold
passage, read from a local .jsonl / .jsonl.gz file or a hub data set. Every record is checked before any
is built; a malformed one fails naming file, line and field.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.length_fitting import LengthFitter, place_gold
from synthctx.data.sources import (
    NONEMPTY_STRING,
    Unalignable,
    build_in_random_order,
    check_schema,
    fail,
    iter_records,
)
from synthctx.records import RecordKey, make_record, rng_for, single_gold_spans

RECORD_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["question", "answers", "ctxs"],
        "properties": {
            "question": NONEMPTY_STRING,
            "answers": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
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


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def check_record(origin: str, raw: Any) -> None:
    check_schema(origin, raw, RECORD_SCHEMA)
    n_gold = sum(_truthy(c.get("isgold")) for c in raw["ctxs"])
    if n_gold != 1:
        raise fail(origin, "ctxs[].isgold", f"expected exactly one gold passage, found {n_gold}")


def answer_offset(text: str, answers: list[str]) -> tuple[str, int] | None:
    """The first gold answer found in the passage (exact case first), with its offset."""
    for a in answers:
        if (i := text.find(a)) >= 0:
            return a, i
    low = text.lower()
    for a in answers:
        if (i := low.find(a.lower())) >= 0:
            return text[i : i + len(a)], i
    return None


def build(cfg: dict[str, Any], split: str, n_examples: int, seed: int, tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official MDQA data (gold placed by `gold_position`, cut to `target_tokens`), and the
    number of records dropped because no gold answer occurs in their gold passage."""
    raws = list(iter_records(cfg["source"], split))
    for origin, line, raw in raws:  # every record is checked before any is built
        check_record(f"{origin}:{line}", raw)
    rng = rng_for("mdqa", "real-files", split, seed)
    key = RecordKey("mdqa", split, "real", "real", seed)
    fitter = LengthFitter(tokenizer)

    def build_one(item: int, index: int) -> dict[str, Any]:
        origin, line, raw = raws[item]
        docs = [
            {"doc_id": f"{origin}:{line}:{i}", "title": c["title"], "text": c["text"]}
            for i, c in enumerate(raw["ctxs"])
        ]
        g = next(i for i, c in enumerate(raw["ctxs"]) if _truthy(c.get("isgold")))
        found = answer_offset(docs[g]["text"], raw["answers"])
        if found is None:
            raise Unalignable(f"{origin}:{line}: field 'answers': no gold answer occurs in the gold passage")
        answer, offset = found
        distractors = docs[:g] + docs[g + 1 :]
        chosen = fitter.fit([docs[g]], iter(distractors), raw["question"], cfg["target_tokens"], cfg["max_documents"])
        documents, gi = place_gold(chosen, cfg["gold_position"], rng)
        return make_record(
            key,
            index,
            documents=documents,
            question=raw["question"],
            answers=[answer] + [a for a in raw["answers"] if a != answer],
            spans=single_gold_spans(documents, gi, offset, answer),
            gold_documents=[gi],
            gold_position=gi,
            extra={"target_tokens": cfg["target_tokens"], "source": f"{origin}:{line}"},
        )

    return build_in_random_order(
        len(raws), n_examples, rng, build_one, cfg["source"]["on_unalignable"], f"MDQA {split}"
    )
