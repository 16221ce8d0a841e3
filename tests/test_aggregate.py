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
    corr = both.filter(pl.col("seed") == "0")
    pooled = both.filter((pl.col("test") == "pooled") & pl.col("primary"))
    assert pooled.height == corr.height and set(pooled["p_method"]) == {"exact_condition"}
    assert set(corr["test"]) == {"per_seed"} and set(corr["baseline"]) == {"included"} and all(corr["primary"])
    # the other baseline choice beside it, marked; the task-stratified rows (one task here) likewise
    other = both.filter((pl.col("test") == "pooled") & ~pl.col("primary"))
    assert other.height == pooled.height and set(other["baseline"]) == {"excluded"}
    assert set(other.filter(pl.col("x") == "recall")["n"]) == {4}
    strat = both.filter(pl.col("test") == "task_stratified")
    assert set(strat["task"]) == {"all"} and strat.height == 2 * pooled.height
    # cosine is constant here: the one task is left out of the stratified test
    assert set(strat.filter(pl.col("x") == "recall")["n_tasks"]) == {1} and set(strat["tasks_left_out"]) == {0, 1}
    # one seed: the condition orderings are all 5! pairings, so estimate and exact p are the per-seed ones
    # for Spearman and Kendall (their null is symmetric: the reversed ordering flips the sign, so |T| >= |t|
    # and scipy's 2 x smaller tail agree); Pearson's is not: F1 = recall - 0.1 exactly, only the identity
    # reaches |r| = 1 (the recalls 0.8, 0.6, 0.5, 0.3, 0.1 are not evenly spaced), so p = 1/120 pooled
    keys = ["head_kind", "scoring_mode", "set_rule", "x", "method"]
    joined = corr.join(pooled, on=keys, suffix="_pooled").filter(pl.col("x") == "recall")  # cosine: constant
    assert joined.height == 12 and not joined["estimate_pooled"].is_nan().any()
    assert (joined["estimate"] - joined["estimate_pooled"]).abs().max() < 1e-12
    symmetric = joined.filter(pl.col("method") != "pearson")
    assert (symmetric["p_permutation"] - symmetric["p_permutation_pooled"]).abs().max() < 1e-12
    pearson = joined.filter((pl.col("method") == "pearson") & (pl.col("head_kind") == "retrieval"))
    assert set(pearson["p_permutation_pooled"].round(12)) == {round(1 / 120, 12)}
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


def test_example_rows_one_row_per_condition_and_test_example():
    from synthctx.analysis.aggregate import example_rows

    summaries = [{"condition": _cond(d)} for d in ("real", "high-high")]
    predictions = [
        [{"id": "q1", "metrics": {"f1": 1.0, "substring_em": 1.0}}, {"id": "q2", "metrics": {"f1": 0.25}}],
        [{"id": "q1", "metrics": {"f1": 0.0, "gold_logprob": -2.5}}, {"id": "q2", "metrics": {"f1": 0.5}}],
    ]
    rows = example_rows(summaries, predictions)
    assert rows.height == 4 and rows["example_id"].to_list() == ["q1", "q2", "q1", "q2"]
    assert rows.filter(pl.col("data") == "real")["f1"].to_list() == [1.0, 0.25]
    high = rows.filter(pl.col("data") == "high-high")
    assert high["condition"][0] == "high/high" and high["gold_logprob"].to_list() == [-2.5, None]
    assert rows["substring_em"].to_list() == [None, None, 1.0, None]  # sorted: high-high before real
    with pytest.raises(ValueError, match="prediction files"):
        example_rows(summaries, predictions[:1])
