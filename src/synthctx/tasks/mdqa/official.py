"""Real MDQA from the official "Lost in the Middle" files (NaturalQuestions-Open + Wikipedia passages).

Records: `question`, `answers[]`, `ctxs[{title, text, hasanswer, isgold}]` with exactly one gold
passage, read from a local .jsonl / .jsonl.gz file or a hub data set. Every record is checked before any
is built; a malformed one fails naming file, line and field.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from synthctx.data.length_fitting import LengthFitter, place_gold
from synthctx.data.sources import NONEMPTY_STRING, RecordError, check_schema, fail, iter_records
from synthctx.records import document_span, make_record, rng_for

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
    order = list(range(len(raws)))
    rng.shuffle(order)
    fitter = LengthFitter(tokenizer)
    records: list[dict[str, Any]] = []
    dropped = 0
    for idx in order:
        if len(records) >= n_examples:
            break
        origin, line, raw = raws[idx]
        docs = [
            {"doc_id": f"{origin}:{line}:{i}", "title": c["title"], "text": c["text"]}
            for i, c in enumerate(raw["ctxs"])
        ]
        g = next(i for i, c in enumerate(raw["ctxs"]) if _truthy(c.get("isgold")))
        found = answer_offset(docs[g]["text"], raw["answers"])
        if found is None:
            if cfg["source"]["on_unalignable"] == "error":
                raise RecordError(
                    f"{origin}:{line}: field 'answers': no gold answer occurs in the gold passage "
                    f"(set tasks.mdqa.real_data.on_unalignable: drop to skip and count such records)"
                )
            dropped += 1
            continue
        answer, offset = found
        distractors = docs[:g] + docs[g + 1 :]
        chosen = fitter.fit([docs[g]], iter(distractors), raw["question"], cfg["target_tokens"], cfg["max_documents"])
        documents, gi = place_gold(chosen, cfg["gold_position"], rng)
        answers = [answer] + [a for a in raw["answers"] if a != answer]
        records.append(
            make_record(
                task="mdqa",
                split=split,
                needle="real",
                haystack="real",
                seed=seed,
                index=len(records),
                documents=documents,
                question=raw["question"],
                answers=answers,
                spans={"answer": [(gi, offset, offset + len(answer))], "gold_document": [document_span(documents, gi)]},
                gold_documents=[gi],
                gold_position=gi,
                extra={"target_tokens": cfg["target_tokens"], "source": f"{origin}:{line}"},
            )
        )
    if len(records) < n_examples:
        raise RecordError(
            f"real MDQA {split}: only {len(records)} of {n_examples} usable records in the source "
            f"({dropped} dropped as unalignable)"
        )
    return records, dropped
