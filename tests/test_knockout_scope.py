"""Knockout scope `answer` (Wu et al.'s protocol) against a hand-written reference, k on the model's scale, and
random controls drawn outside the heads they control for."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import DynamicCache

from synthctx.data.tasks import build_synthetic, encode, get
from synthctx.interventions import experiments
from synthctx.interventions.experiments import calibration_means, knockout_result, measure, run_knockout
from synthctx.interventions.head_picking import Configuration, knockout_configurations, patching_configurations
from synthctx.interventions.runners import PlainRunner
from synthctx.models.model_io import load_model
from synthctx.plan.settings import KnockoutRun

MAX_NEW = 5
HEADS = ((0, 1), (1, 0), (1, 3))  # the tiny model: 2 layers x 4 query heads, 2 key-value heads, head_dim 8


@pytest.fixture(scope="module")
def records(tokenizer, synthetic_cfg):
    recs, _ = build_synthetic("mdqa", "low", "low", {**synthetic_cfg, "target_tokens": 150}, 2, 0, tokenizer)
    return recs


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    """The tiny model with its attention weights changed, so that heads differ from one another."""
    m = load_model(tiny_model_dir, "float32")
    gen = torch.Generator().manual_seed(21)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "self_attn" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return m


def _slot_hooks(model, heads, replace):
    """o_proj pre-hooks that overwrite each knocked-out head's slot of the o_proj input: replace(layer, head,
    slot, cache) gives the new slot (batch, q, head_dim)."""
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    handles = []
    for layer in sorted({layer for layer, _ in heads}):
        mine = [h for lay, h in heads if lay == layer]

        def hook(_module, args, layer=layer, mine=mine):
            x = args[0].clone()
            for h in mine:
                cols = slice(h * head_dim, (h + 1) * head_dim)
                x[..., cols] = replace(layer, h, x[..., cols])
            return (x,)

        handles.append(model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(hook))
    return handles


def _reference(model, tokenizer, rec, heads, replace):
    """By hand: the plain model prefills prompt[:-1] into a cache; with the heads' o_proj input slots edited by
    hooks, one forward of the last prompt token + gold answer gives the gold log-probability and the first
    token, then the cache is cut back to the prompt and greedy decoding runs with the hooks on. Returns the
    log-probability, the greedy ids and the clean prefix's keys and values."""
    gold = encode(tokenizer, rec, rec["answers"][0])
    ids = torch.tensor([gold.input_ids])
    n, p = ids.shape[1], gold.prompt_length
    cache = DynamicCache()
    with torch.no_grad():
        model(input_ids=ids[:, : p - 1], cache=cache, use_cache=True)
        clean = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
        handles = _slot_hooks(model, heads, replace(cache, p - 1)) if heads else []
        try:
            logits = model(input_ids=ids[:, p - 1 :], cache=cache, use_cache=True).logits[0].float()
            log_probs = torch.log_softmax(logits, dim=-1)
            rows = torch.tensor(gold.answer_positions) - p  # row j predicts the token at p - 1 + j + 1
            logprob = float(log_probs[rows, ids[0, gold.answer_positions]].sum())
            cache.crop(-(n - p))
            tokens, token = [], int(logits[0].argmax())
            while token != tokenizer.eos_token_id:
                tokens.append(token)
                if len(tokens) == MAX_NEW:
                    break
                out = model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True).logits[0, -1]
                token = int(out.argmax())
        finally:
            for handle in handles:
                handle.remove()
    return logprob, tokens, clean


def _zero(_cache, _prefix):
    return lambda _layer, _head, slot: torch.zeros_like(slot)


def _mean_of(means):
    return lambda _cache, _prefix: lambda layer, head, slot: means[layer, head].to(slot.dtype).expand_as(slot)


