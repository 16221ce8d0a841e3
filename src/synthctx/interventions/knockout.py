"""Head knockout through a registered SDPA-wrapping attention function.

A knockout runs the model with a set of heads ``{(layer, query_head)}`` disabled.
The model keeps running with PyTorch SDPA; a thin wrapper registered through
``transformers.AttentionInterface`` edits only the knocked-out heads' slices of
the attention output (batch, q, heads, head_dim), i.e. the heads' slots of the
``o_proj`` input.  Semantics (docs/method.md, "Knockout"):

``uniform``
    The head attends uniformly over its causal (and padding-masked) row: its
    output at position t is the mean of its value vectors over the keys it may
    see (positions 0..t without padding), as in Wu et al.  Implemented by
    zeroing the head's query before SDPA, so every allowed score is 0 and the
    softmax is uniform (LOCOS calls this "zero" because it zeroes the query).
``zero``
    The head's output slot before ``o_proj`` is zeroed (RetMask's zeroed
    ``o_proj`` columns are the same thing).
``mean``
    The head's slot is replaced by a per-head mean vector, computed over a
    calibration set with :func:`head_output_means` (the mean of the slot over
    all non-padding tokens of the calibration batches).

Knocking out applies to every forward run inside :func:`knockout`, prefill and
decode alike; the experiments choose which forwards run inside it (scope ``all``:
all of them; ``answer``: only the last prompt token's and the answer's, over a
clean prefill cache; see interventions/experiments.py).  What an output must record is the :class:`KnockoutSpec`: the
semantics name, the sorted heads, and for ``mean`` a description of the
calibration set.  State lives in a :class:`contextvars.ContextVar` set for the
duration of one :func:`knockout` block, so nothing leaks between calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from synthctx.models.anatomy import Head, ModelAnatomy, register_attention

__all__ = [
    "KNOCKOUT_IMPLEMENTATION",
    "KnockoutSemantics",
    "KnockoutSpec",
    "head_output_means",
    "knockout",
    "register_knockout_attention",
]

KNOCKOUT_IMPLEMENTATION = "head_knockout"
KnockoutSemantics = Literal["uniform", "zero", "mean"]
Batch = torch.Tensor | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class KnockoutSpec:
    """What is knocked out and how: what outputs must store."""

    semantics: KnockoutSemantics
    heads: tuple[Head, ...]
    calibration: str | None = None  # description of the calibration set (``mean`` only)


@dataclass
class _KnockoutState:
    semantics: KnockoutSemantics
    by_layer: dict[int, list[int]]  # layer -> knocked-out query heads
    means: torch.Tensor | None  # (n_layers, n_heads, head_dim) for ``mean``
    seen_layers: set[int]


_ACTIVE_KNOCKOUT: ContextVar[_KnockoutState | None] = ContextVar("synthctx_head_knockout", default=None)


def _knockout_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """SDPA with the knocked-out heads' output slices edited; plain SDPA when no knockout is active."""
    state = _ACTIVE_KNOCKOUT.get()
    heads = None if state is None else state.by_layer.get(int(module.layer_idx))
    if state is not None:
        state.seen_layers.add(int(module.layer_idx))
    if state is not None and heads and state.semantics == "uniform":
        query = query.clone()
        query[:, heads] = 0
    out, weights = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )
    if state is None or not heads or state.semantics == "uniform":
        return out, weights
    out = out.clone()  # (batch, q, heads, head_dim)
    if state.semantics == "zero":
        out[:, :, heads] = 0
    else:
        assert state.means is not None
        mean = state.means[int(module.layer_idx), heads].to(device=out.device, dtype=out.dtype)  # (k, d)
        out[:, :, heads] = mean
    return out, weights


def register_knockout_attention() -> str:
    """Register the knockout attention (and SDPA's mask builder) under ``KNOCKOUT_IMPLEMENTATION``; idempotent."""
    return register_attention(KNOCKOUT_IMPLEMENTATION, _knockout_attention_forward)


