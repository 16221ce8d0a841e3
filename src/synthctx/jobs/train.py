"""The job of workflow/rules/train.smk: fine-tuning one condition's model on its training records."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from synthctx.jobs.model_job import condition, job_settings
from synthctx.jobs.outputs import write_metadata


def cmd_train(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.models.train import fine_tune, main_weights_file
    from synthctx.plan.settings import TrainSettings

    cfg = job_settings(a, TrainSettings, "train")
    records = list(read_jsonl(a.records))
    log = fine_tune(a.model_dir, records, cfg, a.seed, a.out, a.checkpoint_dir, a.snapshots, a.code)
    write_metadata(
        a.out / main_weights_file(cfg.method),
        stage="train",
        config_slice=a.config,
        with_device=True,
        extra={"condition": condition(a), "seed": a.seed, "training": log},
    )


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommand of train.smk's rule; `stage` adds it with its common arguments (see synthctx.cli)."""
    p = stage("train", cmd_train, "LoRA fine-tuning", "records", "out", "checkpoint-dir", condition=True, model=True)
    p.add_argument("--snapshots", type=Path, default=None, help="folder for the intermediate snapshots")
    p.add_argument("--code", default=None, help="the workflow's code digest: checkpoints of other code are not resumed")
