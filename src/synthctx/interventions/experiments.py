"""Knockout and patching experiments on the real test split (STUDY.md, "Knockout", "Activation patching").

Every configuration (a head set and how it is intervened on) is measured the same way, per example: one
teacher-forced forward of prompt + gold answer gives the gold answer's log-probability (a continuous measure
that a handful of test examples cannot give through F1 alone) and, at the prompt's last position, the first
greedy token; the key-value cache is then cut back to the prompt and greedy decoding goes on from there, so
one prefill serves both measures. The intervention is active in every forward, prefill and decode alike.
One model load per job serves every k, control and draw.

Knockout goes example by example: the unmodified model's prefill of an example is recorded once (each layer's
keys and values, and the hidden states leaving the layers a configuration starts from), and a configuration
whose lowest knocked-out head is in layer L replays layers 0..L-1 from that recording and computes only layers
L and up. Layers below L see the same tokens and no intervention, so their results are the same bits; the
prefill costs (n_layers - L) / n_layers of a full one. Decoding always runs every layer.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from synthctx.data.prompting import encode
from synthctx.heads.capture import _pretrained_model, _text_dims
from synthctx.heads.head_sets import select_heads, top_k_heads
from synthctx.interventions.knockout import Head, head_output_means, knockout
from synthctx.interventions.patching import (
    contributions_from_inputs,
    head_contributions,
    patch_heads,
    record_o_proj_inputs,
)


@dataclass
class Measured:
    """Per-example measures of one configuration, in the order of the records."""

    f1: list[float] = field(default_factory=list)
    gold_logprob: list[float] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, list]:
        return {"f1": self.f1, "gold_logprob": self.gold_logprob, "predictions": self.predictions}

    def extend(self, other: Measured) -> None:
        self.f1 += other.f1
        self.gold_logprob += other.gold_logprob
        self.predictions += other.predictions


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
        self.n_layers = _text_dims(_pretrained_model(model))[0]

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


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The decoder's list of layers (``model.model.layers`` for Llama-like models), or None for a model
    without one (its knockout prefills then run every layer)."""
    base = _pretrained_model(model)
    decoder = base.get_decoder() if callable(getattr(base, "get_decoder", None)) else None
    layers = getattr(decoder, "layers", None)
    return layers if isinstance(layers, torch.nn.ModuleList) else None


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


@contextlib.contextmanager
def _replaying(layers: torch.nn.ModuleList, clean: CleanPrefill, start: int):
    originals = [layers[i] for i in range(start)]
    try:
        for i in range(start):
            layers[i] = _ReplayedLayer(i, clean, last=i == start - 1)
        yield
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer


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
        self.layers = decoder_layers(model)
        self.clean: CleanPrefill | None = None
        self.start = 0

    def forward(self, ids: torch.Tensor, keep: int = 1) -> torch.Tensor:
        clean = self.clean
        prefill_of_clean = clean is not None and self.cache.get_seq_length() == 0 and torch.equal(ids, clean.ids)
        if self.layers is None or self.start == 0 or not prefill_of_clean:
            return super().forward(ids, keep)
        with _replaying(self.layers, clean, self.start):
            return super().forward(ids, keep)


def first_changed_layer(heads: tuple[Head, ...], n_layers: int) -> int:
    """The lowest layer a knockout of `heads` changes (`n_layers` when none: the unmodified model)."""
    return min((layer for layer, _ in heads), default=n_layers)


@torch.no_grad()
def measure(
    runner: PlainRunner | PatchedRunner,
    tokenizer: Any,
    records: list[dict[str, Any]],
    score: Callable[[dict[str, Any], str], dict[str, float]],
    max_new_tokens: int,
) -> Measured:
    """Gold log-probability (teacher forcing) and the task's F1 of the greedy answer, per example."""
    out = Measured()
    device = next(runner_model(runner).parameters()).device
    for rec in records:
        gold = encode(tokenizer, rec, rec["answers"][0])
        prompt = gold.input_ids[: gold.prompt_length]
        if prompt != encode(tokenizer, rec, None).input_ids:
            raise ValueError(f"record {rec['id']}: the answered prompt does not start with the generation prompt")
        ids = torch.tensor([gold.input_ids], device=device)
        runner.reset()
        first = gold.prompt_length - 1  # the position that predicts the answer's first token
        logits = runner.forward(ids, keep=ids.shape[1] - first)[0].float()  # row i: position first + i
        log_probs = torch.log_softmax(logits, dim=-1)
        pos = torch.tensor(gold.answer_positions, device=device)
        out.gold_logprob.append(float(log_probs[pos - 1 - first, ids[0, pos]].sum()))
        runner.crop(gold.prompt_length)
        generated: list[int] = []
        token = int(logits[0].argmax())
        while token != tokenizer.eos_token_id:
            generated.append(token)
            if len(generated) == max_new_tokens:
                break
            token = int(runner.forward(torch.tensor([[token]], device=device))[0, -1].argmax())
        text = tokenizer.decode(generated, skip_special_tokens=True).strip()
        out.predictions.append(text)
        out.f1.append(float(score(rec, text)["f1"]))
    return out