@contextlib.contextmanager
def knockout(
    model: torch.nn.Module,
    heads: Iterable[Head],
    semantics: KnockoutSemantics,
    means: torch.Tensor | None = None,
) -> Iterator[KnockoutSpec]:
    """Within the block, every forward of ``model`` runs with ``heads`` knocked out.

    Args:
        model: causal LM dispatching attention through ``AttentionInterface``, possibly peft-wrapped.
        heads: (layer, query head) pairs; an empty set leaves outputs bit-identical to SDPA.
        semantics: ``uniform``, ``zero`` or ``mean`` (module docstring).
        means: (n_layers, n_heads, head_dim) from :func:`head_output_means`; required for ``mean`` only.

    Yields the :class:`KnockoutSpec` (without calibration description; add it with
    ``dataclasses.replace`` when recording).  The previous attention implementation
    is restored on exit, even on error.
    """
    if semantics not in get_args(KnockoutSemantics):
        raise ValueError(f"unknown knockout semantics {semantics!r}")
    anatomy = ModelAnatomy.of(model)
    n_layers, n_heads = anatomy.n_layers, anatomy.n_heads
    by_layer = anatomy.group_heads(heads)
    if semantics == "mean":
        if means is None or tuple(means.shape[:2]) != (n_layers, n_heads) or means.ndim != 3:
            raise ValueError(f"semantics 'mean' needs means of shape ({n_layers}, {n_heads}, head_dim)")
    elif means is not None:
        raise ValueError(f"means given for semantics {semantics!r}")
    state = _KnockoutState(semantics, by_layer, means, set())
    spec = KnockoutSpec(semantics, tuple((layer, h) for layer, hs in by_layer.items() for h in hs))
    token = _ACTIVE_KNOCKOUT.set(state)
    try:
        with anatomy.attention_override(KNOCKOUT_IMPLEMENTATION, _knockout_attention_forward):
            yield spec
    finally:
        _ACTIVE_KNOCKOUT.reset(token)
    missing = sorted(set(by_layer) - state.seen_layers)
    if state.seen_layers and missing:
        raise RuntimeError(f"attention of layers {missing} did not go through AttentionInterface")


def _as_inputs(batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, torch.Tensor):
        return batch, None
    return batch["input_ids"], batch.get("attention_mask")


def head_output_means(model: torch.nn.Module, batches: Iterable[Batch]) -> torch.Tensor:
    """Mean of each head's output slot (the ``o_proj`` input slice) over all non-padding calibration tokens.

    ``batches`` yields ``input_ids`` tensors (batch, seq) or mappings with
    ``input_ids`` and optional ``attention_mask``.  Runs the model unchanged (its
    current attention implementation).  Returns float32 (n_layers, n_heads, head_dim) on CPU.
    """
    anatomy = ModelAnatomy.of(model)
    n_layers, n_heads = anatomy.n_layers, anatomy.n_heads
    sums: dict[int, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64)
    current: dict[str, torch.Tensor | None] = {"mask": None}

    def make_hook(layer: int):  # noqa: ANN202
        def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0].double()  # (batch, q, n_heads * head_dim)
            mask = current["mask"]
            if mask is not None:
                x = x * mask.to(x.device, x.dtype)[..., None]
            sums[layer] = sums.get(layer, 0) + x.sum(dim=(0, 1)).cpu()

        return hook

    hooks = {layer: make_hook(layer) for layer in anatomy.attention}
    with anatomy.o_proj_hooks(pre=hooks), torch.no_grad():
        for batch in batches:
            input_ids, attention_mask = _as_inputs(batch)
            current["mask"] = attention_mask
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, logits_to_keep=1)
            count += input_ids.numel() if attention_mask is None else attention_mask.sum().item()
    if count == 0 or len(sums) != n_layers:
        raise ValueError("no calibration tokens, or not every layer's o_proj was reached")
    return torch.stack([(sums[layer] / count).reshape(n_heads, -1) for layer in range(n_layers)]).float()
