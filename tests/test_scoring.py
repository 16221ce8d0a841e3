"""The retrieval score: hits need the argmax in the needle span AND the copied token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthctx.data.tasks import encode
from synthctx.data.tasks.mdqa import synthetic as mdqa_synthetic
from synthctx.data.tasks.musique import synthetic as musique_synthetic
from synthctx.data.tasks.summhay import synthetic as summhay_synthetic
from synthctx.heads.capture import eager_reference_argmax
from synthctx.heads.scoring import DEFINITIONS, insight_hits, retrieval_hits, score_heads, scores_file, token_classes
from synthctx.models.model_io import load_model
from synthctx.plan.settings import HeadSettings


def build_synthetic(needle, haystack, cfg, n, seed, tokenizer):
    records, _ = mdqa_synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    return records


def build_synthetic_musique(needle, haystack, cfg, n, seed, tokenizer):
    records, _ = musique_synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    return records


def build_synthetic_summhay(needle, haystack, cfg, n, seed, tokenizer):
    records, _ = summhay_synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    return records


def test_hits_by_hand():
    #            0  1  2  3  4  5  6  7
    input_ids = [9, 5, 6, 7, 9, 1, 5, 6]  # needle = positions 1..3 (5 6 7); answer = positions 6, 7 (5 6)
    needle = [1, 2, 3]
    answer_positions = [6, 7]
    argmax = np.array(
        [
            [[1, 2], [1, 0]],  # layer 0: head 0 copies both tokens; head 1 copies the first, then looks at BOS
            [
                [6, 2],
                [3, 3],
            ],  # layer 1: head 0 looks at its own answer token first (outside S); head 1 in S, wrong token
        ]
    )
    hits = retrieval_hits(argmax, input_ids, answer_positions, needle)
    assert hits.tolist() == [[2, 1], [1, 0]]


def test_teacher_forced_scores_match_an_eager_computation(tiny_model_dir, tokenizer, synthetic_cfg):
    """End to end on a tiny random model: scores from SDPA capture equal scores from eager attentions."""
    model = load_model(tiny_model_dir, "float32")
    recs = build_synthetic("symbolic", "symbolic", {**synthetic_cfg, "target_tokens": 200}, 3, 0, tokenizer)
    kinds = score_heads(model, tokenizer, recs, {}, "teacher_forced", "all", copy_match="exact")
    assert set(kinds) == {"retrieval"}, "MDQA records have no insight spans"
    result = kinds["retrieval"]
    assert result["n_scored"] == 3 and result["mode"] == "teacher_forced"
    expected = np.zeros((2, 4))
    for rec in recs:
        enc = encode(tokenizer, rec, rec["answers"][0])
        queries = [p - 1 for p in enc.answer_positions]
        argmax = eager_reference_argmax(model, torch.tensor([enc.input_ids]), queries).numpy()
        needle = enc.span_positions["answer"]
        expected += retrieval_hits(argmax, enc.input_ids, enc.answer_positions, needle) / len(needle)
    np.testing.assert_allclose(np.asarray(result["scores"]), expected / 3)


def test_generate_mode_scores_only_correct_answers(tiny_model_dir, tokenizer, synthetic_cfg):
    model = load_model(tiny_model_dir, "float32")
    recs = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 200}, 2, 0, tokenizer)
    right = tokenizer(recs[0]["answers"][0], add_special_tokens=False)["input_ids"]
    predictions = {
        recs[0]["id"]: {"prediction": recs[0]["answers"][0], "generated_ids": right},
        recs[1]["id"]: {"prediction": "nothing of the sort", "generated_ids": [42, 43]},
    }
    result = score_heads(model, tokenizer, recs, predictions, "generate", "all")["retrieval"]
    assert result["scored_ids"] == [recs[0]["id"]]
    assert result["success_gate"] == "rouge1_recall > 0.5"
    none = score_heads(model, tokenizer, recs[1:], predictions, "generate", "all")["retrieval"]
    assert none["n_scored"] == 0 and np.isnan(np.asarray(none["scores"])).all()


@pytest.mark.parametrize("argmax_over", ["all", "context"])
def test_scores_are_fractions(tiny_model_dir, tokenizer, synthetic_cfg, argmax_over):
    model = load_model(tiny_model_dir, "float32")
    recs = build_synthetic("high", "low", {**synthetic_cfg, "target_tokens": 200}, 2, 1, tokenizer)
    scores = np.asarray(score_heads(model, tokenizer, recs, {}, "teacher_forced", argmax_over)["retrieval"]["scores"])
    assert scores.shape == (2, 4) and (scores >= 0).all() and (scores <= 1).all()


def test_context_mode_restricts_the_argmax_to_the_documents(tiny_model_dir, tokenizer, synthetic_cfg):
    """argmax_over=context equals eager's argmax taken over the document tokens only."""
    model = load_model(tiny_model_dir, "float32")
    recs = build_synthetic(
        "low", "low", {**synthetic_cfg, "target_tokens": 400, "gold_position": "last"}, 2, 0, tokenizer
    )
    result = score_heads(model, tokenizer, recs, {}, "teacher_forced", "context", copy_match="exact")["retrieval"]
    expected = np.zeros((2, 4))
    for rec in recs:
        enc = encode(tokenizer, rec, rec["answers"][0])
        assert enc.context_range[0] < min(enc.span_positions["gold_document"]), "documents before the gold one count"
        queries = [p - 1 for p in enc.answer_positions]
        argmax = eager_reference_argmax(model, torch.tensor([enc.input_ids]), queries, key_range=enc.context_range)
        needle = enc.span_positions["answer"]
        expected += retrieval_hits(argmax.numpy(), enc.input_ids, enc.answer_positions, needle) / len(needle)
    np.testing.assert_allclose(np.asarray(result["scores"]), expected / 2)


