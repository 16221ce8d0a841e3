"""One model's anatomy: its decoder layers, attention modules and their ``o_proj``, head counts, head dim and
grouped-query layout, and the three ways the study changes attention — a registered attention function, hooks
on ``o_proj``, decoder layers swapped for stand-ins — each installed and removed in one place.

Head capture, head scoring, knockout, patching and the intervention runners read the model through
:meth:`ModelAnatomy.of`, which looks the model over once (plain or peft-wrapped) and caches the result, so no
forward or decode step walks ``model.modules()``. ``o_proj`` is read from its attention module at call time:
wrapping in LoRA or merging the adapter replaces that submodule, not the attention module.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = ["Head", "ModelAnatomy", "pretrained_model", "register_attention"]

Head = tuple[int, int]  # (layer, query head)
PreHook = Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...] | None]
PostHook = Callable[[torch.nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor | None]


def pretrained_model(model: torch.nn.Module) -> PreTrainedModel:
    """The underlying ``PreTrainedModel`` (unwrapping e.g. a peft ``PeftModel``)."""
    if isinstance(model, PreTrainedModel):
        return model
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        base = get_base()
        if isinstance(base, PreTrainedModel):
            return base
    for sub in model.modules():
        if isinstance(sub, PreTrainedModel):
            return sub
    raise TypeError(f"no transformers PreTrainedModel found inside {type(model).__name__}")


def register_attention(name: str, forward: Callable[..., tuple[torch.Tensor, torch.Tensor | None]]) -> str:
    """Register an attention function, with SDPA's mask builder, under `name`; idempotent.

    The mask builder is needed: transformers builds no mask at all (silently dropping padding) for attention
    names unknown to ``AttentionMaskInterface``; ``sdpa_mask`` gives the function exactly what SDPA sees.
    """
    if AttentionInterface._global_mapping.get(name) is not forward:
        AttentionInterface.register(name, forward)
    if AttentionMaskInterface._global_mapping.get(name) is not sdpa_mask:
        AttentionMaskInterface.register(name, sdpa_mask)
    return name


def _text_config(base: PreTrainedModel):  # noqa: ANN202
    config = base.config
    get_text = getattr(config, "get_text_config", None)
    return get_text() if callable(get_text) else config


def _decoder_layers(base: PreTrainedModel) -> torch.nn.ModuleList | None:
    decoder = base.get_decoder() if callable(getattr(base, "get_decoder", None)) else None
    layers = getattr(decoder, "layers", None)
    return layers if isinstance(layers, torch.nn.ModuleList) else None


# The anatomy is kept in the model's own __dict__ and refers back to the model only weakly: a dropped model is
# then freed at once (no reference cycle waiting for the garbage collector, holding GPU memory meanwhile).
_ATTRIBUTE = "_synthctx_anatomy"


@dataclass(frozen=True, eq=False)
class ModelAnatomy:
    """Where a causal LM keeps what the head analyses read and change. Build it with :meth:`of`."""

    model_ref: weakref.ref[torch.nn.Module]  # the model as given: the peft wrapper when there is one
    base_ref: weakref.ref[PreTrainedModel]
    layers: torch.nn.ModuleList | None  # the decoder's layer list, None for a model without one
    attention: Mapping[int, torch.nn.Module]  # self-attention modules (those with an o_proj) by layer_idx
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @classmethod
    def of(cls, model: torch.nn.Module) -> ModelAnatomy:
        """The anatomy of `model`, looked over on first use and cached for the model's lifetime."""
        cached = model.__dict__.get(_ATTRIBUTE)
        if cached is not None:
            return cached
        base = pretrained_model(model)
        config = _text_config(base)
        n_heads = int(config.num_attention_heads)
        attention = {int(m.layer_idx): m for m in model.modules() if hasattr(m, "layer_idx") and hasattr(m, "o_proj")}
        anatomy = cls(
            model_ref=weakref.ref(model),
            base_ref=weakref.ref(base),
            layers=_decoder_layers(base),
            attention=attention,
            n_layers=int(config.num_hidden_layers),
            n_heads=n_heads,
            n_kv_heads=int(getattr(config, "num_key_value_heads", None) or n_heads),
            head_dim=int(getattr(config, "head_dim", None) or config.hidden_size // n_heads),
        )
        model.__dict__[_ATTRIBUTE] = anatomy
        return anatomy

    @property
    def model(self) -> torch.nn.Module:
        return self.model_ref()

    @property
    def base(self) -> PreTrainedModel:
        """The underlying transformers model (the one whose config says how attention runs)."""
        return self.base_ref()

    def o_proj(self, layer: int) -> torch.nn.Module:
        """Layer `layer`'s output projection, whose input holds one slot of ``head_dim`` per query head."""
        if not self.attention:
            raise TypeError(f"no attention modules with layer_idx and o_proj in {type(self.model).__name__}")
        return self.attention[layer].o_proj

    def kv_head(self, head: int) -> int:
        """The key-value head query head `head` reads (transformers' ``repeat_kv`` grouping)."""
        return head // (self.n_heads // self.n_kv_heads)

    def group_heads(self, heads: Iterable[Head]) -> dict[int, list[int]]:
        """Validate (layer, head) pairs and group them by layer (sorted, deduplicated)."""
        by_layer: dict[int, set[int]] = {}
        for layer, head in heads:
            if not (0 <= int(layer) < self.n_layers and 0 <= int(head) < self.n_heads):
                raise ValueError(f"head ({layer}, {head}) outside {self.n_layers} layers x {self.n_heads} heads")
            by_layer.setdefault(int(layer), set()).add(int(head))
        return {layer: sorted(hs) for layer, hs in sorted(by_layer.items())}

    @contextlib.contextmanager
    def attention_override(
        self, implementation: str, forward: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None
    ) -> Iterator[PreTrainedModel]:
        """Within the block every attention runs `implementation` (registered first when `forward` is given);
        the previous implementation is restored on exit, even on error."""
        if forward is not None:
            register_attention(implementation, forward)
        previous = self.base.config._attn_implementation
        self.base.set_attn_implementation(implementation)
        try:
            yield self.base
        finally:
            self.base.set_attn_implementation(previous)

    @contextlib.contextmanager
    def o_proj_hooks(
        self, pre: Mapping[int, PreHook] | None = None, post: Mapping[int, PostHook] | None = None
    ) -> Iterator[None]:
        """Within the block the given layers' ``o_proj`` run `pre` on their input and `post` on their output."""
        if not self.attention:
            raise TypeError(f"no attention modules with layer_idx and o_proj in {type(self.model).__name__}")
        handles = []
        try:
            for layer, hook in (pre or {}).items():
                handles.append(self.o_proj(layer).register_forward_pre_hook(hook))
            for layer, hook in (post or {}).items():
                handles.append(self.o_proj(layer).register_forward_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()

    @contextlib.contextmanager
    def replaced_layers(self, replacements: Mapping[int, torch.nn.Module]) -> Iterator[None]:
        """Within the block the decoder runs `replacements[i]` in place of its layer i; put back on exit."""
        if self.layers is None:
            raise TypeError(f"{type(self.model).__name__} has no decoder layer list")
        layers = self.layers
        originals = {i: layers[i] for i in replacements}
        try:
            for i, stand_in in replacements.items():
                layers[i] = stand_in
            yield
        finally:
            for i, layer in originals.items():
                layers[i] = layer
