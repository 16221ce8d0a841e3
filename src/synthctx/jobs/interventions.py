"""The jobs of workflow/rules/interventions.smk: knockout of a model's own heads, and patching the real-data
model's heads into another condition's model.

Held-out examples: the real test split is cut in file order into a ranking part, a measured part and (mean
knockout only) a calibration part (synthctx.plan.settings.intervention_parts). The heads are ranked here, on
the ranking part only, by the head scorer of the heads stage on the job's own loaded model(s); every
configuration is measured on the measured part; no example that chose the heads also tests them. scores.json
(the whole split's scores) is read for the model's shape and the donor's condition only."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthctx.jobs.model_job import condition, condition_stamp, job_settings, load_condition_model
from synthctx.jobs.outputs import write_output


def held_out_parts(a: argparse.Namespace, cfg: Any) -> tuple[list[dict], list[dict], list[dict]]:
    """The ranking, measured and calibration records of the test split; a split too short for the three parts
    is refused here, naming the config keys, before any model is loaded."""
    from synthctx.data.records import read_jsonl
    from synthctx.plan.settings import SliceError

    records = list(read_jsonl(a.records))
    try:
        parts = cfg.parts(len(records))
    except SliceError as err:
        raise SliceError(f"{a.records}: {str(err).replace('<task>', a.task)}") from None
    return tuple([records[i] for i in part] for part in (parts.ranking, parts.measured, parts.calibration))


def rank_scores(model: Any, tokenizer: Any, records: list[dict], predictions: Path | None, cfg: Any) -> dict:
    """Head scores of `model` on the ranking records, per head kind, as the heads stage scores them (mode
    interventions.ranked_by; generate mode scores the condition's own greedy answers, from `predictions`)."""
    from synthctx.data.records import read_jsonl
    from synthctx.heads.scoring import score_heads

    answers = {}
    if cfg.ranked_by == "generate":
        if predictions is None:
            raise ValueError("ranked_by generate needs the condition's predictions (--predictions)")
        answers = {p["id"]: p for p in read_jsonl(predictions)}
    mode, norm = cfg.ranked_by, cfg.insight_normalization
    return score_heads(model, tokenizer, records, answers, mode, cfg.argmax_over, norm, cfg.copy_match)


def ranking_matrices(scored: dict, kinds: tuple[str, ...]) -> dict:
    """The (n_layers, n_heads) score matrix of each head kind the interventions use and the records have."""
    import numpy as np

    return {k: np.asarray(scored[k]["scores"], dtype=float) for k in kinds if k in scored}


def cmd_knockout(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.interventions.experiments import calibration_means, held_out, knockout_result, run_knockout
    from synthctx.interventions.head_picking import knockout_configurations
    from synthctx.plan.settings import KnockoutRun

    cfg = job_settings(a, KnockoutRun, "interventions (knockout)")
    ranking, records, calibrate = held_out_parts(a, cfg)
    scores = json.loads(a.scores.read_text())
    loaded = load_condition_model(a, cfg.dtype)
    model, tokenizer = loaded.model, loaded.tokenizer
    ranked = rank_scores(model, tokenizer, ranking, a.predictions, cfg)
    configs = knockout_configurations(
        ranking_matrices(ranked, cfg.head_kinds), cfg.k, cfg.random_draws, cfg.exclude_top, a.seed
    )
    means, calibration = None, None
    if cfg.semantics == "mean":
        means = calibration_means(model, tokenizer, calibrate)
        calibration = (
            f"mean head output over every prompt token of the {len(calibrate)} real test examples after the "
            f"ranking and measured parts (calibration_ids)"
        )
    score = tasks.get(a.task).score
    rows = run_knockout(
        model, tokenizer, records, configs, cfg.semantics, means, score, cfg.max_new_tokens, scope=cfg.scope
    )
    attention = "sdpa + head knockout wrapper" + (
        ", masked for the last prompt token and the answer over a clean prefill" if cfg.scope == "answer" else ""
    )
    extra = {"condition": condition(a), "semantics": cfg.semantics, "scope": cfg.scope, "attention": attention}
    held = held_out(ranking, calibrate if cfg.semantics == "mean" else [], ranked)
    result = knockout_result(cfg, records, scores, calibration, rows, a.seed, held)
    out = {**condition_stamp(a, cfg.dtype), **result}
    write_output(a.out, out, stage="knockout", config_slice=a.config, with_device=True, extra=extra)


def cmd_patch(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.interventions.experiments import held_out, patching_result, run_patching
    from synthctx.interventions.head_picking import patching_configurations
    from synthctx.models.model_io import load_model
    from synthctx.plan.settings import PatchingRun

    cfg = job_settings(a, PatchingRun, "interventions (patching)")
    ranking, records, _ = held_out_parts(a, cfg)
    reference = json.loads(a.reference.read_text())
    patched = load_condition_model(a, cfg.dtype)
    donor = load_model(a.model_dir, cfg.dtype, a.donor)
    ranked = {
        "patched": rank_scores(patched.model, patched.tokenizer, ranking, a.predictions, cfg),
        "donor": rank_scores(donor, patched.tokenizer, ranking, a.donor_predictions, cfg),
    }
    own, real = (ranking_matrices(ranked[m], cfg.head_kinds) for m in ("patched", "donor"))
    configs = patching_configurations(own, real, cfg.set_rule, cfg.threshold, cfg.top_k, cfg.random_draws, a.seed)
    synthetic, real_measured, rows = run_patching(
        patched.model, donor, patched.tokenizer, records, configs, tasks.get(a.task).score, cfg.max_new_tokens
    )
    held = held_out(ranking, [], ranked)
    result = patching_result(cfg, records, reference["condition"], synthetic, real_measured, rows, a.seed, held)
    out = {"condition": condition(a), **result}
    write_output(a.out, out, stage="patch", config_slice=a.config, with_device=True, extra={"condition": condition(a)})


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommands of interventions.smk's rules; `stage` adds one with its common arguments (see synthctx.cli)."""
    p = stage(
        "knockout", cmd_knockout, "re-evaluate with top-k heads and controls knocked out", "records", "scores",
        "out", condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--predictions", type=Path, default=None, help="the condition's predictions (ranked_by generate)")
    p = stage(
        "patch", cmd_patch, "patch the real-data model's heads into another model", "records", "scores",
        "reference", "donor", "out", condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--predictions", type=Path, default=None, help="the patched model's predictions (generate)")
    p.add_argument("--donor-predictions", type=Path, default=None, help="the donor's predictions (generate)")
