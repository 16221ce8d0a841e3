"""The jobs of workflow/rules/interventions.smk: knockout of a model's own heads, and patching the real-data
model's heads into another condition's model."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from synthctx.jobs.model_job import condition, condition_stamp, job_settings, load_condition_model
from synthctx.jobs.outputs import write_output


def _intervention_inputs(a: argparse.Namespace, n_examples: int | None, kinds: tuple[str, ...], ranked_by: str):
    """The test records the interventions run on and the condition's own head scores they rank heads by."""
    import numpy as np

    from synthctx.data.records import read_jsonl

    records = list(read_jsonl(a.records))
    records = records if n_examples is None else records[:n_examples]
    scores = json.loads(a.scores.read_text())

    def matrices(scored: dict) -> dict:
        found = scored["head_kinds"]
        return {k: np.asarray(found[k]["modes"][ranked_by]["scores"], dtype=float) for k in kinds if k in found}

    return records, scores, matrices


def cmd_knockout(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.data.records import read_jsonl
    from synthctx.interventions.experiments import calibration_means, knockout_result, run_knockout
    from synthctx.interventions.head_picking import knockout_configurations
    from synthctx.plan.settings import KnockoutRun

    cfg = job_settings(a, KnockoutRun, "interventions (knockout)")
    records, scores, matrices = _intervention_inputs(a, cfg.n_examples, cfg.head_kinds, cfg.ranked_by)
    loaded = load_condition_model(a, cfg.dtype)
    model, tokenizer = loaded.model, loaded.tokenizer
    configs = knockout_configurations(matrices(scores), cfg.k, cfg.random_draws, cfg.exclude_top, a.seed)
    means, calibration = None, None
    if cfg.semantics == "mean":
        calibrate = list(read_jsonl(a.records))[: cfg.calibration_examples]
        means = calibration_means(model, tokenizer, calibrate)
        calibration = f"mean head output over every prompt token of the first {len(calibrate)} real test examples"
    score = tasks.get(a.task).score
    rows = run_knockout(
        model, tokenizer, records, configs, cfg.semantics, means, score, cfg.max_new_tokens, scope=cfg.scope
    )
    attention = "sdpa + head knockout wrapper" + (
        ", masked for the last prompt token and the answer over a clean prefill" if cfg.scope == "answer" else ""
    )
    extra = {"condition": condition(a), "semantics": cfg.semantics, "scope": cfg.scope, "attention": attention}
    out = {**condition_stamp(a, cfg.dtype), **knockout_result(cfg, records, scores, calibration, rows, a.seed)}
    write_output(a.out, out, stage="knockout", config_slice=a.config, with_device=True, extra=extra)


def cmd_patch(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.interventions.experiments import patching_result, run_patching
    from synthctx.interventions.head_picking import patching_configurations
    from synthctx.models.model_io import load_model
    from synthctx.plan.settings import PatchingRun

    cfg = job_settings(a, PatchingRun, "interventions (patching)")
    records, scores, matrices = _intervention_inputs(a, cfg.n_examples, cfg.head_kinds, cfg.ranked_by)
    reference = json.loads(a.reference.read_text())
    configs = patching_configurations(
        matrices(scores), matrices(reference), cfg.set_rule, cfg.threshold, cfg.top_k, cfg.random_draws, a.seed
    )
    patched = load_condition_model(a, cfg.dtype)
    donor = load_model(a.model_dir, cfg.dtype, a.donor)
    synthetic, real, rows = run_patching(
        patched.model, donor, patched.tokenizer, records, configs, tasks.get(a.task).score, cfg.max_new_tokens
    )
    out = {
        "condition": condition(a),
        **patching_result(cfg, records, reference["condition"], synthetic, real, rows, a.seed),
    }
    write_output(a.out, out, stage="patch", config_slice=a.config, with_device=True, extra={"condition": condition(a)})


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommands of interventions.smk's rules; `stage` adds one with its common arguments (see synthctx.cli)."""
    p = stage(
        "knockout", cmd_knockout, "re-evaluate with top-k heads and controls knocked out", "records", "scores",
        "out", condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
    p = stage(
        "patch", cmd_patch, "patch the real-data model's heads into another model", "records", "scores",
        "reference", "donor", "out", condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
