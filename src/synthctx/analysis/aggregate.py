"""One table of every condition: real-task F1 beside head recall against the real-data model (polars), and
the tables built from it and from the intervention files: means over seeds, per-seed and pooled
correlations, leave-one-out prediction, knockout, patching, recall by training step, heads by layer."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from synthctx.analysis.correlation import (
    STATISTICS,
    correlate,
    correlate_pooled,
    correlate_stratified,
    mean_ci,
    percentile_ci,
    weak_evidence_note,
)
from synthctx.analysis.prediction import leave_one_out
from synthctx.plan import conditions
from synthctx.plan.settings import CorrelationSettings

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
                            **{k: float(s[k]) if s.get(k) is not None else None for k in ("f1_ci_low", "f1_ci_high")},
                        }
                    )
    return pl.DataFrame(rows, infer_schema_length=None).sort(
        ["task", "model", "seed", "head_kind", "scoring_mode", "set_rule", "condition"]
    )


def _correlation_row(key: dict[str, Any], x_name: str, method: str, res: dict[str, Any], cfg, labels) -> dict:
    m = res[method]
    return {
        **key,
        "x": x_name,
        "y": "f1",
        "method": method,
        "n": res["n"],
        "n_seeds": res.get("n_seeds", 1),
        "n_conditions": res.get("n_conditions", res["n"]),
        "estimate": m["estimate"],
        "ci_low": m["ci_low"],
        "ci_high": m["ci_high"],
        "confidence": cfg.confidence,
        "p_permutation": m["p_permutation"],
        "p_method": res["p_method"],
        "n_permutations": res["n_permutations"],
        "p_analytic": m["p_analytic"],
        "conditions": ",".join(labels),
        "caveat": weak_evidence_note(res.get("n_conditions", res["n"])),
    }


def _correlation_pool(table: pl.DataFrame, include_baseline: bool) -> pl.DataFrame:
    """The conditions a correlation runs over: not the reference (its recall is 1 by construction); not the
    baseline unless asked. Real (limited) stays in: it is a training set like the synthetic ones, only real."""
    pool = table.filter(~pl.col("is_reference"))
    if not include_baseline:
        pool = pool.filter(pl.col("data") != conditions.NONE)
    return pool


CORRELATION_GROUPS = ["task", "model", "seed", "head_kind", "scoring_mode", "set_rule"]


def _settings(cfg: CorrelationSettings) -> dict[str, Any]:
    return {
        "n_bootstrap": cfg.n_bootstrap,
        "n_permutations": cfg.n_permutations,
        "confidence": cfg.confidence,
        "seed": cfg.seed,
    }


def _marks(test: str, include: bool, cfg: CorrelationSettings) -> dict[str, Any]:
    """Which test a row is and whether it counts the baseline; `primary` marks the configured choice
    (`correlation.include_baseline`), the other choice is reported beside it."""
    return {"test": test, "baseline": "included" if include else "excluded", "primary": include == cfg.include_baseline}


def correlation_rows(table: pl.DataFrame, cfg: CorrelationSettings) -> pl.DataFrame:
    """Recall (and cosine) vs F1 across conditions, one row per statistic (Spearman, Pearson, Kendall), with
    how its permutation p was computed (`p_method`). `test` says which:

    - "per_seed": per task x model x seed x head kind x mode x set rule (`correlate`, all n! pairings);
    - "pooled" (seed "pooled"): the same groups pooled over seeds (`correlate_pooled`: one permutation of the
      conditions applied in every seed, bootstrap over whole conditions, p_analytic NaN);
    - "task_stratified" (task "all", seed "pooled"): per model x head kind x mode x set rule, the mean over
      tasks of each task's pooled statistic, conditions permuted within each task (`correlate_stratified`).

    Per-seed rows use `cfg.include_baseline`; pooled and stratified rows come twice, with the baseline
    counted and not (`baseline`), `primary` true on the configured choice. `seed` is a string so one column
    holds "0", "1", ... and "pooled"; the caveat counts conditions, not condition x seed pairs. The reference
    (real-data) condition is left out: its recall is 1 by construction."""
    rows = []
    pool = _correlation_pool(table, cfg.include_baseline)
    marks = _marks("per_seed", cfg.include_baseline, cfg)
    for key, part in pool.group_by(CORRELATION_GROUPS, maintain_order=True):
        named = {**dict(zip(CORRELATION_GROUPS, key)), "seed": str(key[2])}
        for x_name in ("recall", "cosine"):
            res = correlate(part[x_name].to_list(), part["f1"].to_list(), **_settings(cfg))
            for method in STATISTICS:
                rows.append(_correlation_row(named, x_name, method, res, cfg, part["condition"].to_list()) | marks)
    for include in (cfg.include_baseline, not cfg.include_baseline):
        rows += _pooled_rows(_correlation_pool(table, include), cfg, _marks("pooled", include, cfg))
        rows += _stratified_rows(_correlation_pool(table, include), cfg, _marks("task_stratified", include, cfg))
    return pl.DataFrame(rows, infer_schema_length=None)


def _pooled_rows(pool: pl.DataFrame, cfg: CorrelationSettings, marks: dict[str, Any]) -> list[dict[str, Any]]:
    """Per task x model x head kind x mode x set rule, the correlation pooled over seeds."""
    rows = []
    pooled = ["task", "model", "head_kind", "scoring_mode", "set_rule"]
    for key, part in pool.group_by(pooled, maintain_order=True):
        named = {**dict(zip(pooled, key)), "seed": "pooled"}
        named = {g: named[g] for g in CORRELATION_GROUPS}
        labels = list(dict.fromkeys(part["condition"].to_list()))
        for x_name in ("recall", "cosine"):
            res = correlate_pooled(
                part[x_name].to_list(),
                part["f1"].to_list(),
                seeds=part["seed"].to_list(),
                conditions=part["data"].to_list(),
                **_settings(cfg),
            )
            for method in STATISTICS:
                rows.append(_correlation_row(named, x_name, method, res, cfg, labels) | marks)
    return rows


def _stratified_rows(pool: pl.DataFrame, cfg: CorrelationSettings, marks: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model x head kind x mode x set rule, the task-stratified pooled correlation (task "all")."""
    rows = []
    groups = ["model", "head_kind", "scoring_mode", "set_rule"]
    for key, part in pool.sort("task").group_by(groups, maintain_order=True):
        named = {**dict(zip(groups, key)), "task": "all", "seed": "pooled"}
        named = {g: named[g] for g in CORRELATION_GROUPS}
        tasks = part.partition_by("task", maintain_order=True)
        labels = [f"{t['task'][0]}:{c}" for t in tasks for c in dict.fromkeys(t["condition"].to_list())]
        for x_name in ("recall", "cosine"):
            blocks = [
                {
                    "x": t[x_name].to_list(),
                    "y": t["f1"].to_list(),
                    "seeds": t["seed"].to_list(),
                    "conditions": t["data"].to_list(),
                }
                for t in tasks
            ]
            res = correlate_stratified(blocks, **_settings(cfg))
            for method in STATISTICS:
                row = _correlation_row(named, x_name, method, res, cfg, labels) | marks
                rows.append(row | {"n_tasks": res["n_tasks"], "tasks_left_out": res["tasks_left_out"]})
    return rows