def _uniform(_cache, prefix):
    """The head's output at query position t is the mean of its value vectors at positions 0..t: the clean
    prefix's values come from the clean cache, the rest from the cache as the masked forward fills it."""
    n_heads, n_kv = 4, 2

    def replace(layer, head, slot):
        values = _cache.layers[layer].values[0, head // (n_heads // n_kv)].double()  # (positions, head_dim)
        q = slot.shape[-2]
        start = values.shape[0] - q  # the first query's position
        means = torch.cumsum(values, dim=0) / torch.arange(1, values.shape[0] + 1, dtype=torch.float64)[:, None]
        return means[start:].to(slot.dtype).expand_as(slot)

    return replace


class _CheckingRunner(PlainRunner):
    """Keeps the clean prefill's cache when it is made and checks, at every crop back to its length, that
    the configurations left it untouched."""

    checked = 0

    def forward(self, ids, keep=1):
        fresh = self.cache.get_seq_length() == 0
        out = super().forward(ids, keep)
        if fresh:
            self.clean = [(layer.keys.clone(), layer.values.clone()) for layer in self.cache.layers]
        return out

    def crop(self, n):
        super().crop(n)
        if n == self.clean[0][0].shape[-2]:
            for layer, (keys, values) in zip(self.cache.layers, self.clean, strict=True):
                assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)
            _CheckingRunner.checked += 1


@pytest.mark.parametrize("semantics", ["zero", "mean"])
def test_answer_scope_is_a_clean_prefill_then_a_masked_answer_bit_for_bit(
    model, tokenizer, records, monkeypatch, semantics
):
    configs = [Configuration(None, "none", 0, 0, ()), Configuration("retrieval", "top", 3, 0, HEADS)]
    means = calibration_means(model, tokenizer, records) if semantics == "mean" else None
    decoded: list[list[int]] = []

    def recording(*args, **kwargs):
        decoded.append(real_greedy(*args, **kwargs))
        return decoded[-1]

    real_greedy = experiments.greedy_continue
    monkeypatch.setattr(experiments, "greedy_continue", recording)
    monkeypatch.setattr(experiments, "PlainRunner", _CheckingRunner)
    _CheckingRunner.checked = 0
    rows = run_knockout(model, tokenizer, records, configs, semantics, means, get("mdqa").score, MAX_NEW, "answer")
    assert _CheckingRunner.checked == len(records) * len(configs)  # the clean prefix survived every configuration
    replace = _zero if semantics == "zero" else _mean_of(means)
    for i, rec in enumerate(records):
        for j, (config, row) in enumerate(zip(configs, rows, strict=True)):
            logprob, tokens, clean = _reference(model, tokenizer, rec, config.heads, replace)
            assert row["gold_logprob"][i] == logprob, (semantics, config.control, i)  # exact
            assert decoded[i * len(configs) + j] == tokens
            assert len(tokens) > 0
    assert rows[1]["gold_logprob"] != rows[0]["gold_logprob"]  # the masked heads change the answer's score


def test_answer_scope_uniform_attends_over_the_clean_prefix(model, tokenizer, records):
    """uniform: the masked heads' outputs at the answer's queries are the running mean of their values, the
    clean prefix's included (to float tolerance: SDPA with a zero query against a cumulative mean)."""
    configs = [Configuration("retrieval", "top", 3, 0, HEADS)]
    rows = run_knockout(model, tokenizer, records, configs, "uniform", None, get("mdqa").score, MAX_NEW, "answer")
    for i, rec in enumerate(records):
        logprob, _, _ = _reference(model, tokenizer, rec, HEADS, _uniform)
        assert rows[0]["gold_logprob"][i] == pytest.approx(logprob, abs=1e-4)


def test_the_scopes_differ_and_no_knockout_is_the_plain_model_under_both(model, tokenizer, records):
    score = get("mdqa").score
    configs = [Configuration(None, "none", 0, 0, ()), Configuration("retrieval", "top", 3, 0, HEADS)]
    answer = run_knockout(model, tokenizer, records, configs, "zero", None, score, MAX_NEW, "answer")
    every = run_knockout(model, tokenizer, records, configs, "zero", None, score, MAX_NEW, "all")
    plain = measure(PlainRunner(model), tokenizer, records, score, MAX_NEW)
    assert every[0]["gold_logprob"] == plain.gold_logprob  # scope all, nothing masked: the plain measure
    assert answer[0]["gold_logprob"] == pytest.approx(plain.gold_logprob, abs=1e-4)  # one forward split in two
    assert answer[0]["predictions"] == plain.predictions
    assert answer[1]["gold_logprob"] != pytest.approx(every[1]["gold_logprob"], abs=1e-3)
    with pytest.raises(ValueError, match="scope"):
        run_knockout(model, tokenizer, records, configs, "zero", None, score, MAX_NEW, "prefill")