def runner_model(runner: PlainRunner | PatchedRunner) -> torch.nn.Module:
    return runner.model if isinstance(runner, PlainRunner) else runner.a.model


# --- which heads ---


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator per (seed, control, k, draw, kind): every draw is reproducible on its own."""
    words = [seed] + [
        k if isinstance(k, int) else int.from_bytes(k.encode()[:8].ljust(8, b"\0"), "little") for k in keys
    ]
    return np.random.default_rng(np.random.SeedSequence(words))


def bottom_k_heads(scores: np.ndarray, k: int, rng: np.random.Generator) -> list[Head]:
    """The k lowest-scoring heads; ties (many heads score 0) broken in a seeded random order, not by position."""
    flat = np.nan_to_num(scores, nan=np.inf).ravel()
    order = np.lexsort((rng.permutation(flat.size), flat))[:k]
    n_heads = scores.shape[1]
    return sorted((int(i // n_heads), int(i % n_heads)) for i in order)


def matched_random_heads(top: list[Head], excluded: set[Head], n_heads: int, rng: np.random.Generator) -> list[Head]:
    """As many heads per layer as `top` has there, drawn uniformly among that layer's heads outside `excluded`."""
    per_layer: dict[int, int] = {}
    for layer, _ in top:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    out = []
    for layer, count in sorted(per_layer.items()):
        pool = [h for h in range(n_heads) if (layer, h) not in excluded]
        if len(pool) < count:
            raise ValueError(
                f"layer {layer} has {len(pool)} heads outside the excluded top heads, {count} are needed: "
                f"lower interventions.knockout.exclude_top"
            )
        out += [(layer, int(h)) for h in rng.choice(pool, size=count, replace=False)]
    return sorted(out)