def _seed_interval(values: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """Mean over seeds and its Student-t interval (mean +- t_{n-1} * sd / sqrt(n)): with 2-3 seeds a
    bootstrap could not reach past the observed values; t widens the interval for the few degrees of
    freedom. NaN interval with one seed; a NaN value makes everything NaN."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if arr.size < 2 or not np.isfinite(arr).all():
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, mean - half, mean + half


MEANS_KEYS = ["task", "model", "data", "condition", "head_kind", "scoring_mode", "set_rule"]


def condition_means(table: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """F1 and recall per condition x head kind x mode x set rule, averaged over seeds, with the Student-t
    interval over seeds (`_seed_interval`; NaN with one seed)."""
    rows = []
    for key, part in table.group_by(MEANS_KEYS, maintain_order=True):
        row: dict[str, Any] = {**dict(zip(MEANS_KEYS, key)), "n_seeds": part["seed"].n_unique()}
        for name in ("f1", "recall"):
            values = [math.nan if v is None else v for v in part[name].to_list()]
            row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _seed_interval(values, confidence)
        rows.append(row)
    schema = {k: pl.String for k in MEANS_KEYS} | {"n_seeds": pl.Int64}
    for name in ("f1", "recall"):
        schema |= {f"{name}_mean": pl.Float64, f"{name}_ci_low": pl.Float64, f"{name}_ci_high": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort(MEANS_KEYS)


LEAVE_ONE_OUT_SCHEMA = {
    "task": pl.String,
    "model": pl.String,
    "head_kind": pl.String,
    "scoring_mode": pl.String,
    "set_rule": pl.String,
    "held_out": pl.String,
    "condition": pl.String,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "f1_predicted": pl.Float64,
    "abs_error": pl.Float64,
    "rank_actual": pl.Int64,
    "rank_predicted": pl.Int64,
    "rank_right": pl.Boolean,
    "n_fit": pl.Int64,
}


def leave_one_out_rows(table: pl.DataFrame, *, include_baseline: bool) -> pl.DataFrame:
    """Leave-one-out prediction of F1 from recall (`prediction.leave_one_out`) per task x model x head kind x
    mode x set rule, over the same conditions as `correlation_rows`, each condition's recall and F1 first
    averaged over its seeds (a NaN in any seed makes the mean NaN, and leave_one_out drops the condition).
    `held_out` is the condition's training data name, `condition` its label."""
    pool = _correlation_pool(table, include_baseline)
    groups = ["task", "model", "head_kind", "scoring_mode", "set_rule"]
    means = pool.group_by([*groups, "data", "condition"], maintain_order=True).agg(
        pl.col("recall").mean(), pl.col("f1").mean()
    )
    rows = []
    for key, part in means.group_by(groups, maintain_order=True):
        label = dict(zip(part["data"].to_list(), part["condition"].to_list()))
        result = leave_one_out(part["recall"].to_list(), part["f1"].to_list(), part["data"].to_list())
        for r in result["rows"]:
            rows.append(
                {
                    **dict(zip(groups, key)),
                    "held_out": r["label"],
                    "condition": label[r["label"]],
                    **{
                        k: r[k]
                        for k in ("recall", "f1", "f1_predicted", "abs_error")
                        + ("rank_actual", "rank_predicted", "rank_right", "n_fit")
                    },
                }
            )
    return pl.DataFrame(rows, schema=LEAVE_ONE_OUT_SCHEMA).sort(groups + ["rank_actual", "held_out"])


def _condition_columns(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": condition["task"],
        "data": condition["data"],
        "model": condition["model"],
        "seed": condition["seed"],
        "condition": conditions.parse(condition["data"]).label,
    }


CONDITION_SCHEMA = {"task": pl.String, "data": pl.String, "model": pl.String, "seed": pl.Int64, "condition": pl.String}

# Per-example evaluation values: the task metrics, and the gold answer's log-probability where the evaluation
# records one.
EXAMPLE_METRICS = (*METRICS, "gold_logprob")
EXAMPLE_SCHEMA = (
    CONDITION_SCHEMA | {"example": pl.Int64, "example_id": pl.String} | dict.fromkeys(EXAMPLE_METRICS, pl.Float64)
)


def example_rows(summaries: list[dict[str, Any]], predictions: list[list[dict[str, Any]]]) -> pl.DataFrame:
    """One row per condition x test example, from each evaluation's predictions.jsonl (`predictions[i]` is the
    file beside `summaries[i]`, which names the condition): each metric of EXAMPLE_METRICS the example has
    (else empty). Every condition of a task and model answers the same test records, so claim (a) pairs
    conditions by example_id."""
    if len(summaries) != len(predictions):
        raise ValueError(f"{len(summaries)} evaluation summaries but {len(predictions)} prediction files")
    rows = []
    for summary, preds in zip(summaries, predictions):
        common = _condition_columns(summary["condition"])
        for i, pred in enumerate(preds):
            metrics = pred.get("metrics", {})
            values = {k: float(metrics[k]) if metrics.get(k) is not None else None for k in EXAMPLE_METRICS}
            rows.append({**common, "example": i, "example_id": str(pred["id"]), **values})
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA).sort(["task", "model", "data", "seed", "example"])


