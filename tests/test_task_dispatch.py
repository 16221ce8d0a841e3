"""Every task builds real and synthetic data through one dispatcher, over the whole 3 x 3 realism grid."""

from __future__ import annotations

import itertools

import pytest

from synthctx.data.tasks import build_real, build_synthetic, encode, names

TASKS = ("mdqa", "musique", "summhay")
LEVELS = ("high", "low", "symbolic")
TASK_KEYS = {"mdqa": {}, "musique": {"hops": 3}, "summhay": {"min_gold": 2, "max_gold": 3}}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("needle,haystack", list(itertools.product(LEVELS, LEVELS)))
def test_every_cell_of_the_grid_builds_with_aligned_spans(task, needle, haystack, synthetic_cfg, tokenizer):
    cfg = {**synthetic_cfg, "target_tokens": 500, **TASK_KEYS[task]}
    records, dropped = build_synthetic(task, needle, haystack, cfg, 2, 0, tokenizer)
    assert dropped == 0 and len(records) == 2
    for rec in records:
        assert rec["task"] == task and (rec["needle_realism"], rec["haystack_realism"]) == (needle, haystack)
        enc = encode(tokenizer, rec, rec["answers"][0])
        assert len(enc.input_ids) <= 520
        answer_texts = [rec["context"][s:e] for s, e in rec["spans"]["answer"]]
        if task == "summhay":
            assert ", ".join(answer_texts) == rec["answers"][0] == ", ".join(rec["gold_citation_ids"])
        else:
            assert answer_texts == [rec["answers"][0]]
        # multi-hop and citation records carry insight spans, MDQA none
        assert bool(rec["spans"].get("insight")) == (task != "mdqa")
        if task == "musique":
            assert len(rec["spans"]["insight"]) == cfg["hops"] - 1


@pytest.mark.parametrize("task", TASKS)
def test_embedded_real_data_of_every_task(task, data_cfg, tokenizer):
    cfg = {
        **data_cfg,
        "source": {"kind": "embedded"},
        "target_tokens": 500,
        "max_passage_words": 100 if task == "musique" else 60,
        **TASK_KEYS[task],
    }
    test, dropped = build_real(task, cfg, "test", 3, 0, tokenizer)
    train, _ = build_real(task, cfg, "train", 3, 0, tokenizer)
    assert dropped == 0 and len(test) == len(train) == 3
    assert {r["split"] for r in test} == {"test"} and {r["needle_realism"] for r in train} == {"real"}
    titles = {d["title"] for r in test for d in r["documents"]}
    assert not titles & {d["title"] for r in train for d in r["documents"]}, "train and test share no passage"
    assert build_real(task, cfg, "test", 3, 0, tokenizer)[0] == test, "a pure function of its inputs"


def test_the_registry_lists_every_task():
    assert names() == TASKS


def test_an_unknown_task_is_named(synthetic_cfg, tokenizer):
    with pytest.raises(ValueError, match="unknown task 'hotpotqa'"):
        build_synthetic("hotpotqa", "low", "low", synthetic_cfg, 1, 0, tokenizer)
