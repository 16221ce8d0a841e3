"""One command line, one subcommand per stage of the study: `python -m synthctx <stage> ...`.

Each subcommand parses arguments, reads inputs, calls the stage's functions and writes outputs
atomically with a metadata file beside them. Config arrives as a JSON slice, so a rule sees only
the part of config it depends on.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _condition(a: argparse.Namespace) -> dict[str, Any]:
    return {"task": a.task, "needle": a.needle, "haystack": a.haystack, "model": a.model, "seed": a.seed}


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_prepare_model(a: argparse.Namespace) -> None:
    from synthctx.model_io import prepare_model
    from synthctx.provenance import write_metadata

    facts = prepare_model(a.config, a.out, seed=a.seed)
    write_metadata(a.out / "model.safetensors", stage="prepare-model", config_slice=a.config, extra={"model": facts})
    print(json.dumps(facts), flush=True)


def cmd_real_data(a: argparse.Namespace) -> None:
    from synthctx.data.tasks import build_real
    from synthctx.model_io import load_tokenizer
    from synthctx.provenance import write_metadata
    from synthctx.records import write_jsonl_atomic

    tokenizer = load_tokenizer(a.model_dir)
    records, dropped = build_real(a.task, a.config, a.split, a.n, a.seed, tokenizer)
    n = write_jsonl_atomic(a.out, records)
    write_metadata(a.out, stage="real-data", config_slice=a.config,
                   extra={"task": a.task, "split": a.split, "seed": a.seed, "n_records": n,
                          "source_kind": a.config["source"]["kind"], "dropped": dropped})
    print(f"wrote {n} real {a.task} {a.split} records to {a.out} ({dropped} source items dropped)", flush=True)


def cmd_limit_data(a: argparse.Namespace) -> None:
    """Real (limited): the first n records of the real training set, the size of a synthetic set."""
    from synthctx.provenance import write_metadata
    from synthctx.records import read_jsonl, write_jsonl_atomic

    records = list(read_jsonl(a.data))
    if len(records) < a.n:
        raise ValueError(f"{a.data}: {len(records)} records, cannot keep {a.n}")
    n = write_jsonl_atomic(a.out, records[:a.n])
    write_metadata(a.out, stage="limit-data", config_slice={"n": a.n},
                   extra={"source": str(a.data), "n_source_records": len(records), "n_records": n})
    print(f"kept the first {n} of {len(records)} real training records in {a.out}", flush=True)


def cmd_synthetic_data(a: argparse.Namespace) -> None:
    """The LLM writer, when the slice has one, is built here once and handed down, so the builders
    never read backends or credentials from config themselves."""
    from synthctx.data.llm_writer import writer_from_config
    from synthctx.data.tasks import build_synthetic
    from synthctx.model_io import load_tokenizer
    from synthctx.provenance import write_metadata
    from synthctx.records import write_jsonl_atomic

    tokenizer = load_tokenizer(a.model_dir)
    writer = None
    if a.config.get("writer"):
        section = a.config["writer"]
        writer = writer_from_config({k: v for k, v in section.items() if k not in ("cache_dir", "use_for")},
                                    section["cache_dir"])
    records = build_synthetic(a.task, a.needle, a.haystack, a.config, a.n, a.seed, tokenizer, writer=writer)
    n = write_jsonl_atomic(a.out, records)
    write_metadata(a.out, stage="synthetic-data", config_slice=a.config,
                   extra={"task": a.task, "needle": a.needle, "haystack": a.haystack, "seed": a.seed, "n_records": n,
                          "writer": writer.identity() if writer else "none"})
    cache = f" (LLM writer: {writer.hits} cached texts, {writer.misses} written)" if writer else ""
    print(f"wrote {n} synthetic {a.task} ({a.needle}, {a.haystack}) records to {a.out}{cache}", flush=True)


def cmd_train(a: argparse.Namespace) -> None:
    from synthctx.provenance import write_metadata
    from synthctx.records import read_jsonl
    from synthctx.train import fine_tune

    _threads(a.threads)
    records = list(read_jsonl(a.data))
    log = fine_tune(a.model_dir, records, a.config, a.seed, a.out, a.checkpoint_dir)
    main_file = "model.safetensors" if a.config["method"] == "full" else "adapter_model.safetensors"
    write_metadata(a.out / main_file, stage="train", config_slice=a.config, with_device=True,
                   extra={"condition": _condition(a), "seed": a.seed, "training": log})


def _load_scored_model(a: argparse.Namespace, dtype: str):
    from synthctx.model_io import load_model, load_tokenizer

    return load_model(a.model_dir, dtype, a.weights), load_tokenizer(a.model_dir)


def _weights(a: argparse.Namespace) -> str:
    from synthctx.model_io import adapter_handling

    if a.weights is None:
        return "base model"
    if (a.weights / "config.json").is_file():
        return "fully fine-tuned weights"
    return f"LoRA {adapter_handling(a.config['dtype'])}"


def cmd_evaluate(a: argparse.Namespace) -> None:
    from synthctx.evaluate import evaluate
    from synthctx.provenance import write_metadata
    from synthctx.records import read_jsonl, write_json_atomic, write_jsonl_atomic

    _threads(a.threads)
    model, tokenizer = _load_scored_model(a, a.config["dtype"])
    predictions, summary = evaluate(model, tokenizer, list(read_jsonl(a.data)), a.config["max_new_tokens"])
    write_jsonl_atomic(a.predictions, predictions)
    summary = {**summary, "condition": _condition(a), "weights": _weights(a),
               "dtype": a.config["dtype"]}
    write_json_atomic(a.summary, summary)
    write_metadata(a.summary, stage="evaluate", config_slice=a.config, with_device=True,
                   extra={"condition": _condition(a), "attention": "sdpa"})
    print(" ".join(f"{k} {summary[k]:.3f}" for k in ("f1", "substring_em", "citation_precision", "citation_recall",
                                                     "support_f1") if k in summary), flush=True)


def cmd_score_heads(a: argparse.Namespace) -> None:
    from synthctx.heads.scoring import DEFINITIONS, score_heads
    from synthctx.provenance import write_metadata
    from synthctx.records import read_jsonl, write_json_atomic

    _threads(a.threads)
    model, tokenizer = _load_scored_model(a, a.config["dtype"])
    records = list(read_jsonl(a.data))
    predictions = {p["id"]: p for p in read_jsonl(a.predictions)}
    norm = a.config["insight_normalization"]
    by_mode = {m: score_heads(model, tokenizer, records, predictions, m, a.config["argmax_over"], norm)
               for m in a.config["modes"]}
    kinds = {kind: {"definition": DEFINITIONS[kind].format(norm=norm),
                    "modes": {m: res[kind] for m, res in by_mode.items()}}
             for kind in next(iter(by_mode.values()))}
    out = {"condition": _condition(a), "head_kinds": kinds, "dtype": a.config["dtype"], "weights": _weights(a),
           "n_layers": model.config.num_hidden_layers, "n_heads": model.config.num_attention_heads}
    write_json_atomic(a.out, out)
    write_metadata(a.out, stage="score-heads", config_slice=a.config, with_device=True,
                   extra={"condition": _condition(a), "head_kinds": sorted(kinds),
                          "attention": "sdpa + argmax capture (no full attention)"})


def cmd_head_sets(a: argparse.Namespace) -> None:
    import numpy as np

    from synthctx.head_sets import head_set_comparison
    from synthctx.provenance import write_metadata
    from synthctx.records import write_json_atomic

    cand = json.loads(a.scores.read_text())
    ref = json.loads(a.reference.read_text())
    if set(cand["head_kinds"]) != set(ref["head_kinds"]):
        raise ValueError(f"{a.scores} has head kinds {sorted(cand['head_kinds'])}, the reference {a.reference} "
                         f"{sorted(ref['head_kinds'])}")
    kinds = {}
    for kind, c_kind in cand["head_kinds"].items():
        modes = {}
        for mode, c in c_kind["modes"].items():
            r = ref["head_kinds"][kind]["modes"][mode]
            comp = head_set_comparison(np.asarray(c["scores"], dtype=float), np.asarray(r["scores"], dtype=float),
                                       a.config["threshold"], a.config["top_k"])
            if not c["n_scored"] or not r["n_scored"]:  # no scored example: the head set is undefined, not empty
                nan = float("nan")
                for rule in ("threshold", "top_k"):
                    comp[rule].update(recall=nan, precision=nan, jaccard=nan)
                comp["cosine"] = nan
            modes[mode] = {**comp, "n_scored": c["n_scored"], "reference_n_scored": r["n_scored"]}
        kinds[kind] = {"modes": modes}
    out = {"condition": cand["condition"], "reference": ref["condition"], "head_kinds": kinds,
           "is_reference": cand["condition"] == ref["condition"]}
    write_json_atomic(a.out, out)
    write_metadata(a.out, stage="head-sets", config_slice=a.config)


def cmd_aggregate(a: argparse.Namespace) -> None:
    from synthctx.aggregate import condition_rows, read_json
    from synthctx.provenance import write_metadata

    table = condition_rows(read_json(a.summaries), read_json(a.comparisons))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    table.write_csv(tmp)
    tmp.replace(a.out)
    write_metadata(a.out, stage="aggregate", config_slice={"n_summaries": len(a.summaries)})
    print(table.filter((table["scoring_mode"] == "teacher_forced") & (table["set_rule"] == "threshold"))
          .select("task", "head_kind", "condition", "seed", "f1", "recall", "cosine"), flush=True)


def cmd_correlate(a: argparse.Namespace) -> None:
    import polars as pl

    from synthctx.aggregate import correlation_rows
    from synthctx.provenance import write_metadata

    rows = correlation_rows(pl.read_csv(a.table), a.config)
    tmp = a.out.with_name(a.out.name + ".tmp")
    rows.write_csv(tmp)
    tmp.replace(a.out)
    write_metadata(a.out, stage="correlate", config_slice=a.config)
    print(rows.filter(pl.col("x") == "recall").select("task", "head_kind", "scoring_mode", "set_rule", "method", "n", "estimate",
                                                      "ci_low", "ci_high", "p_permutation"), flush=True)


def cmd_figures(a: argparse.Namespace) -> None:
    import polars as pl

    from synthctx import figures
    from synthctx.aggregate import read_json

    table, corr = pl.read_csv(a.table), pl.read_csv(a.correlations)
    figures.f1_by_condition(table, a.out_dir / "f1_by_condition.png")
    scores = read_json(a.scores)
    for mode in a.config["modes"]:
        for kind in a.config["head_kinds"]:
            figures.score_heatmaps(scores, kind, mode, a.out_dir / f"head_scores_{kind}_{mode}.png")
        figures.recall_vs_f1(table, corr, mode, "threshold", a.out_dir / f"recall_vs_f1_{mode}.png")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--config is not valid JSON: {err.msg}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m synthctx", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)

    def stage(name: str, fn, help_: str, condition: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--config", type=_json, default={}, help="JSON slice of the workflow config")
        p.add_argument("--threads", type=int, default=None)
        if condition:
            for k in ("task", "needle", "haystack", "model"):
                p.add_argument(f"--{k}", required=True)
            p.add_argument("--seed", type=int, required=True)
        return p

    p = stage("prepare-model", cmd_prepare_model, "convert or build a model into a plain folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p = stage("real-data", cmd_real_data, "build the real task's split")
    p.add_argument("--task", required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--split", choices=("train", "test"), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("limit-data", cmd_limit_data, "cut the real training set to a synthetic set's size")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("synthetic-data", cmd_synthetic_data, "build one synthetic variant's training set")
    for k in ("task", "needle", "haystack"):
        p.add_argument(f"--{k}", required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("train", cmd_train, "LoRA fine-tuning", condition=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint-dir", type=Path, required=True)
    for name, fn, help_ in (("evaluate", cmd_evaluate, "answer the real test split"),
                            ("score-heads", cmd_score_heads, "retrieval and insight scores of every head")):
        p = stage(name, fn, help_, condition=True)
        p.add_argument("--model-dir", type=Path, required=True)
        p.add_argument("--weights", type=Path, default=None)
        p.add_argument("--data", type=Path, required=True)
        if name == "evaluate":
            p.add_argument("--predictions", type=Path, required=True)
            p.add_argument("--summary", type=Path, required=True)
        else:
            p.add_argument("--predictions", type=Path, required=True)
            p.add_argument("--out", type=Path, required=True)
    p = stage("head-sets", cmd_head_sets, "head sets and recall against the real-data model")
    p.add_argument("--scores", type=Path, required=True)
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("aggregate", cmd_aggregate, "one table of all conditions")
    p.add_argument("--summaries", type=Path, nargs="+", required=True)
    p.add_argument("--comparisons", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("correlate", cmd_correlate, "recall vs F1 correlations")
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = stage("figures", cmd_figures, "report figures")
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--correlations", type=Path, required=True)
    p.add_argument("--scores", type=Path, nargs="+", required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
