"""One command line, one subcommand per stage of the study: `python -m synthctx <stage> ...`.

Each subcommand parses its arguments, calls one function of its stage and writes exactly the outputs
its rule declares (paths arrive as arguments), through `synthctx.jobs.outputs` (atomic, with metadata).
Config arrives as a JSON slice, so a rule sees only the part of config it depends on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

# Offline unless the caller says otherwise: the workflow's local rules (prepare_model, fetch_hub_data) set
# HF_HUB_OFFLINE=0 / HF_DATASETS_OFFLINE=0 in their shell command; no other job reaches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _condition(a: argparse.Namespace) -> dict[str, Any]:
    return {"task": a.task, "data": a.data, "model": a.model, "seed": a.seed}


def _hub_failure(err, key: str, also: list[str], offline: tuple[str, ...]) -> SystemExit:
    """A failed hub download as one message naming the source and the config keys to change, no traceback."""
    from synthctx.data.hub import offline_note

    return SystemExit(
        f"error: {err}\n  check {key} (and {', '.join(also)}) in your config; if they are right, check this "
        f"host's network access and, for a gated repo, HF_TOKEN{offline_note(offline)}"
    )


def cmd_prepare_model(a: argparse.Namespace) -> None:
    from synthctx.data.hub import HubError
    from synthctx.jobs.outputs import write_metadata
    from synthctx.models.model_io import RemoteCodeRefused, prepare_model

    key = f"models.{a.model or '<model>'}"
    try:
        facts = prepare_model(a.config, a.out, seed=a.seed)
    except HubError as err:
        raise _hub_failure(err, f"{key}.repo_id", [f"{key}.revision"], ("HF_HUB_OFFLINE",)) from None
    except RemoteCodeRefused as err:
        raise SystemExit(f"error: {key}.trust_remote_code is false: {err}") from None
    write_metadata(a.out / "model.safetensors", stage="prepare-model", config_slice=a.config, extra={"model": facts})
    print(json.dumps(facts), flush=True)


def cmd_fetch_hub_data(a: argparse.Namespace) -> None:
    from synthctx.data.hub import HubError, fetch_dataset_split, is_local
    from synthctx.jobs.outputs import write_metadata

    key = f"tasks.{a.task}.real_data"
    if not a.config.get("revision") and not is_local(a.config["hub_id"]):
        print(f"WARNING: {key}.revision is not set: the data set is fetched at its current main", flush=True)
    try:
        facts = fetch_dataset_split(a.config, a.out)
    except HubError as err:
        also = [f"{key}.{k}" for k in ("revision", "hub_config", f"{a.split}_split")]
        raise _hub_failure(err, f"{key}.hub_id", also, ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")) from None
    write_metadata(a.out, stage="fetch-hub-data", config_slice=a.config, extra={"task": a.task, "source": facts})
    pinned = f"commit {facts['resolved_revision']}" if facts["resolved_revision"] else "a local folder"
    print(f"wrote {facts['n_rows']} rows of {facts['hub_id']}[{facts['split']}] ({pinned}) to {a.out}", flush=True)
    if not a.config.get("revision") and facts["resolved_revision"]:
        print(f"WARNING: pin it with {key}.revision: {facts['resolved_revision']}", flush=True)


def cmd_real_data(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.jobs.outputs import write_jsonl_atomic, write_metadata
    from synthctx.models.model_io import load_tokenizer

    records, dropped = tasks.build_real(a.task, a.config, a.split, a.n, a.seed, load_tokenizer(a.model_dir))
    n = write_jsonl_atomic(a.out, records)
    write_metadata(
        a.out,
        stage="real-data",
        config_slice=a.config,
        extra={
            "task": a.task,
            "split": a.split,
            "seed": a.seed,
            "n_records": n,
            "source_kind": a.config["source"]["kind"],
            "dropped": dropped,
        },
    )
    print(f"wrote {n} real {a.task} {a.split} records to {a.out} ({dropped} source items dropped)", flush=True)


def cmd_limit_data(a: argparse.Namespace) -> None:
    from synthctx.data.records import first_records
    from synthctx.jobs.outputs import write_jsonl_atomic, write_metadata

    records, n_source = first_records(a.records, a.n)
    n = write_jsonl_atomic(a.out, records)
    write_metadata(
        a.out,
        stage="limit-data",
        config_slice={"n": a.n},
        extra={"source": str(a.records), "n_source_records": n_source, "n_records": n},
    )
    print(f"kept the first {n} of {n_source} real training records in {a.out}", flush=True)


def cmd_synthetic_data(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.data.llm_writer import writer_from_slice
    from synthctx.jobs.outputs import write_jsonl_atomic, write_metadata
    from synthctx.models.model_io import load_tokenizer
    from synthctx.plan import conditions

    data = conditions.parse(a.data)
    writer = writer_from_slice(a.config.get("writer"))
    records, _ = tasks.build_synthetic(
        a.task, data.needle, data.haystack, a.config, a.n, a.seed, load_tokenizer(a.model_dir), writer=writer
    )
    n = write_jsonl_atomic(a.out, records)
    write_metadata(
        a.out,
        stage="synthetic-data",
        config_slice=a.config,
        extra={
            "task": a.task,
            "data": a.data,
            "seed": a.seed,
            "n_records": n,
            "writer": writer.identity() if writer else "none",
        },
    )
    cache = f" (LLM writer: {writer.hits} cached texts, {writer.misses} written)" if writer else ""
    print(f"wrote {n} synthetic {a.task} {a.data} records to {a.out}{cache}", flush=True)


def cmd_train(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.jobs.outputs import set_threads, write_metadata
    from synthctx.models.train import fine_tune, main_weights_file
    from synthctx.plan.settings import TrainSettings, parse_slice

    cfg = parse_slice(TrainSettings, a.config, "train")
    set_threads(a.threads)
    records = list(read_jsonl(a.records))
    log = fine_tune(a.model_dir, records, cfg, a.seed, a.out, a.checkpoint_dir, a.snapshots, a.code)
    write_metadata(
        a.out / main_weights_file(cfg.method),
        stage="train",
        config_slice=a.config,
        with_device=True,
        extra={"condition": _condition(a), "seed": a.seed, "training": log},
    )


def cmd_evaluate(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.evaluation.evaluate import evaluate
    from synthctx.jobs.outputs import set_threads, write_json_atomic, write_jsonl_atomic, write_metadata
    from synthctx.models.model_io import describe_weights, load_model, load_tokenizer
    from synthctx.plan.settings import EvaluateSettings, parse_slice

    cfg = parse_slice(EvaluateSettings, a.config, "evaluate")
    set_threads(a.threads)
    dtype = cfg.dtype
    model, tokenizer = load_model(a.model_dir, dtype, a.weights), load_tokenizer(a.model_dir)
    predictions, summary = evaluate(model, tokenizer, list(read_jsonl(a.records)), cfg.max_new_tokens)
    summary = {**summary, "condition": _condition(a), "weights": describe_weights(a.weights, dtype), "dtype": dtype}
    write_jsonl_atomic(a.predictions, predictions)
    write_json_atomic(a.summary, summary)
    write_metadata(
        a.summary,
        stage="evaluate",
        config_slice=a.config,
        with_device=True,
        extra={"condition": _condition(a), "attention": "sdpa"},
    )
    print(" ".join(f"{k} {v:.3f}" for k, v in summary.items() if isinstance(v, float)), flush=True)


def cmd_score_heads(a: argparse.Namespace) -> None:
    from synthctx.data.records import read_jsonl
    from synthctx.heads.scoring import scores_file, snapshot_scores
    from synthctx.jobs.outputs import set_threads, write_json_atomic, write_metadata
    from synthctx.models.model_io import describe_weights, load_model, load_tokenizer
    from synthctx.models.train import snapshot_dirs
    from synthctx.plan.settings import HeadSettings, parse_slice

    cfg = parse_slice(HeadSettings, a.config, "heads")
    set_threads(a.threads)
    dtype = cfg.dtype
    model, tokenizer = load_model(a.model_dir, dtype, a.weights), load_tokenizer(a.model_dir)
    predictions = {p["id"]: p for p in read_jsonl(a.predictions)}
    records = list(read_jsonl(a.records))
    out = scores_file(model, tokenizer, records, predictions, cfg)
    out = {**out, "condition": _condition(a), "dtype": dtype, "weights": describe_weights(a.weights, dtype)}
    snapshots, final_step = snapshot_dirs(a.snapshots) if a.snapshots else ([], None)
    by_step = snapshot_scores(lambda w: load_model(a.model_dir, dtype, w), tokenizer, snapshots, records, cfg)
    if a.snapshots and "teacher_forced" in cfg.modes:  # the trained weights: the last step, on every example
        final = {k: {"scores": b["modes"]["teacher_forced"]["scores"]} for k, b in out["head_kinds"].items()}
        by_step.append({"step": final_step, "n_examples": len(records), "head_kinds": final})
    write_json_atomic(a.by_step, {"condition": _condition(a), "mode": "teacher_forced", "steps": by_step})
    write_metadata(a.by_step, stage="score-heads", config_slice=a.config, extra={"condition": _condition(a)})
    write_json_atomic(a.out, out)
    write_metadata(
        a.out,
        stage="score-heads",
        config_slice=a.config,
        with_device=True,
        extra={
            "condition": _condition(a),
            "head_kinds": sorted(out["head_kinds"]),
            "attention": "sdpa + argmax capture (no full attention)",
        },
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


def cmd_knockout(a: argparse.Namespace) -> None:
    import dataclasses

    from synthctx.data import tasks
    from synthctx.data.records import read_jsonl
    from synthctx.interventions.experiments import calibration_means, knockout_configurations, run_knockout
    from synthctx.jobs.outputs import set_threads, write_json_atomic, write_metadata
    from synthctx.models.model_io import describe_weights, load_model, load_tokenizer
    from synthctx.plan.settings import KnockoutRun, parse_slice

    cfg = parse_slice(KnockoutRun, a.config, "interventions (knockout)")
    set_threads(a.threads)
    records, scores, matrices = _intervention_inputs(a, cfg.n_examples, cfg.head_kinds, cfg.ranked_by)
    model, tokenizer = load_model(a.model_dir, cfg.dtype, a.weights), load_tokenizer(a.model_dir)
    configs = knockout_configurations(matrices(scores), cfg.k, cfg.random_draws, cfg.exclude_top, a.seed)
    means, calibration = None, None
    if cfg.semantics == "mean":
        calibrate = list(read_jsonl(a.records))[: cfg.calibration_examples]
        means = calibration_means(model, tokenizer, calibrate)
        calibration = f"mean head output over every prompt token of the first {len(calibrate)} real test examples"
    rows = run_knockout(
        model, tokenizer, records, configs, cfg.semantics, means, tasks.get(a.task).score, cfg.max_new_tokens
    )
    out = {
        "condition": _condition(a),
        "semantics": cfg.semantics,
        "calibration": calibration,
        "ranked_by": cfg.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "dtype": cfg.dtype,
        "weights": describe_weights(a.weights, cfg.dtype),
        "n_layers": scores["n_layers"],
        "n_heads": scores["n_heads"],
        "exclude_top": cfg.exclude_top,
        "seed": a.seed,
        "settings": dataclasses.asdict(cfg),
        "rows": rows,
    }
    write_json_atomic(a.out, out)
    write_metadata(
        a.out,
        stage="knockout",
        config_slice=a.config,
        with_device=True,
        extra={"condition": _condition(a), "semantics": cfg.semantics, "attention": "sdpa + head knockout wrapper"},
    )


def cmd_patch(a: argparse.Namespace) -> None:
    import dataclasses

    from synthctx.data import tasks
    from synthctx.interventions.experiments import patching_configurations, run_patching
    from synthctx.jobs.outputs import set_threads, write_json_atomic, write_metadata
    from synthctx.models.model_io import load_model, load_tokenizer
    from synthctx.plan.settings import PatchingRun, parse_slice

    cfg = parse_slice(PatchingRun, a.config, "interventions (patching)")
    set_threads(a.threads)
    records, scores, matrices = _intervention_inputs(a, cfg.n_examples, cfg.head_kinds, cfg.ranked_by)
    reference = json.loads(a.reference.read_text())
    configs = patching_configurations(
        matrices(scores), matrices(reference), cfg.set_rule, cfg.threshold, cfg.top_k, cfg.random_draws, a.seed
    )
    tokenizer = load_tokenizer(a.model_dir)
    model_a, model_b = load_model(a.model_dir, cfg.dtype, a.weights), load_model(a.model_dir, cfg.dtype, a.donor)
    synthetic, real, rows = run_patching(
        model_a, model_b, tokenizer, records, configs, tasks.get(a.task).score, cfg.max_new_tokens
    )
    out = {
        "condition": _condition(a),
        "donor": reference["condition"],
        "set_rule": cfg.set_rule,
        "ranked_by": cfg.ranked_by,
        "n_examples": len(records),
        "example_ids": [r["id"] for r in records],
        "metric": "f1",
        "dtype": cfg.dtype,
        "semantics": "each head's output slot through its own model's o_proj, from the donor's clean forward on "
        "the same tokens (not recomputed from the patched residual stream); the patched model's o_proj bias kept",
        "seed": a.seed,
        "settings": dataclasses.asdict(cfg),
        "synthetic": synthetic.as_record(),
        "real": real.as_record(),
        "rows": rows,
    }
    write_json_atomic(a.out, out)
    write_metadata(a.out, stage="patch", config_slice=a.config, with_device=True, extra={"condition": _condition(a)})


def cmd_head_sets(a: argparse.Namespace) -> None:
    from synthctx.heads.head_sets import compare_scores, recall_by_step
    from synthctx.jobs.outputs import write_json_atomic, write_metadata
    from synthctx.plan.settings import HeadSetSettings, parse_slice

    cfg = parse_slice(HeadSetSettings, a.config, "head_sets")
    cand, ref = json.loads(a.scores.read_text()), json.loads(a.reference.read_text())
    comparison = compare_scores(cand, ref, cfg.threshold, cfg.top_k)
    by_step = json.loads(a.by_step.read_text())
    comparison["by_step"] = recall_by_step(by_step, ref, cfg.threshold, cfg.top_k)
    write_json_atomic(a.out, comparison)
    write_metadata(a.out, stage="head-sets", config_slice=a.config)


def cmd_aggregate(a: argparse.Namespace) -> None:
    from synthctx.analysis.aggregate import condition_rows, head_layer_rows, headline, read_json, recall_by_step_rows
    from synthctx.jobs.outputs import write_csv_atomic, write_metadata

    summaries, comparisons = read_json(a.summaries), read_json(a.comparisons)
    table = condition_rows(summaries, comparisons)
    for path, rows in (
        (a.out, table),
        (a.recall_by_step, recall_by_step_rows(comparisons)),
        (a.head_layers, head_layer_rows(comparisons)),
    ):
        write_csv_atomic(path, rows)
        write_metadata(path, stage="aggregate", config_slice={"n_summaries": len(a.summaries)})
    print(headline(table), flush=True)


def cmd_correlate(a: argparse.Namespace) -> None:
    import polars as pl

    from synthctx.analysis.aggregate import condition_means, correlation_rows, leave_one_out_rows, read_csv
    from synthctx.jobs.outputs import write_csv_atomic, write_metadata
    from synthctx.plan.settings import CorrelationSettings, parse_slice

    cfg = parse_slice(CorrelationSettings, a.config, "correlation")
    table = read_csv(a.table)
    rows = correlation_rows(table, cfg)
    for path, out in (
        (a.out, rows),
        (a.means, condition_means(table, cfg.confidence)),
        (a.leave_one_out, leave_one_out_rows(table, include_baseline=cfg.include_baseline)),
    ):
        write_csv_atomic(path, out)
        write_metadata(path, stage="correlate", config_slice=a.config)
    shown = ("task", "seed", "head_kind", "scoring_mode", "set_rule", "method", "n", "estimate", "ci_low", "ci_high")
    print(rows.filter(pl.col("x") == "recall").select(*shown, "p_permutation", "p_method"), flush=True)


def cmd_intervention_tables(a: argparse.Namespace) -> None:
    from synthctx.analysis.aggregate import knockout_rows, patching_rows, read_json
    from synthctx.jobs.outputs import write_csv_atomic, write_metadata
    from synthctx.plan.settings import CorrelationSettings, parse_slice

    cfg = parse_slice(CorrelationSettings, a.config, "correlation")
    boot = {"n_bootstrap": cfg.n_bootstrap, "confidence": cfg.confidence, "seed": cfg.seed}
    for path, rows in (
        (a.knockout_table, knockout_rows(read_json(a.knockouts), **boot)),
        (a.patching_table, patching_rows(read_json(a.patchings), **boot)),
    ):
        write_csv_atomic(path, rows)
        write_metadata(path, stage="intervention-tables", config_slice=a.config)


def cmd_figures(a: argparse.Namespace) -> None:
    from synthctx.analysis import figures
    from synthctx.analysis.aggregate import read_csv, read_json

    kinds, modes = a.config["head_kinds"], a.config["modes"]
    if len(a.heatmaps) != len(kinds) * len(modes) or len(a.scatter) != len(modes):
        raise ValueError("one heatmap per head kind x mode and one scatter plot per mode are expected")
    table, corr = read_csv(a.table), read_csv(a.correlations)
    figures.f1_by_condition(table, a.f1_figure)
    scores = read_json(a.scores)
    for (kind, mode), path in zip(itertools.product(kinds, modes), a.heatmaps, strict=True):
        figures.score_heatmaps(scores, kind, mode, path)
    for mode, path in zip(modes, a.scatter, strict=True):
        figures.recall_vs_f1(table, corr, mode, "threshold", path)
    figures.recall_vs_f1_seeds(read_csv(a.means), a.seeds_figure)
    figures.recall_over_training(read_csv(a.recall_by_step), a.steps_figure)
    figures.head_layers(read_csv(a.head_layers), a.layers_figure)
    figures.knockout_curves(read_csv(a.knockout), a.knockout_figure)
    figures.patching_recovery(read_csv(a.patching), a.patching_figure)


def cmd_claims(a: argparse.Namespace) -> None:
    from docutils.core import publish_string

    from synthctx.analysis.aggregate import read_csv
    from synthctx.analysis.claims import claim_verdicts, claims_rst
    from synthctx.jobs.outputs import write_csv_atomic, write_metadata, write_text_atomic

    names = ("conditions", "condition_means", "correlations", "leave_one_out", "knockout", "patching", "recall_by_step")
    tables = {name: read_csv(path) for name, path in zip(names, a.tables, strict=True)}
    verdicts = claim_verdicts(tables)
    text = claims_rst(verdicts)
    html = publish_string(text, writer_name="html5", settings_overrides={"report_level": 5, "embed_stylesheet": True})
    write_text_atomic(a.out, html.decode("utf-8"))
    flat = [
        {**{k: v for k, v in v.items() if k != "numbers"}, "numbers": json.dumps(v["numbers"], sort_keys=True)}
        for v in verdicts
    ]
    import polars as pl

    write_csv_atomic(a.table_out, pl.DataFrame(flat, infer_schema_length=None))
    for path in (a.out, a.table_out):
        write_metadata(path, stage="claims", config_slice={"tables": [str(t) for t in a.tables]})
    for v in verdicts:
        print(f"{v['claim']} {v['task']} {v['head_kind']}: {v['verdict']}", flush=True)


def cmd_check_config(a: argparse.Namespace) -> None:
    import yaml

    from synthctx.plan.config import ConfigError, load_config_files, validate_config

    files = [a.base, *a.configfile]
    try:
        config = load_config_files(files)
        validate_config(config, yaml.safe_load(a.schema.read_text(encoding="utf-8")), files)
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    grid = config["grid"]
    print(f"ok: {' + '.join(map(str, files))}: tasks {grid['tasks']}, models {grid['models']}, seeds {grid['seeds']}")


def cmd_package(a: argparse.Namespace) -> None:
    from synthctx.package.crate import PackageError, build_package

    settings = a.config["package"]  # the resolved config: schema defaults already filled
    try:
        info = build_package(
            workdir=Path.cwd(),
            summary=a.summary,
            config=a.config,
            report=a.report,
            out=a.out,
            tarball=a.tarball,
            adapters=settings["adapters"],
            license_id=settings["license"],
        )
    except PackageError as err:
        raise SystemExit(f"error: {err}") from None
    dirty = {None: "not a git checkout", True: "with uncommitted changes", False: "clean"}[info["dirty"]]
    print(
        f"{a.out}: {info['files']} files, {info['bytes'] / 1e6:.1f} MB; "
        f"{a.tarball}: {info['tarball_bytes'] / 1e6:.1f} MB; code at {info['commit']} ({dirty})",
        flush=True,
    )


def cmd_verify(a: argparse.Namespace) -> None:
    from synthctx.package.crate import verify_package

    problems = verify_package(a.package, keep=a.keep)
    for problem in problems:
        print(f"FAIL {problem}", flush=True)
    if problems:
        raise SystemExit(f"{a.package}: {len(problems)} problems found")
    print(f"{a.package}: every checksum matches, and the tables, claims and figures re-derive identically", flush=True)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--config is not valid JSON: {err.msg}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m synthctx", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)

    def stage(
        name: str, fn, help_: str, *paths: str, many: tuple[str, ...] = (), condition: bool = False, model: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--config", type=_json, default={}, help="JSON slice of the workflow config")
        p.add_argument("--threads", type=int, default=None)
        if condition:
            for k in ("task", "data", "model"):
                p.add_argument(f"--{k}", required=True)
            p.add_argument("--seed", type=int, required=True)
        if model:
            p.add_argument("--model-dir", type=Path, required=True)
        for path in paths:
            p.add_argument(f"--{path}", type=Path, required=True)
        for path in many:
            p.add_argument(f"--{path}", type=Path, nargs="+", required=True)
        return p

    p = stage("prepare-model", cmd_prepare_model, "convert, build or download a model into a plain folder", "out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="the model's name in config (for messages)")
    p = stage(
        "fetch-hub-data",
        cmd_fetch_hub_data,
        "download one split of a task's hub data set to a local jsonl.gz (needs the network)",
        "out",
    )
    p.add_argument("--task", required=True, help="the task whose real_data it is (for messages)")
    p.add_argument("--split", choices=("train", "test"), required=True, help="which of the task's splits")
    p = stage("real-data", cmd_real_data, "build the real task's split", "out", model=True)
    p.add_argument("--task", required=True)
    p.add_argument("--split", choices=("train", "test"), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("limit-data", cmd_limit_data, "cut the real training set to a synthetic set's size", "records", "out")
    p.add_argument("--n", type=int, required=True)
    p = stage("synthetic-data", cmd_synthetic_data, "build one synthetic variant's training set", "out", model=True)
    p.add_argument("--task", required=True)
    p.add_argument("--data", required=True, help="<needle>-<haystack>, e.g. high-low")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("train", cmd_train, "LoRA fine-tuning", "records", "out", "checkpoint-dir", condition=True, model=True)
    p.add_argument("--snapshots", type=Path, default=None, help="folder for the intermediate snapshots")
    p.add_argument("--code", default=None, help="the workflow's code digest: checkpoints of other code are not resumed")
    for name, fn, help_, outs in (
        ("evaluate", cmd_evaluate, "answer the real test split", ("predictions", "summary")),
        (
            "score-heads",
            cmd_score_heads,
            "retrieval and insight scores of every head",
            ("predictions", "out", "by-step"),
        ),
    ):
        p = stage(name, fn, help_, "records", *outs, condition=True, model=True)
        p.add_argument("--weights", type=Path, default=None)
        if name == "score-heads":
            p.add_argument("--snapshots", type=Path, default=None, help="a fine-tuning run's snapshots folder")
    p = stage(
        "knockout",
        cmd_knockout,
        "re-evaluate with top-k heads and controls knocked out",
        "records",
        "scores",
        "out",
        condition=True,
        model=True,
    )
    p.add_argument("--weights", type=Path, default=None)
    p = stage(
        "patch",
        cmd_patch,
        "patch the real-data model's heads into another model",
        "records",
        "scores",
        "reference",
        "donor",
        "out",
        condition=True,
        model=True,
    )
    p.add_argument("--weights", type=Path, default=None)
    stage(
        "head-sets",
        cmd_head_sets,
        "head sets and recall against the real-data model",
        "scores",
        "by-step",
        "reference",
        "out",
    )
    stage(
        "aggregate",
        cmd_aggregate,
        "one table of all conditions; recall over training; heads by layer",
        "out",
        "recall-by-step",
        "head-layers",
        many=("summaries", "comparisons"),
    )
    stage(
        "correlate",
        cmd_correlate,
        "recall vs F1 correlations, means over seeds, leave-one-out",
        "table",
        "out",
        "means",
        "leave-one-out",
    )
    p = stage(
        "intervention-tables",
        cmd_intervention_tables,
        "knockout and patching tables",
        "knockout-table",
        "patching-table",
    )
    p.add_argument("--knockouts", type=Path, nargs="*", default=[])
    p.add_argument("--patchings", type=Path, nargs="*", default=[])
    stage(
        "figures",
        cmd_figures,
        "report figures",
        "table",
        "correlations",
        "means",
        "recall-by-step",
        "head-layers",
        "knockout",
        "patching",
        "f1-figure",
        "seeds-figure",
        "steps-figure",
        "layers-figure",
        "knockout-figure",
        "patching-figure",
        many=("scores", "heatmaps", "scatter"),
    )
    stage("claims", cmd_claims, "each claim of the paper with this run's numbers", "out", "table-out", many=("tables",))
    stage(
        "package",
        cmd_package,
        "the finished run as a reproducibility package (RO-Crate, checksums, .tar.gz)",
        "summary",
        "report",
        "out",
        "tarball",
    )
    p = sub.add_parser("check-config", help="validate config files as the workflow will (YAML errors with file:line)")
    p.set_defaults(fn=cmd_check_config)
    p.add_argument("configfile", type=Path, nargs="*", help="files merged over --base, in order (as --configfile)")
    p.add_argument("--base", type=Path, default=Path("config/config.yaml"), help="the Snakefile's configfile")
    p.add_argument("--schema", type=Path, default=Path("workflow/schemas/config.schema.yaml"))
    p = sub.add_parser("verify", help="recheck a package's checksums and re-derive its tables, claims and figures")
    p.set_defaults(fn=cmd_verify)
    p.add_argument("package", type=Path, help="the package folder or its .tar.gz")
    p.add_argument("--keep", type=Path, default=None, help="write the re-derived files here")
    return parser


MODEL_STAGES = ("train", "evaluate", "score-heads", "knockout", "patch")


def _remove_stale_metadata(args: argparse.Namespace) -> None:
    """Snakemake deletes a job's outputs before running it, but not their `.meta.json` sidecars: a sidecar
    whose file is missing is a previous run's, and would outlive a failure of this one beside no output."""
    paths = [v for value in vars(args).values() for v in (value if isinstance(value, list) else [value])]
    for path in paths:
        if isinstance(path, Path) and not path.exists():
            path.with_name(path.name + ".meta.json").unlink(missing_ok=True)