def test_k_is_a_count_or_a_fraction_of_the_models_heads():
    resolve = KnockoutRun.resolve_k
    assert resolve(0.01, 270) == 3  # 2.7 heads: the paper's 10 of 1,024 on SmolLM2-135M
    assert resolve(0.01, 1024) == 10 and resolve(10, 1024) == 10
    assert resolve(0.001, 270) == 1  # never fewer than one head
    assert resolve(0.5, 5) == 2  # 2.5 rounds half to even
    assert resolve(10, 8) == 10 and resolve(10.0, 8) == 10
    for bad in (0, -1, 1.5, 0.0, True, "3"):
        with pytest.raises(ValueError):
            resolve(bad, 270)


def _scores(seed: int, n_layers: int, n_heads: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n_layers, n_heads)) + 0.01  # every head scores above 0


def test_k_items_giving_the_same_count_run_once_and_rows_carry_k_and_its_fraction(model, tokenizer, records):
    scores = _scores(0, 2, 4)  # 8 heads: 0.25 -> 2 (as does the count 2), 0.1 -> 1
    configs = knockout_configurations({"retrieval": scores}, (0.25, 2, 0.1), draws=3, exclude_top=2, seed=0)
    assert [(c.control, c.k, c.k_spec) for c in configs if c.control in ("none", "top")] == [
        ("none", 0, ()),
        ("top", 2, (0.25, 2)),
        ("top", 1, (0.1,)),
    ]
    assert len(configs) == 1 + 2 * (2 + 2 * 3)
    rows = run_knockout(
        model, tokenizer, records[:1], configs[:3], "zero", None, get("mdqa").score, MAX_NEW, scope="answer"
    )
    assert [(r["k"], r["k_fraction"], r["k_spec"]) for r in rows] == [
        (0, 0.0, []),
        (2, 0.25, [0.25, 2]),
        (2, 0.25, [0.25, 2]),
    ]
    settings = dataclasses.replace(_knockout_settings(), scope="answer")
    out = knockout_result(settings, records[:1], {"n_layers": 2, "n_heads": 4}, None, rows, 0)
    assert out["scope"] == "answer" and out["settings"]["scope"] == "answer"


def _knockout_settings() -> KnockoutRun:
    return KnockoutRun(
        dtype="float32", ranking_examples=1, n_examples=1, calibration_examples=0, ranked_by="teacher_forced",
        argmax_over="all", insight_normalization="answer_steps", copy_match="normalized", head_kinds=("retrieval",),
        max_new_tokens=5, semantics="zero", scope="all", k=(0.25, 2), random_draws=3, exclude_top=2,
    )  # fmt: skip


def test_every_random_knockout_control_avoids_the_top_heads():
    """Over many seeds, no matched or all-head random draw contains one of the exclude_top best heads, and the
    all-head draws reach every other head (they are drawn from all of them)."""
    scores = _scores(3, 3, 4)
    flat = sorted(((scores[h], h) for h in np.ndindex(scores.shape)), key=lambda t: -t[0])
    best = {h for _, h in flat[:4]}
    reached = set()
    for seed in range(40):
        configs = knockout_configurations({"retrieval": scores}, (2,), draws=3, exclude_top=4, seed=seed)
        for c in configs:
            if c.control.startswith("random"):
                assert not set(c.heads) & best and len(set(c.heads)) == 2
                assert c.drawn_outside == "top_4"
            if c.control == "random_all":
                reached |= set(c.heads)
    assert reached == {h for h in np.ndindex(scores.shape)} - best


def test_random_patching_sets_lie_outside_the_real_heads():
    real = np.array([[0.9, 0.0, 0.5, 0.0], [0.0, 0.8, 0.0, 0.0]])
    synthetic = np.array([[0.7, 0.6, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    ref = {(0, 0), (0, 2), (1, 1)}
    for seed in range(30):
        configs = patching_configurations({"retrieval": synthetic}, {"retrieval": real}, "threshold", 0.1, 2, 3, seed)
        randoms = [c for c in configs if c.control == "random"]
        assert len(randoms) == 3
        for c in randoms:
            assert len(set(c.heads)) == 3 and not set(c.heads) & ref and c.drawn_outside == "all_real"
    crowded = np.ones((1, 4))  # every head is a real head: nothing to draw from
    with pytest.raises(ValueError, match="outside"):
        patching_configurations({"retrieval": crowded}, {"retrieval": crowded}, "threshold", 0.1, 2, 3, 0)
