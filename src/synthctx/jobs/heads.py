"""The jobs of workflow/rules/heads.smk: every head's scores (also at the training snapshots), then head sets
and their recall against the real-data model's. head-sets runs in the analysis environment (no torch), so the
model-job prologue is imported inside score-heads only (its rule names synthctx.jobs.model_job)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthctx.jobs.outputs import write_output


def scores_by_step(
    a: argparse.Namespace, loaded: Any, records: list[dict], cfg: Any, scores: dict[str, Any]
) -> dict[str, Any]:
    """Teacher-forced scores at every training snapshot; the last step is the trained weights' own scores on
    every example (already in `scores`), so it is taken from there rather than computed again."""
    from synthctx.heads.scoring import snapshot_scores
    from synthctx.jobs.model_job import condition
    from synthctx.models.model_io import load_model
    from synthctx.models.train import snapshot_dirs

    snapshots, final_step = snapshot_dirs(a.snapshots) if a.snapshots else ([], None)
    load = lambda w: load_model(a.model_dir, cfg.dtype, w)  # noqa: E731
    steps = snapshot_scores(load, loaded.tokenizer, snapshots, records, cfg)
    if a.snapshots and "teacher_forced" in cfg.modes:
        final = {k: {"scores": b["modes"]["teacher_forced"]["scores"]} for k, b in scores["head_kinds"].items()}
        steps.append({"step": final_step, "n_examples": len(records), "head_kinds": final})
    return {"condition": condition(a), "mode": "teacher_forced", "steps": steps}


def cmd_score_heads(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.heads.scoring import scores_file
    from synthctx.jobs.model_job import condition, condition_stamp, job_settings, load_condition_model
    from synthctx.plan.settings import HeadSettings

    cfg = job_settings(a, HeadSettings, "heads")
    loaded = load_condition_model(a, cfg.dtype)
    predictions = {p["id"]: p for p in read_jsonl(a.predictions)}
    records = list(read_jsonl(a.records))
    out = scores_file(loaded.model, loaded.tokenizer, records, predictions, cfg)
    out = {**out, **condition_stamp(a, cfg.dtype)}
    by_step = scores_by_step(a, loaded, records, cfg, out)
    write_output(a.by_step, by_step, stage="score-heads", config_slice=a.config, extra={"condition": condition(a)})
    extra = {
        "condition": condition(a),
        "head_kinds": sorted(out["head_kinds"]),
        "attention": "sdpa + argmax capture (no full attention)",
    }
    write_output(a.out, out, stage="score-heads", config_slice=a.config, with_device=True, extra=extra)


def cmd_head_sets(a: argparse.Namespace) -> None:
    from synthctx.heads.head_sets import compare_scores, recall_by_step
    from synthctx.plan.settings import HeadSetSettings, parse_slice

    cfg = parse_slice(HeadSetSettings, a.config, "head_sets")
    cand, ref = json.loads(a.scores.read_text()), json.loads(a.reference.read_text())
    comparison = compare_scores(cand, ref, cfg.threshold, cfg.top_k)
    by_step = json.loads(a.by_step.read_text())
    comparison["by_step"] = recall_by_step(by_step, ref, cfg.threshold, cfg.top_k)
    write_output(a.out, comparison, stage="head-sets", config_slice=a.config)


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommands of heads.smk's rules; `stage` adds one with its common arguments (see synthctx.cli)."""
    p = stage(
        "score-heads", cmd_score_heads, "retrieval and insight scores of every head", "records", "predictions",
        "out", "by-step", condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--snapshots", type=Path, default=None, help="a fine-tuning run's snapshots folder")
    stage(
        "head-sets", cmd_head_sets, "head sets and recall against the real-data model", "scores", "by-step",
        "reference", "out",
    )  # fmt: skip