def uses_bitsandbytes(args: argparse.Namespace) -> bool:
    """Only QLoRA training quantises; every other model stage loads the base at its dtype, never in 4 bits."""
    return args.stage == "train" and args.config.get("method") == "qlora"


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    """Run one stage. `own_process` (python -m synthctx): the process is this stage's alone, so a model stage
    that does not quantise hides bitsandbytes from peft, which imports it (and torch's compiler with it, ~40 %
    of peft's import time) whenever it is installed. In a shared process (tests) nothing is hidden: peft keeps
    what it found at its first import."""
    from synthctx.jobs import timing

    args = build_parser().parse_args(argv)
    if own_process and args.stage in MODEL_STAGES and not uses_bitsandbytes(args):
        sys.modules.setdefault("bitsandbytes", None)  # an import of it fails loudly; peft sees it as absent
    if args.stage in MODEL_STAGES:  # counted as start-up: the libraries every model stage imports
        import torch  # noqa: F401
        import transformers.modeling_utils  # noqa: F401

        if args.stage == "train":
            import peft  # noqa: F401
    timing.mark_imported()
    _remove_stale_metadata(args)
    try:
        args.fn(args)
    except (OSError, MemoryError, RuntimeError) as err:
        failure = _resource_failure(args, err)
        if failure is None:
            raise
        raise failure from err
    timing.report(args.stage)
    return 0