def random_heads(n: int, n_layers: int, n_heads: int, rng: np.random.Generator) -> list[Head]:
    """n heads drawn uniformly from all heads."""
    picked = rng.choice(n_layers * n_heads, size=n, replace=False)
    return sorted((int(i // n_heads), int(i % n_heads)) for i in picked)


@dataclass(frozen=True)
class Configuration:
    head_kind: str | None
    control: str  # none | top | bottom | random_matched | random_all (knockout); shared | real_only | ... (patching)
    k: int
    draw: int
    heads: tuple[Head, ...]


def knockout_configurations(
    scores: dict[str, np.ndarray], ks: tuple[int, ...], draws: int, exclude_top: int, seed: int
) -> list[Configuration]:
    """The unmodified model, then per head kind and k: the top-k heads, the bottom-k, `draws` matched random
    sets (same count per layer, outside the `exclude_top` best) and `draws` random sets from all heads."""
    configs = [Configuration(None, "none", 0, 0, ())]
    for kind, matrix in scores.items():
        n_layers, n_heads = matrix.shape
        excluded = top_k_heads(matrix, exclude_top)
        for k in ks:
            top = sorted(top_k_heads(matrix, k))
            configs.append(Configuration(kind, "top", k, 0, tuple(top)))
            configs.append(
                Configuration(kind, "bottom", k, 0, tuple(bottom_k_heads(matrix, k, _rng(seed, "bottom", k, kind))))
            )
            for d in range(draws):
                rng = _rng(seed, "random_matched", k, d, kind)
                configs.append(
                    Configuration(
                        kind, "random_matched", k, d, tuple(matched_random_heads(top, excluded, n_heads, rng))
                    )
                )
            for d in range(draws):
                rng = _rng(seed, "random_all", k, d, kind)
                configs.append(Configuration(kind, "random_all", k, d, tuple(random_heads(k, n_layers, n_heads, rng))))
    return configs  # fmt: skip


def patching_configurations(
    synthetic: dict[str, np.ndarray],
    real: dict[str, np.ndarray],
    rule: str,
    threshold: float,
    top_k: int,
    draws: int,
    seed: int,
) -> list[Configuration]:
    """Per head kind: heads both models select (shared), heads only the real model selects, all real heads,
    and `draws` random sets of the size of all real heads."""
    configs = []
    for kind, real_scores in real.items():
        n_layers, n_heads = real_scores.shape
        ref = select_heads(real_scores, rule, threshold, top_k)
        cand = select_heads(synthetic[kind], rule, threshold, top_k)
        for name, heads in (("shared", ref & cand), ("real_only", ref - cand), ("all_real", ref)):
            configs.append(Configuration(kind, name, len(heads), 0, tuple(sorted(heads))))
        for d in range(draws):
            heads = random_heads(len(ref), n_layers, n_heads, _rng(seed, "random", len(ref), d, kind))
            configs.append(Configuration(kind, "random", len(ref), d, tuple(heads)))
    return configs  # fmt: skip


# --- the two experiments ---


def calibration_means(model: torch.nn.Module, tokenizer: Any, records: list[dict[str, Any]]) -> torch.Tensor:
    """Each head's mean output over the prompts (no answers) of the calibration records."""
    device = next(model.parameters()).device
    batches = (torch.tensor([encode(tokenizer, r, None).input_ids], device=device) for r in records)
    return head_output_means(model, batches)


def run_knockout(
    model: torch.nn.Module,
    tokenizer: Any,
    records: list[dict[str, Any]],
    configs: list[Configuration],
    semantics: str,
    means: torch.Tensor | None,
    score: Callable,
    max_new_tokens: int,
) -> list[dict[str, Any]]:
    """One row per configuration: its heads and the per-example measures with them knocked out.

    Example by example: the unmodified prefill is recorded once and each configuration computes only the
    layers from its lowest knocked-out head up (the unmodified model: none); see the module docstring."""
    runner, start = LayerSkippingRunner(model), time.time()
    n_layers = _text_dims(_pretrained_model(model))[0]
    starts = [first_changed_layer(config.heads, n_layers) for config in configs]
    if runner.layers is None:
        print(f"{type(model).__name__} has no decoder layer list: every prefill runs every layer", flush=True)
    device = next(model.parameters()).device
    measured = [Measured() for _ in configs]
    for i, rec in enumerate(records, 1):
        if runner.layers is not None:
            ids = torch.tensor([encode(tokenizer, rec, rec["answers"][0]).input_ids], device=device)
            runner.clean = record_clean_prefill(model, runner.layers, ids, set(starts))
        for config, first, out in zip(configs, starts, measured, strict=True):
            runner.start = first
            ctx = (
                knockout(model, config.heads, semantics, means if semantics == "mean" else None)
                if config.heads
                else contextlib.nullcontext()
            )
            with ctx:
                out.extend(measure(runner, tokenizer, [rec], score, max_new_tokens))
        runner.clean = None
        print(f"example {i}/{len(records)}: {len(configs)} configurations ({time.time() - start:.0f} s)", flush=True)
    return [_row(config, out, "control") for config, out in zip(configs, measured, strict=True)]


def run_patching(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    tokenizer: Any,
    records: list[dict[str, Any]],
    configs: list[Configuration],
    score: Callable,
    max_new_tokens: int,
) -> tuple[Measured, Measured, list[dict[str, Any]]]:
    """The synthetic model A and the real model B unpatched, then A with each configuration's heads patched.

    Example by example: B's unpatched prefill of an example is recorded once and serves every configuration
    on it (only one example's recording is held at a time)."""
    synthetic, real = Measured(), Measured()
    patched = [Measured() for _ in configs]
    donor, start = RecordingRunner(model_b), time.time()
    for i, rec in enumerate(records, 1):
        synthetic.extend(measure(PlainRunner(model_a), tokenizer, [rec], score, max_new_tokens))
        real.extend(measure(donor, tokenizer, [rec], score, max_new_tokens))
        for config, measured in zip(configs, patched, strict=True):
            runner = PatchedRunner(model_a, model_b, list(config.heads), donor=donor.record)
            measured.extend(measure(runner, tokenizer, [rec], score, max_new_tokens))
        print(f"example {i}/{len(records)}: {len(configs)} configurations ({time.time() - start:.0f} s)", flush=True)
    rows = [_row(config, measured, "head_set") for config, measured in zip(configs, patched, strict=True)]
    return synthetic, real, rows


def _row(config: Configuration, measured: Measured, name: str) -> dict[str, Any]:
    return {
        "head_kind": config.head_kind,
        name: config.control,
        "k": config.k,
        "draw": config.draw,
        "heads": [list(h) for h in config.heads],
        **measured.as_record(),
    }
