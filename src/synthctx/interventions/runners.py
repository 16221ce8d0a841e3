"""Runners: the forwards the intervention experiments measure through, each continuing a key-value cache.

`PlainRunner` runs one model; `RecordingRunner` also keeps its prefill of an example (every layer's ``o_proj``
input and its cache) for patching to reuse; `PatchedRunner` runs model A with chosen heads' contributions taken
from model B over the same tokens; `LayerSkippingRunner` replays the layers below a knockout's lowest head from a
recorded clean prefill (:func:`record_clean_prefill`) and computes only the layers from there up.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from synthctx.interventions.patching import (
    contributions_from_inputs,
    head_contributions,
    patch_heads,
    record_o_proj_inputs,
)
from synthctx.models.anatomy import Head, ModelAnatomy

__all__ = [
    "CleanPrefill",
    "DonorRecord",
    "LayerSkippingRunner",
    "PatchedRunner",
    "PlainRunner",
    "RecordingRunner",
    "first_changed_layer",
    "record_clean_prefill",
    "runner_model",
]


class PlainRunner:
    """Forwards of one model that continue its key-value cache."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.cache = model, DynamicCache()

    def reset(self) -> None:
        self.cache = DynamicCache()

    def forward(self, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        """Logits of the last `keep` positions (the LM head over a whole prompt is a fifth of a small model's
        forward, and only the answer's positions are read)."""
        return self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=keep).logits

    def crop(self, n: int) -> None:
        """Keep the first n cached tokens."""
        extra = self.cache.get_seq_length() - n
        if extra > 0:
            self.cache.crop(-extra)


@dataclass
class DonorRecord:
    """The donor's clean prefill of one example: its tokens, every layer's ``o_proj`` input, and its cache."""

    ids: torch.Tensor
    o_proj_inputs: dict[int, torch.Tensor]
    cache: DynamicCache


class RecordingRunner(PlainRunner):
    """A PlainRunner that keeps its first forward after each reset (the prefill) as a DonorRecord: measuring the
    donor unpatched then also serves every patched configuration's donor prefill on that example."""

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        self.record: DonorRecord | None = None
        self.n_layers = ModelAnatomy.of(model).n_layers

    def reset(self) -> None:
        super().reset()
        self.record = None

    def forward(self, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        if self.record is not None or self.cache.get_seq_length() > 0:
            return super().forward(ids, keep)
        with record_o_proj_inputs(self.model, range(self.n_layers)) as inputs:
            logits = super().forward(ids, keep)
        self.record = DonorRecord(ids.clone(), dict(inputs), copy.deepcopy(self.cache))
        return logits


class PatchedRunner:
    """Model A's forwards with the chosen heads' contributions taken from model B's clean forward over the
    same tokens. Each model keeps its own cache: B's contributions depend only on B's own run over the
    tokens (never on A's patched residual stream), so decoding step by step gives what one full forward of
    B on the whole sequence would. With ``donor`` (B's recorded prefill of this example) the prefill reuses
    B's recorded ``o_proj`` inputs and cache instead of running B again: bit-identical, one B prefill per
    example instead of one per configuration."""

    def __init__(
        self, model_a: torch.nn.Module, model_b: torch.nn.Module, heads: list[Head], donor: DonorRecord | None = None
    ):
        self.a, self.b = PlainRunner(model_a), PlainRunner(model_b)
        self.heads, self.donor = heads, donor

    def reset(self) -> None:
        self.a.reset()
        self.b.reset()

    def forward(self, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        if not self.heads:
            return self.a.forward(ids, keep)
        fresh = self.b.cache.get_seq_length() == 0
        if fresh and self.donor is not None and torch.equal(ids, self.donor.ids):
            donor = contributions_from_inputs(self.b.model, self.heads, self.donor.o_proj_inputs)
            self.b.cache = copy.deepcopy(self.donor.cache)
        else:
            donor = head_contributions(self.b.model, ids, self.heads, cache=self.b.cache)
        with patch_heads(self.a.model, self.heads, donor):
            return self.a.forward(ids, keep)

    def crop(self, n: int) -> None:
        self.a.crop(n)
        self.b.crop(n)


@dataclass
class CleanPrefill:
    """The unmodified model's prefill of one example: its tokens, every layer's keys and values, and the
    hidden states leaving the layers whose successors a configuration starts from."""

    ids: torch.Tensor
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    outputs: dict[int, Any]


class _ReplayedLayer(torch.nn.Module):
    """Stands in for decoder layer `layer_idx` (below the first layer a configuration changes) during the
    recorded example's prefill: puts the recorded keys and values into the cache and passes on the recorded
    output (held only for the last replayed layer; the others pass their input on, unused)."""

    def __init__(self, layer_idx: int, clean: CleanPrefill, last: bool):
        super().__init__()
        self.layer_idx, self.clean, self.last = layer_idx, clean, last

    def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None:
            cache.update(self.clean.keys[self.layer_idx], self.clean.values[self.layer_idx], self.layer_idx)
        return self.clean.outputs[self.layer_idx] if self.last else hidden_states


@torch.no_grad()
def record_clean_prefill(
    model: torch.nn.Module, layers: torch.nn.ModuleList, ids: torch.Tensor, starts: set[int]
) -> CleanPrefill:
    """One unmodified forward over `ids`, keeping what every start layer in `starts` needs to skip the layers
    below it: all keys and values, and the output of each layer just below a start."""
    outputs: dict[int, Any] = {}
    wanted = sorted({s - 1 for s in starts if s >= 1})

    def keep(i: int):  # noqa: ANN202
        return lambda _module, _args, out: outputs.__setitem__(i, out)

    hooks = [layers[i].register_forward_hook(keep(i)) for i in wanted]
    cache = DynamicCache()
    try:
        model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    finally:
        for hook in hooks:
            hook.remove()
    cached = cache.layers[: len(layers)]
    return CleanPrefill(ids.clone(), [c.keys for c in cached], [c.values for c in cached], outputs)


class LayerSkippingRunner(PlainRunner):
    """A PlainRunner whose prefill of the recorded example (`clean`, same tokens, empty cache) replays layers
    below `start` from the recording and computes only the layers from `start` up."""

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        self.anatomy = ModelAnatomy.of(model)
        self.layers = self.anatomy.layers
        self.clean: CleanPrefill | None = None
        self.start = 0

    def forward(self, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        clean = self.clean
        prefill_of_clean = clean is not None and self.cache.get_seq_length() == 0 and torch.equal(ids, clean.ids)
        if self.layers is None or self.start == 0 or not prefill_of_clean:
            return super().forward(ids, keep)
        stand_ins = {i: _ReplayedLayer(i, clean, last=i == self.start - 1) for i in range(self.start)}
        with self.anatomy.replaced_layers(stand_ins):
            return super().forward(ids, keep)


def first_changed_layer(heads: tuple[Head, ...], n_layers: int) -> int:
    """The lowest layer a knockout of `heads` changes (`n_layers` when none: the unmodified model)."""
    return min((layer for layer, _ in heads), default=n_layers)


def runner_model(runner: PlainRunner | PatchedRunner) -> torch.nn.Module:
    """The model a runner's measures are of (model A for a patched runner)."""
    return runner.model if isinstance(runner, PlainRunner) else runner.a.model