def read_jsonl_files(paths: list[Path]) -> list[list[dict[str, Any]]]:
    """Each JSON-lines file as a list of its records (blank lines skipped)."""
    return [
        [json.loads(line) for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()] for p in paths
    ]


KNOCKOUT_SCHEMA = CONDITION_SCHEMA | {
    "semantics": pl.String,
    "head_kind": pl.String,
    "control": pl.String,
    "k": pl.Int64,
    "draw": pl.Int64,
    "n_heads": pl.Int64,
    "n_examples": pl.Int64,
    "f1": pl.Float64,
    "f1_ci_low": pl.Float64,
    "f1_ci_high": pl.Float64,
    "gold_logprob": pl.Float64,
    "gold_logprob_ci_low": pl.Float64,
    "gold_logprob_ci_high": pl.Float64,
    "delta_f1": pl.Float64,
    "delta_gold_logprob": pl.Float64,
    "delta_f1_ci_low": pl.Float64,
    "delta_f1_ci_high": pl.Float64,
    "delta_gold_logprob_ci_low": pl.Float64,
    "delta_gold_logprob_ci_high": pl.Float64,
}


def _paired_delta_ci(row: np.ndarray, base: np.ndarray, **ci: Any) -> tuple[float, float]:
    """Paired percentile bootstrap interval of mean(row - base) over examples: `mean_ci` of the per-example
    differences, so each resample draws one set of example indices and applies it to both runs (the mean of
    the resampled differences is the resampled row mean minus the resampled base mean). NaN, NaN under
    `mean_ci`'s rules (fewer than 2 examples, a non-finite difference); low = high = the difference when it is
    the same for every example (0, 0 for a row identical to the base)."""
    if row.size != base.size:
        raise ValueError(f"knockout row has {row.size} examples, its control 'none' row {base.size}")
    return mean_ci(row - base, **ci)


