"""Head knockout: expectations computed independently from v_proj outputs and o_proj inputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from synthctx.interventions.knockout import (
    KNOCKOUT_IMPLEMENTATION,
    head_output_means,
    knockout,
    register_knockout_attention,
)
from synthctx.models.decoding import gold_logprob

VOCAB = 97


def _tiny_llama(n_layers: int, n_heads: int, n_kv: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv,
        max_position_embeddings=512,
        initializer_range=0.2,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).to(torch.float32).eval()


def _ids(batch: int, seq_len: int, seed: int) -> torch.LongTensor:
    return torch.randint(0, VOCAB, (batch, seq_len), generator=torch.Generator().manual_seed(seed))


def _lora(model: LlamaForCausalLM, seed: int):
    peft = pytest.importorskip("peft")
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    wrapped = peft.get_peft_model(model, cfg)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    return wrapped.eval()


def _layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model.layers


def _run_capturing(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor | None = None):
    """Logits, v_proj outputs and o_proj inputs per layer, from hooks set by the test itself."""
    v_out: dict[int, torch.Tensor] = {}
    o_in: dict[int, torch.Tensor] = {}
    handles = []
    for i, layer in enumerate(_layers(model)):
        attn = layer.self_attn
        handles.append(attn.v_proj.register_forward_hook(lambda _m, _a, out, i=i: v_out.__setitem__(i, out.detach())))
        handles.append(attn.o_proj.register_forward_pre_hook(lambda _m, a, i=i: o_in.__setitem__(i, a[0].detach())))
    try:
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    return logits, v_out, o_in


def _slot(o_in: torch.Tensor, head: int, head_dim: int) -> torch.Tensor:
    return o_in[..., head * head_dim : (head + 1) * head_dim]


def _expected_uniform(v: torch.Tensor, head: int, n_heads: int, n_kv: int, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of the head's value vectors over positions 0..t (non-padding), GQA: kv head = head // (n_heads/n_kv)."""
    batch, seq, _ = v.shape
    head_dim = v.shape[-1] // n_kv
    kv = head // (n_heads // n_kv)
    values = v.reshape(batch, seq, n_kv, head_dim)[:, :, kv].double()
    keep = torch.ones(batch, seq, dtype=torch.float64) if mask is None else mask.double()
    sums = torch.cumsum(values * keep[..., None], dim=1)
    counts = torch.cumsum(keep, dim=1).clamp(min=1)
    return sums / counts[..., None]


@pytest.mark.parametrize("semantics", ["uniform", "zero", "mean"])
@pytest.mark.parametrize(("n_heads", "n_kv"), [(8, 2), (4, 4)])
def test_no_heads_is_bit_identical(semantics: str, n_heads: int, n_kv: int) -> None:
    model = _tiny_llama(3, n_heads, n_kv, 0)
    ids = _ids(2, 40, 0)
    with torch.no_grad():
        plain = model(input_ids=ids, use_cache=False).logits
    means = torch.randn(3, n_heads, 64 // n_heads) if semantics == "mean" else None
    with knockout(model, [], semantics, means) as spec, torch.no_grad():
        assert model.config._attn_implementation == KNOCKOUT_IMPLEMENTATION
        got = model(input_ids=ids, use_cache=False).logits
    assert spec.heads == ()
    assert torch.equal(got, plain)
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize(("n_heads", "n_kv"), [(8, 2), (8, 8), (4, 1)])
def test_uniform_is_the_running_mean_of_values(n_heads: int, n_kv: int) -> None:
    model = _tiny_llama(3, n_heads, n_kv, 1)
    ids = _ids(2, 50, 1)
    head_dim = 64 // n_heads
    _, _, plain_o = _run_capturing(model, ids)
    heads = [(1, 0), (1, n_heads - 1), (2, 3)]
    with knockout(model, heads, "uniform"):
        logits, v_out, o_in = _run_capturing(model, ids)
    for layer, head in heads:
        want = _expected_uniform(v_out[layer], head, n_heads, n_kv, None).float()
        torch.testing.assert_close(_slot(o_in[layer], head, head_dim), want, atol=1e-5, rtol=1e-5)
    # layer 0 untouched; layer 1's other heads see the same inputs and are unchanged
    assert torch.equal(o_in[0], plain_o[0])
    for head in range(1, n_heads - 1):
        torch.testing.assert_close(_slot(o_in[1], head, head_dim), _slot(plain_o[1], head, head_dim), atol=0, rtol=0)
    # non-trivial: uniform differs from what the head did
    assert not torch.allclose(_slot(o_in[1], 0, head_dim), _slot(plain_o[1], 0, head_dim), atol=1e-3)


def test_uniform_respects_padding() -> None:
    model = _tiny_llama(2, 8, 2, 2)
    ids = _ids(2, 30, 2)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, :7] = 0  # left padding in the second row
    with knockout(model, [(0, 5)], "uniform"):
        _, v_out, o_in = _run_capturing(model, ids, mask)
    want = _expected_uniform(v_out[0], 5, 8, 2, mask).float()
    got = _slot(o_in[0], 5, 8)
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1, 7:], want[1, 7:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("n_heads", "n_kv"), [(8, 2), (8, 8)])
def test_zero_zeroes_exactly_that_slot(n_heads: int, n_kv: int) -> None:
    model = _tiny_llama(3, n_heads, n_kv, 3)
    ids = _ids(1, 45, 3)
    head_dim = 64 // n_heads
    plain_logits, _, plain_o = _run_capturing(model, ids)
    with knockout(model, [(1, 2), (1, 6)], "zero") as spec:
        logits, _, o_in = _run_capturing(model, ids)
    assert (spec.semantics, spec.heads, spec.calibration) == ("zero", ((1, 2), (1, 6)), None)
    assert torch.equal(o_in[0], plain_o[0])
    for head in range(n_heads):
        got = _slot(o_in[1], head, head_dim)
        if head in (2, 6):
            assert bool((got == 0).all())
        else:
            assert torch.equal(got, _slot(plain_o[1], head, head_dim))
    assert not torch.allclose(logits, plain_logits, atol=1e-4)