def test_insight_hits_need_no_token_match():
    #                 0  1  2  3  4  5
    argmax = np.array([[[1, 2, 5]], [[0, 3, 3]]])  # (layers 2, heads 1, answer steps 3)
    assert insight_hits(argmax, 6, [2, 3]).tolist() == [[1], [2]]


@pytest.mark.parametrize("task", ["musique", "summhay"])
@pytest.mark.parametrize("normalization", ["answer_steps", "span_tokens"])
def test_insight_scores_match_an_eager_computation(tiny_model_dir, tokenizer, synthetic_cfg, task, normalization):
    """Insight heads from the same capture as retrieval heads equal an eager computation of the definition."""
    model = load_model(tiny_model_dir, "float32")
    cfg = {**synthetic_cfg, "target_tokens": 300, "max_documents": 6}
    if task == "musique":
        recs = build_synthetic_musique("low", "low", {**cfg, "hops": 2}, 2, 0, tokenizer)
    else:
        recs = build_synthetic_summhay("symbolic", "low", {**cfg, "min_gold": 2, "max_gold": 2}, 2, 0, tokenizer)
    kinds = score_heads(model, tokenizer, recs, {}, "teacher_forced", "all", normalization)
    assert set(kinds) == {"retrieval", "insight"}
    assert kinds["insight"]["normalization"] == normalization
    expected = np.zeros((2, 4))
    for rec in recs:
        enc = encode(tokenizer, rec, rec["answers"][0])
        queries = [p - 1 for p in enc.answer_positions]
        argmax = eager_reference_argmax(model, torch.tensor([enc.input_ids]), queries).numpy()
        span = set(enc.span_positions["insight"])
        assert span and not span & set(enc.span_positions["answer"]), "insights are not the answer"
        hits = np.isin(argmax, list(span)).sum(axis=-1)
        expected += hits / (len(queries) if normalization == "answer_steps" else len(span))
    np.testing.assert_allclose(np.asarray(kinds["insight"]["scores"]), expected / 2)
    if normalization == "answer_steps":
        assert (expected / 2 <= 1).all()


def test_a_split_with_insights_on_some_records_only_is_an_error(tiny_model_dir, tokenizer, synthetic_cfg):
    model = load_model(tiny_model_dir, "float32")
    cfg = {**synthetic_cfg, "target_tokens": 300, "hops": 2}
    recs = build_synthetic_musique("low", "low", cfg, 2, 0, tokenizer)
    recs[1] = {**recs[1], "spans": {k: v for k, v in recs[1]["spans"].items() if k != "insight"}}
    with pytest.raises(ValueError, match=f"record {recs[1]['id']} has no insight span"):
        score_heads(model, tokenizer, recs, {}, "teacher_forced", "all")


def test_a_span_copied_twice_scores_above_one():
    #            0  1  2  3  4  5  6  7
    input_ids = [9, 5, 6, 1, 5, 6, 5, 6]  # needle = positions 1, 2 (5 6); generated answer 5 6 5 6 at 4..7
    argmax = np.array([[[1, 2, 1, 2]]])  # one head copies the span twice
    hits = retrieval_hits(argmax, input_ids, [4, 5, 6, 7], [1, 2])
    assert hits.tolist() == [[4]] and hits[0, 0] / 2 == 2.0  # example score 4 / |S| = 2
    assert "exceeds 1" in DEFINITIONS["retrieval"]


def _normalized_by_decoding(tokenizer, a: int, b: int) -> bool:
    """The rule of copy_match: normalized, written out: equal ids, or equal decoded text without leading
    whitespace (a whitespace-only or partial-character token only matches itself)."""
    if a == b:
        return True
    da, db = tokenizer.decode([a]).lstrip(), tokenizer.decode([b]).lstrip()
    return bool(da) and "\ufffd" not in da and da == db


