"""Per-head attention argmax capture without materialising full attention.

Retrieval-head scoring (Wu et al. 2024) needs, for every attention head and a
few chosen query positions t, the key position i* = argmax_j a_{l,h}(t, j).
Requesting ``output_attentions=True`` would build an (L x L) matrix per head and
layer, which is infeasible for long contexts.  Instead the model keeps running
with PyTorch SDPA (for the real outputs) and a thin wrapper, registered through
``transformers.AttentionInterface``, scores only the chosen query rows:
``q_t . K^T * scaling`` plus the causal/attention mask.  Softmax is monotonic,
so the argmax of these raw scores is the argmax of the attention weights.

Captured state lives in a :class:`contextvars.ContextVar` that is set for the
duration of one :func:`capture_argmax` call and reset afterwards, so nothing
leaks between calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from synthctx.models.anatomy import ModelAnatomy, register_attention

__all__ = [
    "CAPTURE_IMPLEMENTATION",
    "capture_argmax",
    "eager_reference_argmax",
    "register_capture_attention",
]

CAPTURE_IMPLEMENTATION = "argmax_capture"


@dataclass
class _CaptureState:
    """Buffers and query selection for one capture call."""

    query_positions: torch.Tensor  # (P,) long, absolute positions
    key_start: int
    key_end: int
    out: torch.Tensor  # (n_layers, n_heads, P) long, -1 = not captured yet
    seen_layers: set[int] = field(default_factory=set)


_ACTIVE_CAPTURE: ContextVar[_CaptureState | None] = ContextVar("synthctx_argmax_capture", default=None)


def _select_mask_rows(attention_mask: torch.Tensor, positions: torch.Tensor, kv_len: int) -> torch.Tensor:
    """Pick the chosen query rows of a 4-D mask (batch, 1|heads, q, k), keeping broadcast dims."""
    mask = attention_mask[..., :kv_len]
    if mask.shape[-2] != 1:
        mask = mask.index_select(-2, positions.to(mask.device))
    return mask


def _record_argmax(
    state: _CaptureState,
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None,
) -> None:
    """Score only the selected query rows against all keys and store their argmax.

    ``query`` is (batch, n_heads, q, d) and ``key`` is (batch, n_kv_heads, k, d),
    i.e. before the grouped-query repeat; query head h reads kv head
    h // n_rep, matching ``transformers``' ``repeat_kv``.  Instead of repeating
    the keys we fold the n_rep query heads of a group into the row dimension.
    """
    layer_idx = int(module.layer_idx)
    _, n_heads, _, head_dim = query.shape
    n_kv = key.shape[1]
    kv_len = key.shape[2]
    if n_heads % n_kv != 0:
        raise RuntimeError(f"layer {layer_idx}: {n_heads} query heads not divisible by {n_kv} kv heads")
    n_rep = n_heads // n_kv
    positions = state.query_positions.to(query.device)
    n_pos = positions.numel()
    if scaling is None:
        scaling = head_dim**-0.5

    # Scores in float32: for bf16/fp16 models this avoids spurious ties from
    # rounding the scores; for float32 models it is the same arithmetic as eager.
    q_sel = query[:1].index_select(2, positions).float()  # (1, H, P, d)
    q_grouped = q_sel.reshape(1, n_kv, n_rep * n_pos, head_dim)
    scores = torch.matmul(q_grouped, key[:1].float().transpose(2, 3)) * scaling  # (1, KV, n_rep*P, K)
    scores = scores.reshape(1, n_heads, n_pos, kv_len)

    if attention_mask is not None:
        rows = _select_mask_rows(attention_mask[:1], positions, kv_len)
        if rows.dtype == torch.bool:
            scores = scores.masked_fill(~rows, float("-inf"))
        else:
            scores = scores + rows.to(scores.dtype)

    # Causality (always applied here: the mask may be None on the is_causal path)
    # and the optional key window [key_start, key_end).
    key_idx = torch.arange(kv_len, device=scores.device)
    allowed = (key_idx[None, :] <= positions[:, None]) & (key_idx[None, :] >= state.key_start)
    allowed &= key_idx[None, :] < state.key_end
    scores = scores.masked_fill(~allowed[None, None], float("-inf"))

    if not 0 <= layer_idx < state.out.shape[0]:
        raise RuntimeError(f"layer_idx {layer_idx} outside [0, {state.out.shape[0]})")
    if n_heads != state.out.shape[1]:
        raise RuntimeError(f"layer {layer_idx}: got {n_heads} query heads, config says {state.out.shape[1]}")
    state.out[layer_idx] = scores[0].argmax(dim=-1).to(state.out.device)
    state.seen_layers.add(layer_idx)


def _capture_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """SDPA attention that also records the per-head argmax of the selected rows.

    The returned output is exactly SDPA's, so the model's behaviour is unchanged;
    when no capture is active this is plain SDPA.
    """
    state = _ACTIVE_CAPTURE.get()
    if state is not None:
        _record_argmax(state, module, query, key, attention_mask, scaling)
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


def register_capture_attention() -> str:
    """Register the capture attention (and SDPA's mask builder, so it sees exactly what SDPA sees: ``None``
    for pure causal or a 4-D boolean mask) under ``CAPTURE_IMPLEMENTATION``. Idempotent."""
    return register_attention(CAPTURE_IMPLEMENTATION, _capture_attention_forward)


def _validate(
    input_ids: torch.Tensor, query_positions: Sequence[int], key_range: tuple[int, int] | None
) -> tuple[list[int], int, int]:
    """Check arguments; return normalised positions and the key window."""
    if input_ids.ndim != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"input_ids must have shape (1, seq_len), got {tuple(input_ids.shape)}")
    seq_len = int(input_ids.shape[1])
    positions = [int(p) for p in query_positions]
    if not positions:
        raise ValueError("query_positions must not be empty")
    for p in positions:
        if not 0 <= p < seq_len:
            raise ValueError(f"query position {p} outside [0, {seq_len})")
    start, end = (0, seq_len) if key_range is None else (int(key_range[0]), int(key_range[1]))
    if not 0 <= start < end <= seq_len:
        raise ValueError(f"key_range {key_range} must satisfy 0 <= start < end <= {seq_len}")
    if start > min(positions):
        raise ValueError(f"key_range start {start} is after query position {min(positions)}: no causal key left")
    return positions, start, end


def capture_argmax(
    model: torch.nn.Module,
    input_ids: torch.LongTensor,
    query_positions: list[int],
    key_range: tuple[int, int] | None = None,
) -> torch.LongTensor:
    """Argmax key position per (layer, query head, query position), from one SDPA forward pass.

    Args:
        model: a causal LM whose attention dispatches through ``AttentionInterface``
            (e.g. ``LlamaForCausalLM``), possibly peft-wrapped.
        input_ids: (1, seq_len) token ids.
        query_positions: absolute query positions t to score.
        key_range: optional ``(start, end)``; restrict the argmax to keys in
            ``[start, end)`` on top of causality. ``None`` = whole causal row.

    Returns:
        Long tensor (n_layers, n_query_heads, len(query_positions)) of absolute key
        positions, on CPU.
    """
    positions, start, end = _validate(input_ids, query_positions, key_range)
    anatomy = ModelAnatomy.of(model)
    n_layers, n_heads = anatomy.n_layers, anatomy.n_heads
    state = _CaptureState(
        query_positions=torch.tensor(positions, dtype=torch.long, device=input_ids.device),
        key_start=start,
        key_end=end,
        out=torch.full((n_layers, n_heads, len(positions)), -1, dtype=torch.long, device=input_ids.device),
    )
    token = _ACTIVE_CAPTURE.set(state)
    try:
        with anatomy.attention_override(CAPTURE_IMPLEMENTATION, _capture_attention_forward), torch.no_grad():
            # only attention is read: the LM head over every position would be a fifth of a small model's forward
            model(input_ids=input_ids, use_cache=False, logits_to_keep=1)
    finally:
        _ACTIVE_CAPTURE.reset(token)
    missing = sorted(set(range(n_layers)) - state.seen_layers)
    if missing:
        raise RuntimeError(f"attention of layers {missing} did not go through AttentionInterface")
    return state.out.cpu()  # type: ignore[return-value]


def eager_reference_argmax(
    model: torch.nn.Module,
    input_ids: torch.LongTensor,
    query_positions: list[int],
    key_range: tuple[int, int] | None = None,
) -> torch.LongTensor:
    """Same result as :func:`capture_argmax`, from eager full attention matrices.

    Materialises every (seq_len x seq_len) attention map, so only meant as a
    ground truth for tests and as a speed/memory baseline.
    """
    positions, start, end = _validate(input_ids, query_positions, key_range)
    with ModelAnatomy.of(model).attention_override("eager"), torch.no_grad():
        outputs = model(input_ids=input_ids, use_cache=False, output_attentions=True)
    attentions = outputs.attentions
    if attentions is None:
        raise RuntimeError("model returned no attentions with output_attentions=True")
    pos = torch.tensor(positions, dtype=torch.long)
    key_idx = torch.arange(int(input_ids.shape[1]))
    allowed = (key_idx[None, :] <= pos[:, None]) & (key_idx[None, :] >= start) & (key_idx[None, :] < end)
    result = []
    for layer_attn in attentions:
        rows = layer_attn[0].float().cpu().index_select(1, pos)  # (H, P, K)
        rows = rows.masked_fill(~allowed[None], float("-inf"))
        result.append(rows.argmax(dim=-1))
    return torch.stack(result)  # type: ignore[return-value]
