"""The job of workflow/rules/evaluate.smk: one condition's model answers the real test split."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from synthctx.jobs.model_job import condition, condition_stamp, job_settings, load_condition_model
from synthctx.jobs.outputs import write_jsonl_atomic, write_output


def cmd_evaluate(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.evaluation.evaluate import evaluate
    from synthctx.plan.settings import EvaluateSettings

    cfg = job_settings(a, EvaluateSettings, "evaluate")
    loaded = load_condition_model(a, cfg.dtype)
    predictions, summary = evaluate(loaded.model, loaded.tokenizer, list(read_jsonl(a.records)), cfg.max_new_tokens)
    summary = {**summary, **condition_stamp(a, cfg.dtype)}
    write_jsonl_atomic(a.predictions, predictions)
    extra = {"condition": condition(a), "attention": "sdpa"}
    write_output(a.summary, summary, stage="evaluate", config_slice=a.config, with_device=True, extra=extra)
    print(" ".join(f"{k} {v:.3f}" for k, v in summary.items() if isinstance(v, float)), flush=True)


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommand of evaluate.smk's rule; `stage` adds it with its common arguments (see synthctx.cli)."""
    p = stage(
        "evaluate", cmd_evaluate, "answer the real test split", "records", "predictions", "summary",
        condition=True, model=True,
    )  # fmt: skip
    p.add_argument("--weights", type=Path, default=None)