def knockout_rows(
    knockouts: list[dict[str, Any]], n_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pl.DataFrame:
    """One row per knockout run (condition x head kind x control x k x draw): mean F1 and gold log-probability
    over the examples with percentile bootstrap intervals (`mean_ci`, deterministic for `seed`), and the
    change against the same condition's no-knockout row (control "none"). n_heads is the number of heads
    actually knocked out (a top list can be shorter than the asked k).

    delta_*_ci_low/high: paired percentile bootstrap interval of the change, mean over examples of
    (row_i - none_i), resampling example indices jointly for the row and the "none" row of the same knockout
    file (same examples in the same order; `_paired_delta_ci`, same `seed`). The "none" row itself gets
    0, 0 (its differences are all zero), NaN, NaN only where every interval is undefined (fewer than 2
    examples, or a non-finite value)."""
    rows = []
    for ko in knockouts:
        base = [r for r in ko["rows"] if r["control"] == "none"]
        if len(base) != 1:
            raise ValueError(f"knockout of {ko['condition']} has {len(base)} control 'none' rows, expected 1")
        base_f1_all = np.asarray(base[0]["f1"], dtype=float)
        base_lp_all = np.asarray(base[0]["gold_logprob"], dtype=float)
        base_f1, base_lp = float(np.mean(base_f1_all)), float(np.mean(base_lp_all))
        for r in ko["rows"]:
            f1, lp = np.asarray(r["f1"], dtype=float), np.asarray(r["gold_logprob"], dtype=float)
            if f1.size != lp.size:
                raise ValueError(f"knockout row {r['control']} k={r['k']}: f1 and gold_logprob differ in length")
            ci = {"n_resamples": n_bootstrap, "confidence": confidence, "seed": seed}
            f1_low, f1_high = mean_ci(f1, **ci)
            lp_low, lp_high = mean_ci(lp, **ci)
            df1_low, df1_high = _paired_delta_ci(f1, base_f1_all, **ci)
            dlp_low, dlp_high = _paired_delta_ci(lp, base_lp_all, **ci)
            rows.append(
                {
                    **_condition_columns(ko["condition"]),
                    "semantics": ko["semantics"],
                    "head_kind": r["head_kind"],
                    "control": r["control"],
                    "k": r["k"],
                    "draw": r["draw"],
                    "n_heads": len(r["heads"]),
                    "n_examples": int(f1.size),
                    "f1": float(f1.mean()),
                    "f1_ci_low": f1_low,
                    "f1_ci_high": f1_high,
                    "gold_logprob": float(lp.mean()),
                    "gold_logprob_ci_low": lp_low,
                    "gold_logprob_ci_high": lp_high,
                    "delta_f1": float(f1.mean()) - base_f1,
                    "delta_gold_logprob": float(lp.mean()) - base_lp,
                    "delta_f1_ci_low": df1_low,
                    "delta_f1_ci_high": df1_high,
                    "delta_gold_logprob_ci_low": dlp_low,
                    "delta_gold_logprob_ci_high": dlp_high,
                }
            )
    return pl.DataFrame(rows, schema=KNOCKOUT_SCHEMA)


KNOCKOUT_EXAMPLE_SCHEMA = CONDITION_SCHEMA | {
    "semantics": pl.String,
    "scope": pl.String,
    "head_kind": pl.String,
    "control": pl.String,
    "k": pl.Int64,
    "k_spec": pl.String,
    "k_fraction": pl.Float64,
    "draw": pl.Int64,
    "example": pl.Int64,
    "example_id": pl.String,
    "f1": pl.Float64,
    "gold_logprob": pl.Float64,
}


def _optional(row: dict[str, Any], ko: dict[str, Any], key: str) -> Any:
    """A field a knockout row (else its file) may carry, None when neither has it (older files)."""
    return row.get(key, ko.get(key))


def knockout_example_rows(knockouts: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per knockout configuration x example: the per-example F1 and gold log-probability the claims
    pair (each configuration of a file saw the same examples, in the same order). `scope`, `k_spec` and
    `k_fraction` are copied where the knockout file has them (row or file level), else left empty."""
    rows = []
    for ko in knockouts:
        ids = ko.get("example_ids") or []
        for r in ko["rows"]:
            k_spec, k_fraction = _optional(r, ko, "k_spec"), _optional(r, ko, "k_fraction")
            common = {
                **_condition_columns(ko["condition"]),
                "semantics": ko.get("semantics"),
                "scope": _optional(r, ko, "scope"),
                "head_kind": r["head_kind"],
                "control": r["control"],
                "k": r["k"],
                "k_spec": None if k_spec is None else str(k_spec),
                "k_fraction": None if k_fraction is None else float(k_fraction),
                "draw": r["draw"],
            }
            for i, (f1, lp) in enumerate(zip(r["f1"], r["gold_logprob"], strict=True)):
                example_id = str(ids[i]) if i < len(ids) else str(i)
                rows.append({**common, "example": i, "example_id": example_id, "f1": f1, "gold_logprob": lp})
    return pl.DataFrame(rows, schema=KNOCKOUT_EXAMPLE_SCHEMA)


PATCHING_EXAMPLE_SCHEMA = CONDITION_SCHEMA | {
    "set_rule": pl.String,
    "head_kind": pl.String,
    "head_set": pl.String,
    "draw": pl.Int64,
    "n_heads": pl.Int64,
    "example": pl.Int64,
    "example_id": pl.String,
    "f1": pl.Float64,
    "gold_logprob": pl.Float64,
    "synthetic_f1": pl.Float64,
    "synthetic_gold_logprob": pl.Float64,
    "real_f1": pl.Float64,
    "real_gold_logprob": pl.Float64,
}


def patching_example_rows(patchings: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per patching configuration x example: the patched model's F1 and gold log-probability beside
    the unpatched synthetic and the real model's on the same example, for the claims' paired tests."""
    rows = []
    for pa in patchings:
        ids, syn, real = pa.get("example_ids") or [], pa["synthetic"], pa["real"]
        for r in pa["rows"]:
            common = {
                **_condition_columns(pa["condition"]),
                "set_rule": pa["set_rule"],
                "head_kind": r["head_kind"],
                "head_set": r["head_set"],
                "draw": r["draw"],
                "n_heads": len(r["heads"]),
            }
            for i in range(len(r["f1"])):
                rows.append(
                    {
                        **common,
                        "example": i,
                        "example_id": str(ids[i]) if i < len(ids) else str(i),
                        "f1": r["f1"][i],
                        "gold_logprob": r["gold_logprob"][i],
                        "synthetic_f1": syn["f1"][i],
                        "synthetic_gold_logprob": syn["gold_logprob"][i],
                        "real_f1": real["f1"][i],
                        "real_gold_logprob": real["gold_logprob"][i],
                    }
                )
    return pl.DataFrame(rows, schema=PATCHING_EXAMPLE_SCHEMA)


def _recovery(patched: np.ndarray, synthetic: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(patched - synthetic) / (real - synthetic) along the last axis of example means; NaN where real ==
    synthetic (nothing to recover)."""
    p, s, r = patched.mean(axis=-1), synthetic.mean(axis=-1), real.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r != s, (p - s) / (r - s), np.nan)


def recovery_ci(
    patched: Sequence[float],
    synthetic: Sequence[float],
    real: Sequence[float],
    *,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float]:
    """Recovery of example means and its percentile bootstrap interval. Each resample draws example indices
    once and applies them to all three arrays (the three runs saw the same examples, so their errors are
    paired). Resamples where real == synthetic are ignored; NaN interval when the overall recovery is NaN or
    there are fewer than 2 examples."""
    arrays = [np.asarray(a, dtype=float) for a in (patched, synthetic, real)]
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"patched, synthetic and real differ in length: {[a.size for a in arrays]}")
    estimate = float(_recovery(*arrays))
    if arrays[0].size < 2 or not math.isfinite(estimate):
        return estimate, math.nan, math.nan
    index = np.random.default_rng(seed).integers(0, arrays[0].size, size=(n_bootstrap, arrays[0].size))
    distribution = _recovery(*(a[index] for a in arrays))
    low, high, _ = percentile_ci(distribution, confidence)
    return estimate, low, high


PATCHING_SCHEMA = CONDITION_SCHEMA | {
    "set_rule": pl.String,
    "head_kind": pl.String,
    "head_set": pl.String,
    "draw": pl.Int64,
    "n_heads": pl.Int64,
    "n_examples": pl.Int64,
    "f1": pl.Float64,
    "gold_logprob": pl.Float64,
    "synthetic_f1": pl.Float64,
    "real_f1": pl.Float64,
    "synthetic_gold_logprob": pl.Float64,
    "real_gold_logprob": pl.Float64,
    "f1_recovery": pl.Float64,
    "f1_recovery_ci_low": pl.Float64,
    "f1_recovery_ci_high": pl.Float64,
    "logprob_recovery": pl.Float64,
    "logprob_recovery_ci_low": pl.Float64,
    "logprob_recovery_ci_high": pl.Float64,
}


def patching_rows(
    patchings: list[dict[str, Any]], n_bootstrap: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pl.DataFrame:
    """One row per patching run (condition x head kind x head set x draw): patched, synthetic and real means of
    F1 and gold log-probability, and the recovery (patched - synthetic) / (real - synthetic) of each with its
    joint bootstrap interval over examples (`recovery_ci`, deterministic for `seed`)."""
    rows = []
    for pa in patchings:
        syn, real = pa["synthetic"], pa["real"]
        for r in pa["rows"]:
            ci = {"n_bootstrap": n_bootstrap, "confidence": confidence, "seed": seed}
            f1, f1_low, f1_high = recovery_ci(r["f1"], syn["f1"], real["f1"], **ci)
            lp, lp_low, lp_high = recovery_ci(r["gold_logprob"], syn["gold_logprob"], real["gold_logprob"], **ci)
            rows.append(
                {
                    **_condition_columns(pa["condition"]),
                    "set_rule": pa["set_rule"],
                    "head_kind": r["head_kind"],
                    "head_set": r["head_set"],
                    "draw": r["draw"],
                    "n_heads": len(r["heads"]),
                    "n_examples": len(r["f1"]),
                    "f1": float(np.mean(r["f1"])),
                    "gold_logprob": float(np.mean(r["gold_logprob"])),
                    "synthetic_f1": float(np.mean(syn["f1"])),
                    "real_f1": float(np.mean(real["f1"])),
                    "synthetic_gold_logprob": float(np.mean(syn["gold_logprob"])),
                    "real_gold_logprob": float(np.mean(real["gold_logprob"])),
                    "f1_recovery": f1,
                    "f1_recovery_ci_low": f1_low,
                    "f1_recovery_ci_high": f1_high,
                    "logprob_recovery": lp,
                    "logprob_recovery_ci_low": lp_low,
                    "logprob_recovery_ci_high": lp_high,
                }
            )
    return pl.DataFrame(rows, schema=PATCHING_SCHEMA)


RECALL_BY_STEP_SCHEMA = CONDITION_SCHEMA | {
    "head_kind": pl.String,
    "set_rule": pl.String,
    "step": pl.Int64,
    "recall": pl.Float64,
    "n_heads": pl.Int64,
}


def recall_by_step_rows(comparisons: list[dict[str, Any]]) -> pl.DataFrame:
    """Recall of each training snapshot's teacher-forced heads against the reference's final heads, one row
    per condition x head kind x set rule x step (none for the baseline, which has no training)."""
    rows = []
    for comp in comparisons:
        for entry in comp.get("by_step", []):
            for kind, by_rule in entry["head_kinds"].items():
                if not by_rule:
                    continue
                for rule in ("threshold", "top_k"):
                    if rule in by_rule:
                        rows.append(
                            {
                                **_condition_columns(comp["condition"]),
                                "head_kind": kind,
                                "set_rule": rule,
                                "step": entry["step"],
                                "recall": by_rule[rule]["recall"],
                                "n_heads": by_rule[rule]["n_candidate"],
                            }
                        )
    return pl.DataFrame(rows, schema=RECALL_BY_STEP_SCHEMA).sort(
        ["task", "model", "seed", "head_kind", "set_rule", "condition", "step"]
    )


HEAD_LAYER_SCHEMA = CONDITION_SCHEMA | {
    "head_kind": pl.String,
    "scoring_mode": pl.String,
    "set_rule": pl.String,
    "layer": pl.Int64,
    "n_heads": pl.Int64,
}


def head_layer_rows(comparisons: list[dict[str, Any]]) -> pl.DataFrame:
    """How many of a condition's selected heads (candidate_heads) sit in each layer, per head kind x mode x
    set rule; every layer 0..n_layers-1 gets a row (0 when empty) when the comparison says n_layers, else
    only the layers that hold heads."""
    rows = []
    for comp in comparisons:
        n_layers = comp.get("n_layers")
        for kind, by_mode in comp["head_kinds"].items():
            for mode, by_rule in by_mode["modes"].items():
                for rule in ("threshold", "top_k"):
                    counts = Counter(int(h[0]) for h in by_rule[rule]["candidate_heads"])
                    layers = range(n_layers) if n_layers is not None else sorted(counts)
                    if n_layers is not None and any(not 0 <= layer < n_layers for layer in counts):
                        raise ValueError(f"{comp['condition']}: a {kind} head lies outside layers 0..{n_layers - 1}")
                    rows.extend(
                        {
                            **_condition_columns(comp["condition"]),
                            "head_kind": kind,
                            "scoring_mode": mode,
                            "set_rule": rule,
                            "layer": layer,
                            "n_heads": counts.get(layer, 0),
                        }
                        for layer in layers
                    )
    return pl.DataFrame(rows, schema=HEAD_LAYER_SCHEMA)


def read_csv(path: Path) -> pl.DataFrame:
    """A table this workflow wrote, with every row looked at for its column types (a `seed` column holds
    "pooled" only in its last rows; an all-empty column is read as text)."""
    return pl.read_csv(path, infer_schema_length=None)


def read_json(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]


def headline(table: pl.DataFrame) -> pl.DataFrame:
    """What the aggregate job prints: F1 beside teacher-forced threshold recall, per condition."""
    return table.filter((pl.col("scoring_mode") == "teacher_forced") & (pl.col("set_rule") == "threshold")).select(
        "task", "head_kind", "condition", "seed", "f1", "recall", "cosine"
    )