def test_head_output_means_and_mean_knockout() -> None:
    model = _tiny_llama(2, 8, 2, 4)
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[0, :5] = 0
    batches = [_ids(1, 25, 10), {"input_ids": _ids(2, 20, 11), "attention_mask": mask}]
    means = head_output_means(model, batches)
    assert means.shape == (2, 8, 8)
    # independent: o_proj inputs from the test's own hooks, averaged over non-padding tokens
    _, _, o1 = _run_capturing(model, batches[0])
    _, _, o2 = _run_capturing(model, batches[1]["input_ids"], mask)
    for layer in range(2):
        tokens = torch.cat([o1[layer].reshape(-1, 64), o2[layer][mask.bool()]])
        assert tokens.shape[0] == 25 + 35
        torch.testing.assert_close(means[layer].reshape(-1), tokens.double().mean(0).float(), atol=1e-6, rtol=1e-5)

    ids = _ids(1, 30, 12)
    _, _, plain_o = _run_capturing(model, ids)
    with knockout(model, [(0, 3)], "mean", means) as spec:
        _, _, o_in = _run_capturing(model, ids)
    record = dataclasses.replace(spec, calibration="2 random batches")
    assert (record.semantics, record.heads, record.calibration) == ("mean", ((0, 3),), "2 random batches")
    assert torch.equal(_slot(o_in[0], 3, 8), means[0, 3].expand(1, 30, 8))
    for head in (0, 1, 2, 4, 7):
        assert torch.equal(_slot(o_in[0], head, 8), _slot(plain_o[0], head, 8))


def test_lora_model_uniform_and_zero() -> None:
    model = _lora(_tiny_llama(2, 8, 2, 5), 6)
    ids = _ids(1, 40, 5)
    with torch.no_grad():
        plain = model(input_ids=ids, use_cache=False).logits
    with knockout(model, [], "uniform"), torch.no_grad():
        assert torch.equal(model(input_ids=ids, use_cache=False).logits, plain)
    with knockout(model, [(1, 1), (1, 6)], "uniform"):
        _, v_out, o_in = _run_capturing(model, ids)
    for head in (1, 6):
        want = _expected_uniform(v_out[1], head, 8, 2, None).float()
        torch.testing.assert_close(_slot(o_in[1], head, 8), want, atol=1e-5, rtol=1e-5)
    with knockout(model, [(0, 4)], "zero"):
        _, _, o_in = _run_capturing(model, ids)
    assert bool((_slot(o_in[0], 4, 8) == 0).all())
    assert model.get_base_model().config._attn_implementation == "sdpa"


def test_knockout_applies_during_cached_decode() -> None:
    model = _tiny_llama(2, 8, 2, 7)
    ids = _ids(1, 20, 7)
    with knockout(model, [(1, 2)], "uniform"), torch.no_grad():
        full = model(input_ids=ids, use_cache=False).logits
        prefix = model(input_ids=ids[:, :-1], use_cache=True)
        step = model(input_ids=ids[:, -1:], cache=prefix.past_key_values, use_cache=True).logits
    torch.testing.assert_close(step[0, -1], full[0, -1], atol=1e-5, rtol=1e-5)


def test_invalid_arguments_and_restoration() -> None:
    model = _tiny_llama(2, 4, 2, 8)
    with pytest.raises(ValueError, match="outside"):
        with knockout(model, [(2, 0)], "zero"):
            pass
    with pytest.raises(ValueError, match="unknown"):
        with knockout(model, [(0, 0)], "bogus"):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError, match="needs means"):
        with knockout(model, [(0, 0)], "mean"):
            pass
    with pytest.raises(ValueError, match="means given"):
        with knockout(model, [(0, 0)], "zero", torch.zeros(2, 4, 16)):
            pass
    with pytest.raises(RuntimeError, match="boom"):
        with knockout(model, [(0, 0)], "zero"):
            raise RuntimeError("boom")
    assert model.config._attn_implementation == "sdpa"
    assert register_knockout_attention() == register_knockout_attention() == KNOCKOUT_IMPLEMENTATION


def test_gold_logprob_on_tiny_model(tiny_model_dir, tokenizer, synthetic_cfg) -> None:
    from synthctx.data.tasks import encode
    from synthctx.data.tasks.mdqa import synthetic as mdqa_synthetic
    from synthctx.models.model_io import load_model

    model = load_model(tiny_model_dir, "float32")
    records, _ = mdqa_synthetic.build("low", "low", {**synthetic_cfg, "target_tokens": 150}, 1, 0, tokenizer)
    rec = records[0]
    got = gold_logprob(model, tokenizer, rec)
    enc = encode(tokenizer, rec, rec["answers"][0])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc.input_ids]), use_cache=False).logits[0].double()
    want = sum(float(torch.log_softmax(logits[p - 1], -1)[enc.input_ids[p]]) for p in enc.answer_positions)
    assert got < 0
    assert got == pytest.approx(want, abs=1e-4)
    with knockout(model, [(0, h) for h in range(4)] + [(1, h) for h in range(4)], "zero"):
        assert gold_logprob(model, tokenizer, rec) != pytest.approx(got, abs=1e-4)
