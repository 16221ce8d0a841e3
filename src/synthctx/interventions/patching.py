"""Activation patching of per-head contributions to the residual stream.

Model A (e.g. synthetic-trained) runs on an input while the contributions of
chosen heads ``{(layer, query_head)}`` are replaced by those of model B (e.g.
real-trained) on the same input.  A head's contribution is its output slot
mapped through *its own model's* ``o_proj``: with ``o_proj(x) = sum_h W_o[:, h] x_h + b``
the contribution of head h is ``W_o[:, h] x_h``.  Patching at this level stays
correct when LoRA changed ``o_proj`` (A's and B's ``W_o`` differ).

Semantics (record them with the head set): B's contributions are B's own, from a
separate clean forward of B on the same input ids; they are *not* recomputed
from A's (patched) residual stream.  In A's forward, at layer l the ``o_proj``
output becomes ``o_proj_A(x_A with patched slots zeroed) + [o_proj_B(x_B with only
patched slots kept) - o_proj_B(0)]`` — A's bias stays, B's bias is not added.
Patched heads change A's later layers' inputs, and later unpatched heads of A
react to that.  Because fine-tuning in the study touches attention only,
patching every head of every layer reproduces B to float precision.

``o_proj`` is treated as an affine map, so any linear wrapper (peft LoRA with
dropout off, i.e. in eval mode) works without reading its weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from synthctx.models.anatomy import Head, ModelAnatomy

__all__ = [
    "contributions_from_inputs",
    "head_contributions",
    "patch_heads",
    "patched_forward",
    "record_o_proj_inputs",
]


def _slot_mask(heads: list[int], n_heads: int, head_dim: int, like: torch.Tensor) -> torch.Tensor:
    """(n_heads * head_dim,) mask with 1 on the given heads' slots."""
    mask = torch.zeros(n_heads, head_dim, dtype=like.dtype, device=like.device)
    mask[heads] = 1
    return mask.reshape(-1)


def _linear_part(o_proj: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """o_proj(x) - o_proj(0): the map without its bias (``forward`` directly, bypassing hooks)."""
    return o_proj.forward(x) - o_proj.forward(torch.zeros_like(x[..., :1, :]))


def head_contributions(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    heads: Iterable[Head],
    attention_mask: torch.Tensor | None = None,
    cache: Any = None,
) -> dict[int, torch.Tensor]:
    """Summed residual-stream contribution of the chosen heads, per layer, from one clean forward.

    Returns ``{layer: W_o[:, P_l] x_{P_l}}`` (batch, q, hidden) for every layer l
    with chosen heads P_l, where x is the model's own ``o_proj`` input. With ``cache`` (a transformers Cache the
    forward extends in place) ``input_ids`` continue the cached tokens, as in step-by-step decoding.
    """
    heads = list(heads)
    with record_o_proj_inputs(model, ModelAnatomy.of(model).group_heads(heads)) as inputs, torch.no_grad():
        model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            cache=cache,
            use_cache=cache is not None,
            logits_to_keep=1,  # only the o_proj inputs are read
        )
    return contributions_from_inputs(model, heads, inputs)


@contextlib.contextmanager
def record_o_proj_inputs(model: torch.nn.Module, layers: Iterable[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Within the block, every forward of ``model`` stores the given layers' ``o_proj`` inputs (batch, q, hidden)
    in the yielded dict (the last forward's). Leaving the block checks that every layer was reached."""
    layers = sorted(set(layers))
    inputs: dict[int, torch.Tensor] = {}

    def make_hook(layer: int):  # noqa: ANN202
        def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            inputs[layer] = args[0].detach()

        return hook

    with ModelAnatomy.of(model).o_proj_hooks(pre={layer: make_hook(layer) for layer in layers}):
        yield inputs
    missing = sorted(set(layers) - set(inputs))
    if missing:
        raise RuntimeError(f"o_proj of layers {missing} was not reached")


def contributions_from_inputs(
    model: torch.nn.Module, heads: Iterable[Head], inputs: dict[int, torch.Tensor]
) -> dict[int, torch.Tensor]:
    """``{layer: W_o[:, P_l] x_{P_l}}`` from recorded ``o_proj`` inputs x (see :func:`record_o_proj_inputs`):
    one recorded clean forward serves every head set patched on the same tokens."""
    anatomy = ModelAnatomy.of(model)
    out: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for layer, layer_heads in anatomy.group_heads(heads).items():
            if layer not in inputs:
                raise ValueError(f"no recorded o_proj input for layer {layer}")
            x = inputs[layer]
            mask = _slot_mask(layer_heads, anatomy.n_heads, anatomy.head_dim, x)
            out[layer] = _linear_part(anatomy.o_proj(layer), x * mask)
    return out


@contextlib.contextmanager
def patch_heads(
    model: torch.nn.Module, heads: Iterable[Head], contributions: dict[int, torch.Tensor]
) -> Iterator[None]:
    """Within the block, ``model``'s chosen heads contribute ``contributions`` instead of their own.

    ``contributions`` comes from :func:`head_contributions` of the donor model on
    the same input (same heads), so every forward inside the block must use that input.
    """
    anatomy = ModelAnatomy.of(model)
    by_layer = anatomy.group_heads(heads)
    if set(by_layer) != set(contributions):
        raise ValueError(f"contributions for layers {sorted(contributions)}, heads in layers {sorted(by_layer)}")

    def make_hooks(layer: int):  # noqa: ANN202
        def pre_hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            x = args[0]
            keep = 1 - _slot_mask(by_layer[layer], anatomy.n_heads, anatomy.head_dim, x)
            return (x * keep, *args[1:])

        def hook(_module: torch.nn.Module, _args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            donor = contributions[layer]
            if donor.shape != output.shape:
                raise ValueError(f"layer {layer}: donor contribution {tuple(donor.shape)} vs {tuple(output.shape)}")
            return output + donor.to(device=output.device, dtype=output.dtype)

        return pre_hook, hook

    hooks = {layer: make_hooks(layer) for layer in by_layer}
    with anatomy.o_proj_hooks(pre={k: h[0] for k, h in hooks.items()}, post={k: h[1] for k, h in hooks.items()}):
        yield


def patched_forward(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    input_ids: torch.Tensor,
    heads: Iterable[Head],
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits of A on ``input_ids`` with ``heads``' contributions taken from B's clean forward on the same input."""
    heads = list(heads)
    donor = head_contributions(model_b, input_ids, heads, attention_mask)
    with patch_heads(model_a, heads, donor), torch.no_grad():
        return model_a(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
