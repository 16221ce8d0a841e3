"""Generators: pure functions of (config, seed), exact spans, controlled length and gold position."""

from __future__ import annotations

import itertools

import pytest

from synthctx.data.tasks import encode
from synthctx.data.tasks.mdqa import embedded, synthetic

LEVELS = ("high", "low", "symbolic")


def build_real_mdqa(cfg, split, n, seed, tokenizer):
    records, dropped = embedded.build(cfg, split, n, seed, tokenizer)
    assert dropped == 0, "the embedded builder never drops"
    return records


def build_synthetic(needle, haystack, cfg, n, seed, tokenizer):
    records, dropped = synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    assert dropped == 0, "the synthetic builder never drops"
    return records


def check_spans(rec):
    ctx = rec["context"]
    ((s, e),) = rec["spans"]["answer"]
    ((gs, ge),) = rec["spans"]["gold_document"]
    assert ctx[s:e] == rec["answers"][0]
    assert gs <= s and e <= ge, "the answer lies inside the gold document"
    gold = rec["documents"][rec["gold_position"]]
    assert gold["doc_id"] in rec["gold_doc_ids"]
    assert gold["text"] in ctx[gs:ge]


def test_real_mdqa_is_deterministic_and_exact(tokenizer, data_cfg):
    a = build_real_mdqa(data_cfg, "test", 12, 0, tokenizer)
    b = build_real_mdqa(data_cfg, "test", 12, 0, tokenizer)
    c = build_real_mdqa(data_cfg, "test", 12, 1, tokenizer)
    assert a == b
    assert [r["question"] for r in a] != [r["question"] for r in c]
    for rec in a:
        check_spans(rec)
        answer = rec["answers"][0].lower()
        holders = [d for d in rec["documents"] if answer in d["text"].lower()]
        assert [d["doc_id"] for d in holders] == rec["gold_doc_ids"], "exactly one passage holds the answer"
        gold = rec["documents"][rec["gold_position"]]
        assert rec["question"] == f'Which year is mentioned in the document about "{gold["title"]}"?'
        assert gold["text"].count(rec["answers"][0]) == 1


def test_real_train_and_test_passages_are_disjoint(tokenizer, data_cfg):
    train = build_real_mdqa(data_cfg, "train", 20, 0, tokenizer)
    test = build_real_mdqa(data_cfg, "test", 20, 0, tokenizer)
    docs = lambda recs: {d["doc_id"] for r in recs for d in r["documents"]}  # noqa: E731
    assert not docs(train) & docs(test)


@pytest.mark.parametrize("needle,haystack", list(itertools.product(LEVELS, LEVELS)))
def test_every_variant_has_exact_spans_and_fits_length(tokenizer, synthetic_cfg, needle, haystack):
    recs = build_synthetic(needle, haystack, synthetic_cfg, 6, 3, tokenizer)
    assert recs == build_synthetic(needle, haystack, synthetic_cfg, 6, 3, tokenizer)
    for rec in recs:
        check_spans(rec)
        assert rec["context"].count(rec["answers"][0]) == 1
        enc = encode(tokenizer, rec, rec["answers"][0])
        n_prompt = enc.prompt_length
        assert n_prompt <= synthetic_cfg["target_tokens"] + 8
        assert len(rec["documents"]) >= 2
        assert [enc.input_ids[p] for p in enc.answer_positions]


def test_realism_levels_look_like_what_they_claim(tokenizer, synthetic_cfg):
    low_low = build_synthetic("low", "low", synthetic_cfg, 3, 0, tokenizer)[0]
    assert "The grass is green." in low_low["context"]
    assert " is the " in low_low["question"] or low_low["question"].startswith("What is the")
    sym = build_synthetic("symbolic", "symbolic", synthetic_cfg, 3, 0, tokenizer)[0]
    gold = sym["documents"][sym["gold_position"]]
    assert gold["text"].startswith("{") and f"'{sym['answers'][0]}'" in gold["text"]
    assert gold["title"] in sym["question"]
    high = build_synthetic("high", "high", synthetic_cfg, 3, 0, tokenizer)[0]
    assert all(d["doc_id"].startswith(("wiki:", "synthetic:")) for d in high["documents"])
    assert not any(d["text"].startswith("{") for d in high["documents"])


@pytest.mark.parametrize("rule,expected", [("first", 0), ("last", -1)])
def test_gold_position_is_controlled(tokenizer, synthetic_cfg, rule, expected):
    cfg = {**synthetic_cfg, "gold_position": rule}
    for rec in build_synthetic("low", "low", cfg, 4, 0, tokenizer):
        assert rec["gold_position"] == (len(rec["documents"]) - 1 if expected == -1 else expected)


def test_longer_target_means_more_documents(tokenizer, synthetic_cfg):
    short = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 300}, 3, 0, tokenizer)
    long = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 900}, 3, 0, tokenizer)
    assert min(len(r["documents"]) for r in long) > max(len(r["documents"]) for r in short)


def test_atomic_path_renames_whole_outputs_and_removes_failed_ones(tmp_path):
    """A file or folder appears under its name only once written whole; a failed write leaves nothing."""
    from synthctx.data.files import atomic_path

    out = tmp_path / "sub" / "out.txt"
    with atomic_path(out) as tmp:
        tmp.write_text("new")
        assert not out.exists() and tmp.name == "out.txt.tmp"
    assert out.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert out.read_text() == "new" and sorted(p.name for p in out.parent.iterdir()) == ["out.txt"]
    folder = tmp_path / "model"
    for content in ("old", "new"):
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            (tmp / content).write_text(content)
    assert [p.name for p in folder.iterdir()] == ["new"]
    with atomic_path(out, unique=True) as tmp:
        assert tmp.name.startswith(".out.") and tmp.name.endswith(".tmp")
        tmp.write_text("raced")
    assert out.read_text() == "raced"
