"""The long table and the correlations keep head kinds apart and treat real (limited) as a condition."""

from __future__ import annotations

import math

import polars as pl
import pytest

from synthctx.analysis.aggregate import condition_rows, correlation_rows
from synthctx.plan import conditions
from synthctx.plan.settings import CorrelationSettings

CFG = {"n_bootstrap": 200, "n_permutations": 200, "confidence": 0.9, "seed": 0, "include_baseline": True}
CONDITIONS = ["real", "real-limited", "high-high", "low-low", "symbolic-symbolic", "none"]


def _cond(data):
    return {"task": "summhay", "data": data, "model": "m", "seed": 0}


def _comparison(data, recall):
    rule = {"recall": recall, "precision": 0.5, "jaccard": 0.3, "n_candidate": 4, "n_reference": 4}
    mode = {"threshold": rule, "top_k": rule, "cosine": 0.9, "n_scored": 5}
    return {
        "condition": _cond(data),
        "is_reference": data == "real",
        "head_kinds": {
            "retrieval": {"modes": {"teacher_forced": mode}},
            "insight": {
                "modes": {
                    "teacher_forced": {
                        **mode,
                        "threshold": {**rule, "recall": 1 - recall},
                        "top_k": {**rule, "recall": 1 - recall},
                    }
                }
            },
        },
    }


def test_rows_per_head_kind_with_the_task_metrics():
    f1s = [0.9, 0.7, 0.5, 0.4, 0.2, 0.0]
    summaries = [
        {
            "condition": _cond(d),
            "f1": f,
            "citation_precision": f,
            "citation_recall": f,
            "metric": "citation F1",
            "n_examples": 20,
        }
        for d, f in zip(CONDITIONS, f1s)
    ]
    recalls = [1.0, 0.8, 0.6, 0.5, 0.3, 0.1]
    table = condition_rows(summaries, [_comparison(d, r) for d, r in zip(CONDITIONS, recalls)])
    assert table.height == 6 * 2 * 2
    assert set(table["head_kind"]) == {"retrieval", "insight"}
    assert table["substring_em"].null_count() == table.height, "SummHay has no substring EM"
    assert "real (limited)" in set(table["condition"])
    both = correlation_rows(table, CorrelationSettings(**CFG))
    # per-seed rows (seed "0") and the same groups pooled over seeds (seed "pooled"; here one seed only)
    assert set(both["seed"]) == {"0", "pooled"}
    corr, pooled = both.filter(pl.col("seed") == "0"), both.filter(pl.col("seed") == "pooled")
    assert pooled.height == corr.height and set(pooled["p_method"]) == {"exact_within_seed"}
    # one seed: the within-seed orderings are all 5! pairings, so estimate and exact p are the per-seed ones
    keys = ["head_kind", "scoring_mode", "set_rule", "x", "method"]
    joined = corr.join(pooled, on=keys, suffix="_pooled").filter(pl.col("x") == "recall")  # cosine: constant
    assert joined.height == 12 and not joined["estimate_pooled"].is_nan().any()
    assert (joined["estimate"] - joined["estimate_pooled"]).abs().max() < 1e-12
    assert (joined["p_permutation"] - joined["p_permutation_pooled"]).abs().max() < 1e-12
    rho = corr.filter(
        (pl.col("x") == "recall") & (pl.col("method") == "spearman") & (pl.col("set_rule") == "threshold")
    )
    by_kind = {r["head_kind"]: r for r in rho.iter_rows(named=True)}
    assert by_kind["retrieval"]["n"] == 5 and "real (limited)" in by_kind["retrieval"]["conditions"]
    assert "real," not in by_kind["retrieval"]["conditions"] + ",", "the reference is excluded"
    assert math.isclose(by_kind["retrieval"]["estimate"], 1.0) and math.isclose(by_kind["insight"]["estimate"], -1.0)
    # one row per statistic: 2 head kinds x 1 mode x 2 set rules x 2 x-variables x 3 statistics
    assert corr.height == 2 * 2 * 2 * 3 and set(corr["method"]) == {"spearman", "pearson", "kendall"}
    # 5 points: exact p over 5! = 120 pairings for every row
    assert set(corr["p_method"]) == {"exact"} and set(corr["n_permutations"]) == {120}
    tau = corr.filter((pl.col("x") == "recall") & (pl.col("method") == "kendall") & (pl.col("set_rule") == "top_k"))
    by_kind = {r["head_kind"]: r for r in tau.iter_rows(named=True)}
    # recall and F1 in the same order (retrieval) or reversed (insight): tau = +-1, and only the identity
    # pairing (or its reverse) is as extreme: p = 2 / 120
    assert math.isclose(by_kind["retrieval"]["estimate"], 1.0) and math.isclose(by_kind["insight"]["estimate"], -1.0)
    assert math.isclose(by_kind["retrieval"]["p_permutation"], 2 / 120)


def test_condition_labels_and_training_data_names():
    assert [conditions.parse(d).label for d in CONDITIONS] == [
        "real",
        "real (limited)",
        "high/high",
        "low/low",
        "symbolic",
        "baseline",
    ]
    assert conditions.parse("high-low").label == "high/low" and conditions.parse("symbolic-low").label == "symbolic/low"
    assert (conditions.parse("low-high").needle, conditions.parse("low-high").haystack) == ("low", "high")
    for bad in ("limited", "high-medium", "high", "base"):
        with pytest.raises(ValueError, match="unknown training data"):
            conditions.parse(bad)


def test_training_data_of_a_task_follow_its_config_block():
    block = {
        "real": True,
        "real_limited": False,
        "baseline": True,
        "variants": [["high", "low"], ["symbolic", "symbolic"]],
    }
    assert conditions.training_data(block) == ["real", "high-low", "symbolic-symbolic", "none"]
