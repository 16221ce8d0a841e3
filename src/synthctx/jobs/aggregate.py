"""The jobs of workflow/rules/aggregate.smk: the table of all conditions, its correlations, the intervention
tables, the report figures and the paper's claims. Each job imports its science inside its function, so a
rule's code digest covers only the science that rule names (an edit to the claims re-plans only `claims`)."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

from synthctx.jobs.outputs import write_output
from synthctx.plan import targets


def cmd_aggregate(a: argparse.Namespace) -> None:
    from synthctx.analysis.aggregate import (
        condition_rows,
        example_rows,
        head_layer_rows,
        headline,
        read_json,
        read_jsonl_files,
        recall_by_step_rows,
    )

    summaries, comparisons = read_json(a.summaries), read_json(a.comparisons)
    table = condition_rows(summaries, comparisons)
    outputs = [
        (a.out, table),
        (a.recall_by_step, recall_by_step_rows(comparisons)),
        (a.head_layers, head_layer_rows(comparisons)),
    ]
    if a.examples is not None:  # per-example values for claim (a)'s paired test
        outputs.append((a.examples, example_rows(summaries, read_jsonl_files(a.predictions))))
    for path, rows in outputs:
        write_output(path, rows, stage="aggregate", config_slice={"n_summaries": len(a.summaries)})
    print(headline(table), flush=True)


def cmd_correlate(a: argparse.Namespace) -> None:
    import polars as pl

    from synthctx.analysis.aggregate import condition_means, correlation_rows, leave_one_out_rows, read_csv
    from synthctx.plan.settings import CorrelationSettings, parse_slice

    cfg = parse_slice(CorrelationSettings, a.config, "correlation")
    table = read_csv(a.table)
    rows = correlation_rows(table, cfg)
    for path, out in (
        (a.out, rows),
        (a.means, condition_means(table, cfg.confidence)),
        (a.leave_one_out, leave_one_out_rows(table, include_baseline=cfg.include_baseline)),
    ):
        write_output(path, out, stage="correlate", config_slice=a.config)
    shown = ("task", "seed", "head_kind", "scoring_mode", "set_rule", "method", "n", "estimate", "ci_low", "ci_high")
    print(rows.filter(pl.col("x") == "recall").select(*shown, "p_permutation", "p_method"), flush=True)


def cmd_intervention_tables(a: argparse.Namespace) -> None:
    from synthctx.analysis.aggregate import (
        knockout_example_rows,
        knockout_rows,
        patching_example_rows,
        patching_rows,
        read_json,
    )
    from synthctx.plan.settings import CorrelationSettings, parse_slice

    cfg = parse_slice(CorrelationSettings, a.config, "correlation")
    boot = {"n_bootstrap": cfg.n_bootstrap, "confidence": cfg.confidence, "seed": cfg.seed}
    knockouts, patchings = read_json(a.knockouts), read_json(a.patchings)
    for path, rows in (
        (a.knockout_table, knockout_rows(knockouts, **boot)),
        (a.patching_table, patching_rows(patchings, **boot)),
        (a.knockout_examples, knockout_example_rows(knockouts)),
        (a.patching_examples, patching_example_rows(patchings)),
    ):
        write_output(path, rows, stage="intervention-tables", config_slice=a.config)


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
    import polars as pl
    from docutils.core import publish_string

    from synthctx.analysis.aggregate import read_csv
    from synthctx.analysis.claims import claim_verdicts, claims_rst
    from synthctx.plan.settings import CorrelationSettings, parse_slice

    cfg = parse_slice(CorrelationSettings, a.config, "correlation")
    tables = {name: read_csv(path) for name, path in zip(targets.CLAIM_TABLES, a.tables, strict=True)}
    verdicts = claim_verdicts(tables, confidence=cfg.confidence, n_draws=cfg.n_permutations, seed=cfg.seed)
    text = claims_rst(verdicts)
    html = publish_string(text, writer_name="html5", settings_overrides={"report_level": 5, "embed_stylesheet": True})
    flat = [
        {**{k: v for k, v in v.items() if k != "numbers"}, "numbers": json.dumps(v["numbers"], sort_keys=True)}
        for v in verdicts
    ]
    recorded = {"tables": [str(t) for t in a.tables], "correlation": a.config}
    write_output(a.out, html.decode("utf-8"), stage="claims", config_slice=recorded)
    write_output(a.table_out, pl.DataFrame(flat, infer_schema_length=None), stage="claims", config_slice=recorded)
    for v in verdicts:
        print(f"{v['claim']} {v['task']} {v['head_kind']}: {v['verdict']}", flush=True)


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommands of aggregate.smk's rules; `stage` adds one with its common arguments (see synthctx.cli)."""
    p = stage(
        "aggregate", cmd_aggregate, "one table of all conditions; recall over training; heads by layer", "out",
        "recall-by-step", "head-layers", many=("summaries", "comparisons"),
    )  # fmt: skip
    p.add_argument("--predictions", type=Path, nargs="*", default=[], help="predictions.jsonl, as --summaries")
    p.add_argument("--examples", type=Path, default=None, help="the per-example table (examples.csv)")
    stage(
        "correlate", cmd_correlate, "recall vs F1 correlations, means over seeds, leave-one-out", "table", "out",
        "means", "leave-one-out",
    )  # fmt: skip
    p = stage(
        "intervention-tables", cmd_intervention_tables, "knockout and patching tables, and their per-example values",
        "knockout-table", "patching-table", "knockout-examples", "patching-examples",
    )  # fmt: skip
    p.add_argument("--knockouts", type=Path, nargs="*", default=[])
    p.add_argument("--patchings", type=Path, nargs="*", default=[])
    stage(
        "figures", cmd_figures, "report figures", "table", "correlations", "means", "recall-by-step", "head-layers",
        "knockout", "patching", "f1-figure", "seeds-figure", "steps-figure", "layers-figure", "knockout-figure",
        "patching-figure", many=("scores", "heatmaps", "scatter"),
    )  # fmt: skip
    stage("claims", cmd_claims, "each claim of the paper with this run's numbers", "out", "table-out", many=("tables",))
