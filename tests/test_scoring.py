"""The retrieval score: hits need the argmax in the needle span AND the copied token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthctx.heads.capture import eager_reference_argmax
from synthctx.heads.scoring import insight_hits, retrieval_hits, score_heads
from synthctx.model_io import load_model
from synthctx.prompting import encode
from synthctx.tasks.mdqa import synthetic as mdqa_synthetic
from synthctx.tasks.musique import synthetic as musique_synthetic
from synthctx.tasks.summhay import synthetic as summhay_synthetic


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
    kinds = score_heads(model, tokenizer, recs, {}, "teacher_forced", "all")
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
    result = score_heads(model, tokenizer, recs, {}, "teacher_forced", "context")["retrieval"]
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
