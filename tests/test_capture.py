"""Tests for synthctx.heads.capture: SDPA-side argmax capture must equal eager attention argmax."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from synthctx.heads import capture  # noqa: E402
from synthctx.heads.capture import (  # noqa: E402
    CAPTURE_IMPLEMENTATION,
    capture_argmax,
    eager_reference_argmax,
    register_capture_attention,
)

VOCAB = 97


def _tiny_llama(n_layers: int, n_heads: int, n_kv: int, seed: int) -> LlamaForCausalLM:
    """Tiny seeded float32 Llama; a large init range keeps attention peaky so argmaxes have no near-ties."""
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
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    return model


def _ids(seq_len: int, seed: int) -> torch.LongTensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (1, seq_len), generator=gen)


CASES = [
    # (n_layers, n_heads, n_kv, seq_len, seed)
    pytest.param(2, 8, 2, 64, 0, id="gqa-2layers"),
    pytest.param(4, 8, 2, 180, 1, id="gqa-4layers"),
    pytest.param(3, 8, 8, 120, 2, id="mha"),
    pytest.param(2, 4, 1, 50, 3, id="mqa"),
]


@pytest.mark.parametrize(("n_layers", "n_heads", "n_kv", "seq_len", "seed"), CASES)
def test_capture_matches_eager(n_layers: int, n_heads: int, n_kv: int, seq_len: int, seed: int) -> None:
    model = _tiny_llama(n_layers, n_heads, n_kv, seed)
    ids = _ids(seq_len, seed)
    positions = [0, 1, seq_len // 3, seq_len // 2, seq_len - 2, seq_len - 1]
    got = capture_argmax(model, ids, positions)
    want = eager_reference_argmax(model, ids, positions)
    assert got.shape == (n_layers, n_heads, len(positions))
    assert got.dtype == torch.long
    assert torch.equal(got, want)
    # causality: argmax never points to the future
    assert bool((got <= torch.tensor(positions)).all())
    # non-trivial: heads disagree somewhere, i.e. not everything collapses onto one key
    assert got[..., -1].unique().numel() > 1


@pytest.mark.parametrize(("n_layers", "n_heads", "n_kv", "seq_len", "seed"), CASES)
def test_capture_matches_eager_with_key_range(n_layers: int, n_heads: int, n_kv: int, seq_len: int, seed: int) -> None:
    model = _tiny_llama(n_layers, n_heads, n_kv, seed)
    ids = _ids(seq_len, seed)
    start, end = seq_len // 4, (3 * seq_len) // 4
    # includes positions inside the window (causality cuts it) and after it
    positions = [start, start + 3, end - 1, end + 2, seq_len - 1]
    key_range = (start, end)
    got = capture_argmax(model, ids, positions, key_range=key_range)
    want = eager_reference_argmax(model, ids, positions, key_range=key_range)
    assert got.shape == (n_layers, n_heads, len(positions))
    assert torch.equal(got, want)
    assert bool((got >= start).all()) and bool((got < end).all())
    assert bool((got <= torch.tensor(positions)).all())
    # restricting the window actually changes some answers for the last position
    unrestricted = capture_argmax(model, ids, positions)
    assert not torch.equal(got, unrestricted)


def test_implementation_restored_and_state_local() -> None:
    model = _tiny_llama(2, 8, 2, 10)
    ids = _ids(60, 10)
    assert model.config._attn_implementation == "sdpa"
    first = capture_argmax(model, ids, [59])
    assert model.config._attn_implementation == "sdpa"
    assert capture._ACTIVE_CAPTURE.get() is None
    eager_reference_argmax(model, ids, [59])
    assert model.config._attn_implementation == "sdpa"
    # a second call with other positions is independent of the first
    second = capture_argmax(model, ids, [20, 59])
    assert torch.equal(second[..., 1:], first)
    assert torch.equal(second, eager_reference_argmax(model, ids, [20, 59]))
    # previous implementation other than sdpa is restored as well
    model.set_attn_implementation("eager")
    capture_argmax(model, ids, [59])
    assert model.config._attn_implementation == "eager"


def test_implementation_restored_after_exception() -> None:
    model = _tiny_llama(2, 8, 2, 11)
    ids = _ids(40, 11)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    handle = model.model.layers[1].register_forward_pre_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            capture_argmax(model, ids, [39])
        assert model.config._attn_implementation == "sdpa"
        assert capture._ACTIVE_CAPTURE.get() is None
        with pytest.raises(RuntimeError, match="boom"):
            eager_reference_argmax(model, ids, [39])
        assert model.config._attn_implementation == "sdpa"
    finally:
        handle.remove()
    # and the model still works afterwards
    assert torch.equal(capture_argmax(model, ids, [39]), eager_reference_argmax(model, ids, [39]))


def test_invalid_arguments() -> None:
    model = _tiny_llama(2, 8, 2, 12)
    ids = _ids(30, 12)
    for positions, key_range in [([30], None), ([-1], None), ([], None), ([5], (6, 10)), ([29], (10, 10))]:
        with pytest.raises(ValueError):
            capture_argmax(model, ids, positions, key_range=key_range)
    with pytest.raises(ValueError):
        capture_argmax(model, torch.cat([ids, ids]), [5])
    assert model.config._attn_implementation == "sdpa"


def test_register_is_idempotent() -> None:
    assert register_capture_attention() == CAPTURE_IMPLEMENTATION
    assert register_capture_attention() == CAPTURE_IMPLEMENTATION


def test_capture_does_not_change_outputs() -> None:
    model = _tiny_llama(3, 8, 2, 13)
    ids = _ids(100, 13)
    register_capture_attention()
    with torch.no_grad():
        ref = model(input_ids=ids, use_cache=False).logits
        model.set_attn_implementation(CAPTURE_IMPLEMENTATION)
        try:
            # with no capture active the implementation is plain sdpa
            plain = model(input_ids=ids, use_cache=False).logits
            # and with a capture active the outputs are still sdpa's
            state = capture._CaptureState(
                query_positions=torch.tensor([10, 99]),
                key_start=0,
                key_end=100,
                out=torch.full((3, 8, 2), -1, dtype=torch.long),
            )
            token = capture._ACTIVE_CAPTURE.set(state)
            try:
                captured = model(input_ids=ids, use_cache=False).logits
            finally:
                capture._ACTIVE_CAPTURE.reset(token)
        finally:
            model.set_attn_implementation("sdpa")
    assert torch.allclose(plain, ref, atol=1e-6, rtol=1e-5)
    assert torch.allclose(captured, ref, atol=1e-6, rtol=1e-5)
    assert state.seen_layers == {0, 1, 2}
    assert bool((state.out >= 0).all())


def _capture_with_mask(
    model: LlamaForCausalLM, ids: torch.Tensor, mask: torch.Tensor, positions: list[int]
) -> torch.Tensor:
    """Drive the capture path with an explicit attention_mask (not part of the public API)."""
    register_capture_attention()
    state = capture._CaptureState(
        query_positions=torch.tensor(positions),
        key_start=0,
        key_end=ids.shape[1],
        out=torch.full((model.config.num_hidden_layers, model.config.num_attention_heads, len(positions)), -1),
    )
    token = capture._ACTIVE_CAPTURE.set(state)
    model.set_attn_implementation(CAPTURE_IMPLEMENTATION)
    try:
        with torch.no_grad():
            model(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        capture._ACTIVE_CAPTURE.reset(token)
        model.set_attn_implementation("sdpa")
    return state.out


def _eager_with_mask(
    model: LlamaForCausalLM, ids: torch.Tensor, mask: torch.Tensor, positions: list[int]
) -> torch.Tensor:
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            attn = model(input_ids=ids, attention_mask=mask, use_cache=False, output_attentions=True).attentions
    finally:
        model.set_attn_implementation("sdpa")
    return torch.stack([a[0][:, positions, :].argmax(-1) for a in attn])


def test_explicit_masks_boolean_and_additive() -> None:
    """The mask passed to the attention function can be a 4-D bool (padding) or a custom 4-D additive mask."""
    model = _tiny_llama(2, 8, 2, 14)
    seq_len = 70
    ids = _ids(seq_len, 14)
    positions = [20, 45, 69]
    # 2-D padding mask -> sdpa_mask builds a 4-D boolean mask (the None/is_causal shortcut is not possible)
    pad = torch.ones(1, seq_len, dtype=torch.long)
    pad[0, :5] = 0
    got = _capture_with_mask(model, ids, pad, positions)
    assert bool((got >= 5).all())
    assert torch.equal(got, _eager_with_mask(model, ids, pad, positions))
    # custom 4-D additive float mask, passed through as-is: causal plus blocking keys 30..39
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    causal[:, 30:40] = False
    causal[torch.arange(seq_len), torch.arange(seq_len)] = True
    additive = torch.zeros(1, 1, seq_len, seq_len).masked_fill(~causal, torch.finfo(torch.float32).min)
    got = _capture_with_mask(model, ids, additive, positions)
    assert not bool(((got >= 30) & (got < 40)).any())
    assert torch.equal(got, _eager_with_mask(model, ids, additive, positions))


def test_peft_lora_wrapped_and_merged() -> None:
    peft = pytest.importorskip("peft")
    model = _tiny_llama(2, 8, 2, 15)
    ids = _ids(90, 15)
    positions = [30, 60, 89]
    with torch.no_grad():
        base_logits = model(input_ids=ids, use_cache=False).logits
    lora_cfg = peft.LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    wrapped = peft.get_peft_model(model, lora_cfg)
    torch.manual_seed(16)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    wrapped.eval()
    with torch.no_grad():
        lora_logits = wrapped(input_ids=ids, use_cache=False).logits
    assert not torch.allclose(lora_logits, base_logits, atol=1e-3)

    got = capture_argmax(wrapped, ids, positions)
    assert got.shape == (2, 8, len(positions))
    assert torch.equal(got, eager_reference_argmax(wrapped, ids, positions))
    assert torch.equal(
        capture_argmax(wrapped, ids, positions, key_range=(10, 50)),
        eager_reference_argmax(wrapped, ids, positions, key_range=(10, 50)),
    )
    assert wrapped.get_base_model().config._attn_implementation == "sdpa"

    merged = wrapped.merge_and_unload().eval()
    got_merged = capture_argmax(merged, ids, positions)
    assert torch.equal(got_merged, eager_reference_argmax(merged, ids, positions))
    assert merged.config._attn_implementation == "sdpa"
