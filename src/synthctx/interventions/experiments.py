"""Knockout and patching experiments on the real test split (docs/method.md: "Knockout", "Activation patching
and recovery").

Every configuration (a head set and how it is intervened on) is measured the same way, per example: one
teacher-forced forward of the gold answer gives the gold answer's log-probability (a continuous measure
that a handful of test examples cannot give through F1 alone) and, at the prompt's last position, the first
greedy token; the key-value cache is then cut back to the prompt and greedy decoding goes on from there, so
one forward serves both measures. One model load per job serves every k, control and draw.

Knockout has two scopes (interventions.knockout.scope, recorded in knockout.json):

``answer`` (Wu et al.'s protocol)
    Per example the unmodified model prefills the prompt less its last token once; every configuration
    continues that clean cache with its heads masked, for the queries of the last prompt token and the answer
    tokens only (the teacher-forced gold answer, then greedy decoding), and the cache is cut back to the clean
    prefix before the next configuration. No configuration re-runs the prompt.
``all``
    The heads are masked in every forward, prefill included. Example by example the unmodified model's
    prefill is recorded once (each layer's keys and values, and the hidden states leaving the layers a
    configuration starts from), and a configuration whose lowest knocked-out head is in layer L replays layers
    0..L-1 from that recording and computes only layers L and up. Layers below L see the same tokens and no
    intervention, so their results are the same bits; the prefill costs (n_layers - L) / n_layers of a full
    one. Decoding always runs every layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from synthctx.data.prompting import Encoded
from synthctx.data.tasks import encode
from synthctx.interventions.head_picking import Configuration
from synthctx.interventions.knockout import head_output_means, knockout
from synthctx.interventions.runners import (
    LayerSkippingRunner,
    PatchedRunner,
    PlainRunner,
    RecordingRunner,
    first_changed_layer,
    record_clean_prefill,
    runner_model,
)
from synthctx.models.anatomy import ModelAnatomy
from synthctx.models.decoding import answer_logprob, answer_text, greedy_continue


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


def _prepared(tokenizer: Any, rec: dict[str, Any], device: torch.device) -> tuple[Encoded, torch.Tensor]:
    """The record's prompt + gold answer encoding and its ids (1, length); the answered prompt must start with
    the generation prompt, or the two measures would not share a prefill."""
    gold = encode(tokenizer, rec, rec["answers"][0])
    if gold.input_ids[: gold.prompt_length] != encode(tokenizer, rec, None).input_ids:
        raise ValueError(f"record {rec['id']}: the answered prompt does not start with the generation prompt")
    return gold, torch.tensor([gold.input_ids], device=device)


def _measure_from(
    runner: PlainRunner | PatchedRunner,
    tokenizer: Any,
    rec: dict[str, Any],
    gold: Encoded,
    ids: torch.Tensor,
    fed: int,
    score: Callable[[dict[str, Any], str], dict[str, float]],
    max_new_tokens: int,
    out: Measured,
) -> None:
    """Both measures of one example from a runner whose cache holds ``ids[:, :fed]`` (fed < prompt length):
    one teacher-forced forward of the rest gives the gold log-probability and the first greedy token, then the
    cache is cut back to the prompt and greedy decoding goes on from there."""
    device = ids.device
    first = gold.prompt_length - 1  # the position that predicts the answer's first token
    logits = runner.forward(ids[:, fed:], keep=ids.shape[1] - first)[0].float()  # row i: position first + i
    out.gold_logprob.append(answer_logprob(logits, ids, gold.answer_positions, first))
    runner.crop(gold.prompt_length)

    def next_logits(token: int) -> torch.Tensor:
        return runner.forward(torch.tensor([[token]], device=device))[0, -1]

    generated = greedy_continue(next_logits, int(logits[0].argmax()), tokenizer.eos_token_id, max_new_tokens)
    text = answer_text(tokenizer, generated)
    out.predictions.append(text)
    out.f1.append(float(score(rec, text)["f1"]))


@torch.no_grad()
def measure(
    runner: PlainRunner | PatchedRunner,
    tokenizer: Any,
    records: list[dict[str, Any]],
    score: Callable[[dict[str, Any], str], dict[str, float]],
    max_new_tokens: int,
) -> Measured:
    """Gold log-probability (teacher forcing) and the task's F1 of the greedy answer, per example, each
    example from an empty cache (the runner's intervention, if any, active in every forward)."""
    out = Measured()
    device = next(runner_model(runner).parameters()).device
    for rec in records:
        gold, ids = _prepared(tokenizer, rec, device)
        runner.reset()
        _measure_from(runner, tokenizer, rec, gold, ids, 0, score, max_new_tokens, out)
    return out


def calibration_means(model: torch.nn.Module, tokenizer: Any, records: list[dict[str, Any]]) -> torch.Tensor:
    """Each head's mean output over the prompts (no answers) of the calibration records."""
    device = next(model.parameters()).device
    batches = (torch.tensor([encode(tokenizer, r, None).input_ids], device=device) for r in records)
    return head_output_means(model, batches)


KNOCKOUT_SCOPES = ("answer", "all")


def run_knockout(
    model: torch.nn.Module,
    tokenizer: Any,
    records: list[dict[str, Any]],
    configs: list[Configuration],
    semantics: str,
    means: torch.Tensor | None,
    score: Callable,
    max_new_tokens: int,
    scope: str = "all",
) -> list[dict[str, Any]]:
    """One row per configuration: its heads and the per-example measures with them knocked out.

    `scope` ``answer``: heads masked only for the queries of the last prompt token and the answer, on one clean
    prefill per example; ``all`` (the default here, the config's default is ``answer``): masked in every
    forward, prefill included. See the module docstring."""
    if scope not in KNOCKOUT_SCOPES:
        raise ValueError(f"unknown knockout scope {scope!r}: one of {KNOCKOUT_SCOPES}")

    def masked(config: Configuration) -> contextlib.AbstractContextManager:
        if not config.heads:
            return contextlib.nullcontext()
        return knockout(model, config.heads, semantics, means if semantics == "mean" else None)

    run = _knockout_answer_scope if scope == "answer" else _knockout_every_position
    measured = run(model, tokenizer, records, configs, masked, score, max_new_tokens)
    anatomy = ModelAnatomy.of(model)
    total = anatomy.n_layers * anatomy.n_heads
    rows = []
    for config, out in zip(configs, measured, strict=True):
        extra = {"k_fraction": config.k / total, "k_spec": list(config.k_spec)}
        rows.append({**_row(config, out, "control"), **extra})
    return rows


Masker = Callable[[Configuration], contextlib.AbstractContextManager]


@torch.no_grad()
def _knockout_answer_scope(
    model: torch.nn.Module,
    tokenizer: Any,
    records: list[dict[str, Any]],
    configs: list[Configuration],
    masked: Masker,
    score: Callable,
    max_new_tokens: int,
) -> list[Measured]:
    """Wu et al.'s protocol: the prompt less its last token is prefilled once per example by the unmodified
    model; each configuration continues that cache with the heads masked (the last prompt token with the gold
    answer teacher-forced, then greedy decoding), and the cache is cut back to the clean prefix after it."""
    runner, start = PlainRunner(model), time.time()
    device = next(model.parameters()).device
    measured = [Measured() for _ in configs]
    for i, rec in enumerate(records, 1):
        gold, ids = _prepared(tokenizer, rec, device)
        prefix = gold.prompt_length - 1
        if prefix < 1:
            raise ValueError(f"record {rec['id']}: a one-token prompt has no prefix to prefill clean")
        runner.reset()
        runner.forward(ids[:, :prefix])  # the clean key-value cache every configuration continues
        for config, out in zip(configs, measured, strict=True):
            with masked(config):
                _measure_from(runner, tokenizer, rec, gold, ids, prefix, score, max_new_tokens, out)
            runner.crop(prefix)
        print(f"example {i}/{len(records)}: {len(configs)} configurations ({time.time() - start:.0f} s)", flush=True)
    return measured


def _knockout_every_position(
    model: torch.nn.Module,
    tokenizer: Any,
    records: list[dict[str, Any]],
    configs: list[Configuration],
    masked: Masker,
    score: Callable,
    max_new_tokens: int,
) -> list[Measured]:
    """Heads masked in every forward, prefill included. Example by example: the unmodified prefill is recorded
    once and each configuration computes only the layers from its lowest knocked-out head up (the unmodified
    model: none); see the module docstring."""
    runner, start = LayerSkippingRunner(model), time.time()
    n_layers = ModelAnatomy.of(model).n_layers
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
            with masked(config):
                out.extend(measure(runner, tokenizer, [rec], score, max_new_tokens))
        runner.clean = None
        print(f"example {i}/{len(records)}: {len(configs)} configurations ({time.time() - start:.0f} s)", flush=True)
    return measured


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
        "drawn_outside": config.drawn_outside,
        **measured.as_record(),
    }


