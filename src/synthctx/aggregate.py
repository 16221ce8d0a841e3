"""One table of every condition: real-task F1 beside head recall against the real-data model (polars)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from synthctx import conditions
from synthctx.correlation import STATISTICS, correlate, weak_evidence_note
from synthctx.settings import CorrelationSettings

CONDITION_KEYS = ("task", "data", "model", "seed")


# Evaluation metrics copied into every row; a task without one (SummHay has no substring EM) leaves it empty.
METRICS = ("f1", "substring_em", "citation_precision", "citation_recall", "support_f1")


def condition_rows(summaries: list[dict[str, Any]], comparisons: list[dict[str, Any]]) -> pl.DataFrame:
    """Long table: one row per condition x head kind x scoring mode x head-set rule."""
    f1 = {tuple(s["condition"][k] for k in CONDITION_KEYS): s for s in summaries}
    rows = []
    for comp in comparisons:
        key = tuple(comp["condition"][k] for k in CONDITION_KEYS)
        if key not in f1:
            raise ValueError(f"no evaluation summary for condition {dict(zip(CONDITION_KEYS, key))}")
        s = f1[key]
        for kind, by_mode in comp["head_kinds"].items():
            for mode, by_rule in by_mode["modes"].items():
                for rule in ("threshold", "top_k"):
                    r = by_rule[rule]
                    rows.append(
                        {
                            **comp["condition"],
                            "condition": conditions.parse(key[1]).label,
                            "is_reference": comp["is_reference"],
                            "head_kind": kind,
                            "scoring_mode": mode,
                            "set_rule": rule,
                            **{m: float(s[m]) if m in s else None for m in METRICS},
                            "metric": s["metric"],
                            "n_test": s["n_examples"],
                            "recall": r["recall"],
                            "precision": r["precision"],
                            "jaccard": r["jaccard"],
                            "n_heads": r["n_candidate"],
                            "n_reference_heads": r["n_reference"],
                            "cosine": by_rule["cosine"],
                            "n_scored": by_rule["n_scored"],
                        }
                    )
    return pl.DataFrame(rows, infer_schema_length=None).sort(
        ["task", "model", "seed", "head_kind", "scoring_mode", "set_rule", "condition"]
    )


def correlation_rows(table: pl.DataFrame, cfg: CorrelationSettings) -> pl.DataFrame:
    """Recall vs F1 across conditions, per task x model x seed x head kind x mode x set rule: one row per
    statistic (Spearman, Pearson, Kendall), with whether its permutation p is exact or Monte Carlo.

    The reference (real-data) condition is left out: its recall is 1 by construction. Real (limited)
    stays in: it is a training set like the synthetic ones, only real."""
    rows = []
    pool = table.filter(~pl.col("is_reference"))
    if not cfg.include_baseline:
        pool = pool.filter(pl.col("data") != conditions.NONE)
    groups = ["task", "model", "seed", "head_kind", "scoring_mode", "set_rule"]
    for key, part in pool.group_by(groups, maintain_order=True):
        for x_name in ("recall", "cosine"):
            res = correlate(
                part[x_name].to_list(),
                part["f1"].to_list(),
                n_bootstrap=cfg.n_bootstrap,
                n_permutations=cfg.n_permutations,
                confidence=cfg.confidence,
                seed=cfg.seed,
            )
            for method in STATISTICS:
                m = res[method]
                rows.append(
                    {
                        **dict(zip(groups, key)),
                        "x": x_name,
                        "y": "f1",
                        "method": method,
                        "n": res["n"],
                        "estimate": m["estimate"],
                        "ci_low": m["ci_low"],
                        "ci_high": m["ci_high"],
                        "confidence": cfg.confidence,
                        "p_permutation": m["p_permutation"],
                        "p_method": res["p_method"],
                        "n_permutations": res["n_permutations"],
                        "p_analytic": m["p_analytic"],
                        "conditions": ",".join(part["condition"].to_list()),
                        "caveat": weak_evidence_note(res["n"]),
                    }
                )
    return pl.DataFrame(rows)


def read_json(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]


def headline(table: pl.DataFrame) -> pl.DataFrame:
    """What the aggregate job prints: F1 beside teacher-forced threshold recall, per condition."""
    return table.filter((pl.col("scoring_mode") == "teacher_forced") & (pl.col("set_rule") == "threshold")).select(
        "task", "head_kind", "condition", "seed", "f1", "recall", "cosine"
    )
