"""Real MDQA from the official "Lost in the Middle" format: hand-made records, malformed ones, real samples."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from synthctx.data.sources import RecordError
from synthctx.tasks.mdqa.official import build as build_mdqa_from_files

FIXTURE = Path(__file__).parent / "fixtures" / "mdqa_lost_in_the_middle.jsonl"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples" / "nq-open-oracle.jsonl.gz"


def cfg(path: Path, **over) -> dict:
    return {
        "source": {"kind": "files", "train": str(path), "test": str(path), "on_unalignable": "error"},
        "target_tokens": 2000,
        "max_documents": 20,
        "gold_position": "last",
        **over,
    }


def test_official_records_become_records_with_exact_spans(tokenizer):
    records, dropped = build_mdqa_from_files(cfg(FIXTURE), "test", 3, 0, tokenizer)
    assert dropped == 0 and len(records) == 3
    for rec in records:
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e].lower() in [a.lower() for a in rec["answers"]]
        assert rec["gold_position"] == len(rec["documents"]) - 1
        assert rec["source"].startswith(str(FIXTURE))
    by_q = {r["question"]: r for r in records}
    assert by_q["what is the capital of the island of Orla"]["answers"][0] == "port sen"  # case-insensitive match
    assert by_q["who painted the ceiling of the hall of winds"]["answers"] == ["Mara Velt", "M. Velt"]


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda r: r.pop("question"), "question"),
        (lambda r: r.__setitem__("answers", []), "answers"),
        (lambda r: [c.__setitem__("isgold", False) for c in r["ctxs"]], "ctxs[].isgold"),
        (lambda r: r["ctxs"][1].pop("text"), "ctxs[1].text"),
    ],
)
def test_a_malformed_record_names_file_line_and_field(tmp_path, tokenizer, mutate, field):
    lines = FIXTURE.read_text().splitlines()
    bad = json.loads(lines[1])
    mutate(bad)
    lines[1] = json.dumps(bad)
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=rf"{path}:2: field '{field}'".replace("[", r"\[").replace("]", r"\]")):
        build_mdqa_from_files(cfg(path), "test", 3, 0, tokenizer)


def test_unalignable_answers_are_an_error_unless_dropped(tmp_path, tokenizer):
    rec = json.loads(FIXTURE.read_text().splitlines()[0])
    rec["answers"] = ["Nobody At All"]
    path = tmp_path / "one.jsonl"
    path.write_text(FIXTURE.read_text() + json.dumps(rec) + "\n")
    with pytest.raises(RecordError, match=r"one.jsonl:4: field 'answers'"):
        build_mdqa_from_files(cfg(path), "test", 4, 0, tokenizer)
    c = cfg(path)
    c["source"]["on_unalignable"] = "drop"
    records, dropped = build_mdqa_from_files(c, "test", 3, 0, tokenizer)
    assert dropped == 1 and len(records) == 3


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared real samples not present")
def test_real_samples_load(tokenizer):
    c = cfg(SAMPLES, gold_position="uniform")
    c["source"]["on_unalignable"] = "drop"
    records, dropped = build_mdqa_from_files(c, "test", 50, 0, tokenizer)
    assert len(records) == 50 and dropped < 50
    for rec in records:
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e].lower() == rec["answers"][0].lower()
