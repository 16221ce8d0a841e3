"""Real MDQA from the official "Lost in the Middle" files (NaturalQuestions-Open + Wikipedia passages).

Records: `question`, `answers[]`, `ctxs[{title, text, hasanswer, isgold}]` with exactly one gold
passage. Read from a local .jsonl / .jsonl.gz file or a Hugging Face hub data set (through
`datasets`). Every record is checked before any is built; a malformed one fails naming file, line
and field.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

from synthctx.data.assembly import LengthFitter, place_gold
from synthctx.records import make_record, rng_for


class RecordError(ValueError):
    pass


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def iter_raw(source: dict[str, Any], split: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(origin, line, raw record) from a file path or a hub data set, as config says."""
    if source["kind"] == "files":
        path = Path(source[split])
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield str(path), lineno, json.loads(line)
                except json.JSONDecodeError as err:
                    raise RecordError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
    else:
        from datasets import load_dataset

        ds = load_dataset(source["hub_id"], source.get("hub_config"), split=source[f"{split}_split"])
        for i, row in enumerate(ds, 1):
            yield f"{source['hub_id']}[{source[f'{split}_split']}]", i, dict(row)


def check_record(origin: str, line: int, raw: dict[str, Any]) -> None:
    def fail(field: str, why: str) -> None:
        raise RecordError(f"{origin}:{line}: field '{field}': {why}")

    if not isinstance(raw.get("question"), str) or not raw["question"].strip():
        fail("question", "missing or not a non-empty string")
    answers = raw.get("answers")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
        fail("answers", "missing or not a non-empty list of strings")
    ctxs = raw.get("ctxs")
    if not isinstance(ctxs, list) or not ctxs:
        fail("ctxs", "missing or not a non-empty list")
    for i, c in enumerate(ctxs):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str) or not isinstance(c.get("title"), str):
            fail(f"ctxs[{i}]", "each passage needs string 'title' and 'text'")
    n_gold = sum(_truthy(c.get("isgold")) for c in ctxs)
    if n_gold != 1:
        fail("ctxs[].isgold", f"expected exactly one gold passage, found {n_gold}")


def answer_offset(text: str, answers: list[str]) -> tuple[str, int] | None:
    """The first gold answer found in the passage (exact case first), with its offset."""
    for a in answers:
        if (i := text.find(a)) >= 0:
            return a, i
    low = text.lower()
    for a in answers:
        if (i := low.find(a.lower())) >= 0:
            return text[i:i + len(a)], i
    return None


def build_mdqa_from_files(cfg: dict[str, Any], split: str, n_examples: int, seed: int,
                          tokenizer) -> tuple[list[dict[str, Any]], int]:
    """Records from official MDQA data (gold placed by `gold_position`, cut to `target_tokens`), and the
    number of records dropped because no gold answer occurs in their gold passage."""
    raws = list(iter_raw(cfg["source"], split))
    for origin, line, raw in raws:  # every record is checked before any is built
        check_record(origin, line, raw)
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
        docs = [{"doc_id": f"{origin}:{line}:{i}", "title": c["title"], "text": c["text"]} for i, c in enumerate(raw["ctxs"])]
        g = next(i for i, c in enumerate(raw["ctxs"]) if _truthy(c.get("isgold")))
        found = answer_offset(docs[g]["text"], raw["answers"])
        if found is None:
            if cfg["source"]["on_unalignable"] == "error":
                raise RecordError(f"{origin}:{line}: field 'answers': no gold answer occurs in the gold passage "
                                  f"(set tasks.mdqa.real_data.on_unalignable: drop to skip and count such records)")
            dropped += 1
            continue
        answer, offset = found
        distractors = docs[:g] + docs[g + 1:]
        chosen = fitter.fit([docs[g]], iter(distractors), raw["question"], cfg["target_tokens"], cfg["max_documents"])
        documents, gi = place_gold(chosen, cfg["gold_position"], rng)
        answers = [answer] + [a for a in raw["answers"] if a != answer]
        records.append(make_record(task="mdqa", split=split, needle="real", haystack="real", seed=seed,
                                   index=len(records), documents=documents, gold_index=gi,
                                   question=raw["question"], answers=answers, answer_start=offset,
                                   extra={"target_tokens": cfg["target_tokens"], "source": f"{origin}:{line}"}))
    if len(records) < n_examples:
        raise RecordError(f"real MDQA {split}: only {len(records)} of {n_examples} usable records in the source "
                          f"({dropped} dropped as unalignable)")
    return records, dropped
