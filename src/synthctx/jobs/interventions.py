"""The jobs of workflow/rules/interventions.smk: knockout of a model's own heads, and patching the real-data
model's heads into another condition's model."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthctx.jobs.model_job import condition, condition_stamp, job_settings, load_condition_model
from synthctx.jobs.outputs import write_output

PATCHING_SEMANTICS = (
    "each head's output slot through its own model's o_proj, from the donor's clean forward on "
    "the same tokens (not recomputed from the patched residual stream); the patched model's o_proj bias kept"
)


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


def knockout_result(
    a: argparse.Namespace, cfg: Any, records: list[dict], scores: dict, calibration: str | None, rows: list
) -> dict[str, Any]:
    """knockout.json: the rows and everything needed to read them (which examples, heads, settings)."""
    return {
        **condition_stamp(a, cfg.dtype),
        "semantics": cfg.semantics,
        "calibration": calibration,
        "ranked_by": cfg.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "n_layers": scores["n_layers"],
        "n_heads": scores["n_heads"],
        "exclude_top": cfg.exclude_top,
        "seed": a.seed,
        "settings": dataclasses.asdict(cfg),
        "rows": rows,
    }


def cmd_knockout(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.data.records import read_jsonl
    from synthctx.interventions.experiments import calibration_means, knockout_configurations, run_knockout
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
    rows = run_knockout(
        model, tokenizer, records, configs, cfg.semantics, means, tasks.get(a.task).score, cfg.max_new_tokens
    )
    extra = {"condition": condition(a), "semantics": cfg.semantics, "attention": "sdpa + head knockout wrapper"}
    out = knockout_result(a, cfg, records, scores, calibration, rows)
    write_output(a.out, out, stage="knockout", config_slice=a.config, with_device=True, extra=extra)


def patching_result(
    a: argparse.Namespace, cfg: Any, records: list[dict], donor: dict, synthetic: Any, real: Any, rows: list
) -> dict[str, Any]:
    """patching.json: the patched and the donor model's own scores, the rows, and how to read them."""
    return {
        "condition": condition(a),
        "donor": donor,
        "set_rule": cfg.set_rule,
        "ranked_by": cfg.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "dtype": cfg.dtype,
        "semantics": PATCHING_SEMANTICS,
        "seed": a.seed,
        "settings": dataclasses.asdict(cfg),
        "synthetic": synthetic.as_record(),
        "real": real.as_record(),
        "rows": rows,
    }


def cmd_patch(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.interventions.experiments import patching_configurations, run_patching
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
    out = patching_result(a, cfg, records, reference["condition"], synthetic, real, rows)
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
