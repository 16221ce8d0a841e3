"""The model anatomy: what it reports for a tiny grouped-query Llama, plain and LoRA-wrapped, and that every
intervention it installs is gone (the model's logits bit-identical) once its block is left."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from synthctx.interventions.patching import head_contributions, patch_heads
from synthctx.models.anatomy import ModelAnatomy

VOCAB = 97
N_LAYERS, N_HEADS, N_KV, HIDDEN = 3, 8, 2, 64


def _tiny_llama(seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEADS,
        num_key_value_heads=N_KV,
        max_position_embeddings=256,
        initializer_range=0.2,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).to(torch.float32).eval()


def _lora(model: LlamaForCausalLM) -> torch.nn.Module:
    peft = pytest.importorskip("peft")
    cfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "o_proj"])
    wrapped = peft.get_peft_model(model, cfg)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return wrapped.eval()


@pytest.fixture(params=["plain", "lora"])
def model(request) -> torch.nn.Module:
    base = _tiny_llama(0)
    return base if request.param == "plain" else _lora(base)


def _ids(seq_len: int = 24) -> torch.Tensor:
    return torch.randint(0, VOCAB, (1, seq_len), generator=torch.Generator().manual_seed(1))


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits


def test_the_anatomy_reports_layers_heads_and_grouping(model) -> None:
    anatomy = ModelAnatomy.of(model)
    assert ModelAnatomy.of(model) is anatomy  # looked over once
    assert isinstance(anatomy.base, LlamaForCausalLM)
    assert (anatomy.n_layers, anatomy.n_heads, anatomy.n_kv_heads, anatomy.head_dim) == (3, 8, 2, 8)
    assert anatomy.layers is not None and len(anatomy.layers) == N_LAYERS
    assert sorted(anatomy.attention) == [0, 1, 2]
    for layer in range(N_LAYERS):
        assert anatomy.attention[layer] is anatomy.layers[layer].self_attn
        assert anatomy.o_proj(layer) is anatomy.layers[layer].self_attn.o_proj
    assert [anatomy.kv_head(h) for h in range(N_HEADS)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert anatomy.group_heads([(2, 5), (0, 1), (2, 3), (0, 1)]) == {0: [1], 2: [3, 5]}
    with pytest.raises(ValueError, match=r"head \(3, 0\) outside 3 layers x 8 heads"):
        anatomy.group_heads([(3, 0)])


def test_the_lora_wrapper_and_its_base_share_the_attention_modules() -> None:
    base = _tiny_llama(0)
    plain = ModelAnatomy.of(base)
    wrapped = ModelAnatomy.of(_lora(base))
    assert wrapped.base is base
    assert all(wrapped.attention[i] is plain.attention[i] for i in range(N_LAYERS))
    # o_proj is read when asked for: after wrapping it is the LoRA layer in both anatomies
    assert type(plain.o_proj(0)).__module__.startswith("peft")
    assert plain.o_proj(0) is wrapped.o_proj(0)


def _zero_attention(module, query, key, value, attention_mask, **kwargs):  # noqa: ANN001, ANN202
    out, weights = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return torch.zeros_like(out), weights


def test_installing_then_removing_an_attention_override_leaves_the_outputs_unchanged(model) -> None:
    anatomy = ModelAnatomy.of(model)
    ids = _ids()
    before = _logits(model, ids)
    with anatomy.attention_override("test_zero_attention", _zero_attention):
        assert anatomy.base.config._attn_implementation == "test_zero_attention"
        assert not torch.allclose(_logits(model, ids), before, atol=1e-3)  # the override was in use
    assert anatomy.base.config._attn_implementation == "sdpa"
    assert torch.equal(_logits(model, ids), before)
    with pytest.raises(RuntimeError, match="boom"), anatomy.attention_override("eager"):
        raise RuntimeError("boom")
    assert anatomy.base.config._attn_implementation == "sdpa"
    assert torch.equal(_logits(model, ids), before)


def test_o_proj_hooks_and_replaced_layers_are_removed_on_exit(model) -> None:
    anatomy = ModelAnatomy.of(model)
    ids = _ids()
    before = _logits(model, ids)

    def zero_input(_module, args):  # noqa: ANN001, ANN202
        return (torch.zeros_like(args[0]),)

    with anatomy.o_proj_hooks(pre={1: zero_input}):
        assert not torch.equal(_logits(model, ids), before)
    assert torch.equal(_logits(model, ids), before)

    class PassOn(torch.nn.Module):
        def forward(self, hidden_states, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
            return hidden_states

    originals = list(anatomy.layers)
    with anatomy.replaced_layers({0: PassOn()}):
        assert isinstance(anatomy.layers[0], PassOn)
        assert not torch.equal(_logits(model, ids), before)
    assert list(anatomy.layers) == originals
    assert torch.equal(_logits(model, ids), before)


def test_patching_walks_no_modules_once_the_anatomy_is_known(monkeypatch) -> None:
    """The anatomy is looked over once; hooks per forward (as per decode step) then never walk the model."""
    a, b = _tiny_llama(0), _tiny_llama(1)
    ids = _ids()
    ModelAnatomy.of(a), ModelAnatomy.of(b)

    def walk(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("model.modules() walked")

    heads = [(0, 1), (2, 6)]
    monkeypatch.setattr(a, "modules", walk)
    monkeypatch.setattr(b, "modules", walk)
    donor = head_contributions(b, ids, heads)
    with patch_heads(a, heads, donor), torch.no_grad():
        a(input_ids=ids, use_cache=False)


def test_a_dropped_model_is_freed_at_once_despite_its_cached_anatomy() -> None:
    """The anatomy refers back to its model weakly: no reference cycle holds a dropped model's memory until
    the garbage collector runs (snapshot scoring loads one model after another)."""
    gc.disable()
    try:
        model = _tiny_llama(0)
        assert ModelAnatomy.of(model).model is model
        ref = weakref.ref(model)
        del model
        assert ref() is None
    finally:
        gc.enable()
