"""Activation patching of per-head residual contributions (o_proj column blocks)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from synthctx.interventions.patching import head_contributions, patch_heads, patched_forward

VOCAB = 97
N_LAYERS, N_HEADS, N_KV, HIDDEN = 3, 8, 2, 64
HEAD_DIM = HIDDEN // N_HEADS
ALL_HEADS = [(layer, head) for layer in range(N_LAYERS) for head in range(N_HEADS)]


def _tiny_llama(seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEADS,
        num_key_value_heads=N_KV,
        max_position_embeddings=512,
        initializer_range=0.2,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).to(torch.float32).eval()


def _ids(batch: int, seq_len: int, seed: int) -> torch.LongTensor:
    return torch.randint(0, VOCAB, (batch, seq_len), generator=torch.Generator().manual_seed(seed))


def _attention_only_pair(seed: int) -> tuple[LlamaForCausalLM, LlamaForCausalLM]:
    """Two models with equal embeddings, MLPs and norms whose attention weights differ."""
    model_a = _tiny_llama(seed)
    model_b = copy.deepcopy(model_a)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, param in model_b.named_parameters():
            if "self_attn" in name:
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
    return model_a, model_b


def _lora_pair(seed: int):
    peft = pytest.importorskip("peft")
    base = _tiny_llama(seed)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    models = []
    for offset in (1, 2):
        wrapped = peft.get_peft_model(copy.deepcopy(base), cfg)
        torch.manual_seed(seed + offset)
        with torch.no_grad():
            for name, param in wrapped.named_parameters():
                if "lora_B" in name:
                    param.normal_(0.0, 0.3)
        models.append(wrapped.eval())
    return models[0], models[1]


def _logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, use_cache=False).logits


@pytest.mark.parametrize("pair", [_attention_only_pair, _lora_pair], ids=["attention-copies", "lora-adapters"])
def test_patching_all_heads_reproduces_b_and_none_leaves_a(pair) -> None:
    model_a, model_b = pair(0)
    ids = _ids(2, 48, 0)
    logits_a, logits_b = _logits(model_a, ids), _logits(model_b, ids)
    assert not torch.allclose(logits_a, logits_b, atol=1e-2), "the pair must differ"
    torch.testing.assert_close(patched_forward(model_a, model_b, ids, ALL_HEADS), logits_b, atol=1e-5, rtol=1e-5)
    assert torch.equal(patched_forward(model_a, model_b, ids, []), logits_a)
    # hooks removed afterwards
    assert torch.equal(_logits(model_a, ids), logits_a)


def test_patching_all_heads_with_padding() -> None:
    model_a, model_b = _attention_only_pair(1)
    ids = _ids(2, 30, 1)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[0, :6] = 0
    got = patched_forward(model_a, model_b, ids, ALL_HEADS, mask)
    want = _logits(model_b, ids, mask)
    torch.testing.assert_close(got[0, 6:], want[0, 6:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], want[1], atol=1e-5, rtol=1e-5)


def _o_proj_io(model: torch.nn.Module, ids: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(o_proj input, o_proj output) of one layer, captured by the test's own hook on the attention module."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    attn = base.model.layers[layer].self_attn
    seen: dict[str, torch.Tensor] = {}

    def hook(_m, args, out):  # noqa: ANN001, ANN202
        seen["out"] = out[0].detach()

    captured: dict[str, torch.Tensor] = {}
    handle_in = attn.o_proj.register_forward_pre_hook(lambda _m, a: captured.__setitem__("in", a[0].detach()))
    handle = attn.register_forward_hook(hook)
    try:
        _logits(model, ids)
    finally:
        handle.remove()
        handle_in.remove()
    return captured["in"], seen["out"]


def _effective_o_weight(model: torch.nn.Module, layer: int) -> torch.Tensor:
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    return model.model.layers[layer].self_attn.o_proj.weight.detach()


@pytest.mark.parametrize("pair", [_attention_only_pair, _lora_pair], ids=["attention-copies", "lora-adapters"])
def test_partial_patch_matches_explicit_column_blocks(pair) -> None:
    """Patching heads P of the last layer: its attention output = W_A[:, ~P] x_A[~P] + W_B[:, P] x_B[P]."""
    model_a, model_b = pair(2)
    ids = _ids(1, 40, 2)
    layer, patched = N_LAYERS - 1, [1, 2, 6]
    x_a, _ = _o_proj_io(model_a, ids, layer)
    x_b, _ = _o_proj_io(model_b, ids, layer)
    w_a, w_b = _effective_o_weight(model_a, layer), _effective_o_weight(model_b, layer)
    want = torch.zeros(1, 40, HIDDEN, dtype=torch.float64)
    for head in range(N_HEADS):
        cols = slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)
        x, w = (x_b, w_b) if head in patched else (x_a, w_a)
        want += x[..., cols].double() @ w[:, cols].double().T
    heads = [(layer, h) for h in patched]
    donor = head_contributions(model_b, ids, heads)
    with patch_heads(model_a, heads, donor):
        _, got = _o_proj_io(model_a, ids, layer)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)
    # patching an early layer propagates: the result is neither A nor B
    early = patched_forward(model_a, model_b, ids, [(0, 0), (0, 5)])
    assert not torch.allclose(early, _logits(model_a, ids), atol=1e-4)
    assert not torch.allclose(early, _logits(model_b, ids), atol=1e-4)


def test_contributions_must_match_heads() -> None:
    model_a, model_b = _attention_only_pair(3)
    ids = _ids(1, 10, 3)
    donor = head_contributions(model_b, ids, [(0, 1)])
    assert set(donor) == {0} and donor[0].shape == (1, 10, HIDDEN)
    with pytest.raises(ValueError, match="contributions for layers"):
        with patch_heads(model_a, [(1, 1)], donor):
            pass
    with pytest.raises(ValueError, match="outside"):
        head_contributions(model_b, ids, [(0, N_HEADS)])