PATCHING_SEMANTICS = (
    "each head's output slot through its own model's o_proj, from the donor's clean forward on "
    "the same tokens (not recomputed from the patched residual stream); the patched model's o_proj bias kept"
)


RANKED_ON = "held-out ranking examples"


def held_out(ranking: list[dict], calibration: list[dict], ranking_scores: dict[str, Any]) -> dict[str, Any]:
    """What an intervention result records of the parts its heads were chosen and calibrated on: their ids
    (disjoint from example_ids) and the head scores, computed on the ranking records, that ranked the heads."""
    return {
        "ranked_on": RANKED_ON,
        "ranking_ids": [r["id"] for r in ranking],
        "calibration_ids": [r["id"] for r in calibration],
        "ranking_scores": ranking_scores,
    }


def knockout_result(
    settings: Any,
    records: list[dict],
    scores: dict,
    calibration: str | None,
    rows: list,
    seed: int,
    held: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """knockout.json less the job's stamp: the rows and everything needed to read them (which examples, which
    heads were ranked on which examples (`held`, from held_out), the settings)."""
    return {
        **(held or {}),
        "semantics": settings.semantics,
        "scope": settings.scope,
        "calibration": calibration,
        "ranked_by": settings.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "n_layers": scores["n_layers"],
        "n_heads": scores["n_heads"],
        "exclude_top": settings.exclude_top,
        "seed": seed,
        "settings": dataclasses.asdict(settings),
        "rows": rows,
    }


def patching_result(
    settings: Any,
    records: list[dict],
    donor: dict,
    synthetic: Measured,
    real: Measured,
    rows: list,
    seed: int,
    held: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """patching.json less the condition: the patched and the donor model's own measures, the rows, and how to
    read them (`held`, from held_out: the examples both models' heads were ranked on)."""
    return {
        **(held or {}),
        "donor": donor,
        "set_rule": settings.set_rule,
        "ranked_by": settings.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "dtype": settings.dtype,
        "semantics": PATCHING_SEMANTICS,
        "seed": seed,
        "settings": dataclasses.asdict(settings),
        "synthetic": synthetic.as_record(),
        "real": real.as_record(),
        "rows": rows,
    }