# Rules whose names differ from their stage's (the others are the stage with '_' for '-').
RULE_OF_STAGE = {
    "train": "fine_tune",
    "score-heads": "score_heads",
    "real-data": "real_train_data or real_test_data",
    "limit-data": "real_limited_train_data",
    "synthetic-data": "synthetic_train_data",
}


def _resource_failure(args: argparse.Namespace, err: BaseException) -> SystemExit | None:
    """A full disk or exhausted memory as one message naming the job and what to do (else None: a bug, and
    its traceback is the useful report)."""
    import errno

    job = args.stage + (f" of {args.task}/{args.data}/{args.model}/{args.seed}" if hasattr(args, "data") else "")
    rule = RULE_OF_STAGE.get(args.stage, args.stage.replace("-", "_"))
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return SystemExit(
            f"error: {job}: no space left on the device (writing {err.filename or 'its outputs'}). Nothing partial "
            "was kept: outputs are written under a temporary name and renamed when complete. Free space there "
            "(or run from a larger disk), then rerun the same snakemake command: finished jobs are not repeated."
        )
    text = str(err).lower()
    if (
        isinstance(err, MemoryError)
        or type(err).__name__ == "OutOfMemoryError"
        or (isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))
    ):
        return SystemExit(
            f"error: {job}: out of memory ({type(err).__name__}: {str(err)[:200]}). Give the job more memory "
            f"(on SLURM: snakemake --set-resources {rule}:mem_mb=<MB>, or a GPU with more memory), or need less: "
            "a smaller train.batch_size with a larger train.gradient_accumulation_steps, a smaller target_tokens "
            "for the task, train.gradient_checkpointing: true, or train.method: qlora on a CUDA GPU; then rerun."
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