def test_token_classes_merge_only_the_leading_space(tokenizer):
    [white], [space_white] = (tokenizer(w, add_special_tokens=False)["input_ids"] for w in ("White", " White"))
    [d], [space_d] = (tokenizer(w, add_special_tokens=False)["input_ids"] for w in ("D", " D"))
    [lower] = tokenizer(" white", add_special_tokens=False)["input_ids"]
    classes = token_classes(tokenizer)
    assert classes.size == len(tokenizer)
    assert white != space_white and classes[white] == classes[space_white]
    assert d != space_d and classes[d] == classes[space_d]
    assert classes[lower] != classes[white], "case still matters"
    assert token_classes(tokenizer) is classes, "built once per tokenizer"
    # an independent check on a slice of the vocabulary: same class exactly when decoding says so
    ids = list(range(0, len(tokenizer), 97)) + [white, space_white, d, space_d, lower]
    for a in ids:
        for b in (white, space_white, d, space_d, lower, a):
            assert (classes[a] == classes[b]) == _normalized_by_decoding(tokenizer, a, b), (a, b)


def test_copy_match_on_a_chat_template_answer(tokenizer, synthetic_cfg):
    """Under the chat template the answer XWDC is `X W DC` while the needle in context is ` X W DC`. A head
    that attends to needle token t at answer step t copies all three: exact counts 2, normalized 3."""
    recs = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 200}, 2, 0, tokenizer)
    rec = next(r for r in recs if r["answers"][0] == "XWDC")
    enc = encode(tokenizer, rec, rec["answers"][0])
    needle, answer = enc.span_positions["answer"], enc.answer_positions
    assert [tokenizer.decode([enc.input_ids[i]]) for i in answer] == ["X", "W", "DC"]
    assert [tokenizer.decode([enc.input_ids[i]]) for i in needle] == [" X", "W", "DC"]
    argmax = np.array([[needle, [0, 0, 0]]])  # head 0 copies the needle in order; head 1 looks at BOS
    exact = retrieval_hits(argmax, enc.input_ids, answer, needle)
    normalized = retrieval_hits(argmax, enc.input_ids, answer, needle, token_classes(tokenizer))
    assert exact.tolist() == [[2, 0]] and normalized.tolist() == [[3, 0]]


def test_copy_match_on_summhay_labels(tokenizer):
    """An answer `D24, D31`: the second label's ` D` against the context's `[D31]` (no space)."""
    #           context: [ D 24 ] ... [ D 31 ] ; answer: D 2 4 , ␣D 3 1
    ctx = tokenizer("[D24] x [D31]", add_special_tokens=False)["input_ids"]
    ans = tokenizer("D24, D31", add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.decode([i]) for i in ans]
    assert pieces == ["D", "2", "4", ",", " D", "3", "1"]
    input_ids = ctx + ans
    needle = [i for i, t in enumerate(ctx) if tokenizer.decode([t]) in ("D", "2", "4", "3", "1")]
    assert [tokenizer.decode([input_ids[i]]) for i in needle] == ["D", "2", "4", "D", "3", "1"]
    answer = list(range(len(ctx), len(input_ids)))
    # each step attends to the needle token it should copy; the comma to the second label's D
    argmax = np.array([[[needle[0], needle[1], needle[2], needle[3], needle[3], needle[4], needle[5]]]])
    assert retrieval_hits(argmax, input_ids, answer, needle).tolist() == [[5]]
    assert retrieval_hits(argmax, input_ids, answer, needle, token_classes(tokenizer)).tolist() == [[6]]


@pytest.mark.parametrize("copy_match", ["exact", "normalized"])
def test_copy_match_scores_match_an_eager_computation(tiny_model_dir, tokenizer, synthetic_cfg, copy_match):
    """score_heads under either copy rule equals the rule applied pair by pair (decoding each token) to an
    eager argmax; the rule is recorded in every block and in the definition."""
    model = load_model(tiny_model_dir, "float32")
    recs = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 200}, 3, 0, tokenizer)
    cfg = HeadSettings(
        dtype="float32",
        modes=("teacher_forced",),
        argmax_over="all",
        insight_normalization="answer_steps",
        copy_match=copy_match,
        snapshot_examples=None,
    )
    out = scores_file(model, tokenizer, recs, {}, cfg)["head_kinds"]["retrieval"]
    block = out["modes"]["teacher_forced"]
    assert block["copy_match"] == copy_match and f"copy_match {copy_match}" in out["definition"]
    expected = np.zeros((2, 4))
    for rec in recs:
        enc = encode(tokenizer, rec, rec["answers"][0])
        queries = [p - 1 for p in enc.answer_positions]
        argmax = eager_reference_argmax(model, torch.tensor([enc.input_ids]), queries).numpy()
        needle = set(enc.span_positions["answer"])
        for layer, head, t in np.ndindex(argmax.shape):
            key, target = int(argmax[layer, head, t]), enc.input_ids[enc.answer_positions[t]]
            same = (
                enc.input_ids[key] == target
                if copy_match == "exact"
                else _normalized_by_decoding(tokenizer, enc.input_ids[key], target)
            )
            expected[layer, head] += (key in needle and same) / len(needle)
    np.testing.assert_allclose(np.asarray(block["scores"]), expected / 3)
