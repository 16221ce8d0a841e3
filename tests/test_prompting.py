"""Character spans become token positions after the chat template; misalignment is an error."""

from __future__ import annotations

import copy

import pytest

from synthctx.data.tasks import encode
from synthctx.data.tasks.mdqa import synthetic


def build_synthetic(needle, haystack, cfg, n, seed, tokenizer):
    records, _ = synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    return records


def test_spans_map_to_the_answer_tokens(tokenizer, synthetic_cfg):
    rec = build_synthetic("symbolic", "symbolic", synthetic_cfg, 1, 0, tokenizer)[0]
    enc = encode(tokenizer, rec, rec["answers"][0])
    needle_text = tokenizer.decode([enc.input_ids[p] for p in enc.span_positions["answer"]])
    assert needle_text.strip() == rec["answers"][0]
    answer_text = tokenizer.decode([enc.input_ids[p] for p in enc.answer_positions])
    assert answer_text == rec["answers"][0]
    assert enc.answer_positions[0] == enc.prompt_length
    assert tokenizer.decode(enc.input_ids[enc.answer_positions[-1] + 1 :]).startswith("<|im_end|>")
    gold = enc.span_positions["gold_document"]
    assert set(enc.span_positions["answer"]) <= set(gold)
    first, end = enc.context_range
    assert first <= min(gold) and max(gold) < end <= enc.prompt_length
    assert tokenizer.decode(enc.input_ids[first:end]).strip() == rec["context"].strip()


def test_prompt_only_encoding_matches_the_prefix(tokenizer, synthetic_cfg):
    rec = build_synthetic("low", "low", synthetic_cfg, 1, 0, tokenizer)[0]
    with_answer = encode(tokenizer, rec, rec["answers"][0])
    prompt_only = encode(tokenizer, rec, None)
    assert prompt_only.input_ids == with_answer.input_ids[: with_answer.prompt_length]
    assert prompt_only.span_positions == with_answer.span_positions


def test_a_span_outside_the_context_is_an_error(tokenizer, synthetic_cfg):
    rec = copy.deepcopy(build_synthetic("low", "low", synthetic_cfg, 1, 0, tokenizer)[0])
    n = len(rec["context"])
    rec["spans"]["answer"] = [[n + 5, n + 9]]
    with pytest.raises(ValueError, match="outside the context"):
        encode(tokenizer, rec, rec["answers"][0])


def test_a_span_no_token_covers_is_an_error(tokenizer, synthetic_cfg):
    rec = copy.deepcopy(build_synthetic("low", "low", synthetic_cfg, 1, 0, tokenizer)[0])
    s = rec["spans"]["answer"][0][0]
    rec["spans"]["answer"] = [[s, s]]  # empty span
    with pytest.raises(ValueError, match="outside the context|covers no token"):
        encode(tokenizer, rec, rec["answers"][0])


def test_the_layout_is_prompting_s_and_the_instruction_the_task_s(tokenizer, synthetic_cfg):
    """prompting lays out any instruction it is given (it knows no task); tasks.encode gives the task's."""
    from synthctx.data import prompting
    from synthctx.data.length_fitting import LengthFitter
    from synthctx.data.tasks.mdqa import SPEC

    rec = build_synthetic("low", "low", synthetic_cfg, 1, 0, tokenizer)[0]
    assert prompting.encode(tokenizer, rec, None, SPEC.instruction) == encode(tokenizer, rec, None)
    assert prompting.encode(tokenizer, rec, None, "Answer.") != encode(tokenizer, rec, None)
    empty = prompting.prompt_text(tokenizer, "Answer.", "", "")
    assert LengthFitter(tokenizer, "Answer.").overhead == prompting.count_tokens(tokenizer, empty)
