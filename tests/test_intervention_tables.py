"""Knockout, patching, recall-by-step and heads-by-layer tables from hand-written JSON (formats of the
intervention and comparison files), and the per-run F1 interval in the condition table."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from synthctx.aggregate import (
    condition_rows,
    head_layer_rows,
    knockout_rows,
    patching_rows,
    recall_by_step_rows,
    recovery_ci,
)

pytestmark = pytest.mark.filterwarnings("error")

COND = {"task": "mdqa", "data": "high-low", "model": "m", "seed": 1}


def _scipy_mean_ci(values, n_resamples, confidence, seed):
    res = stats.bootstrap(
        (np.asarray(values, dtype=float),),
        np.mean,
        n_resamples=n_resamples,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def _knockout(condition, base_f1, top_f1):
    return {
        "condition": condition,
        "semantics": "uniform",
        "calibration": None,
        "ranked_by": "teacher_forced",
        "n_examples": 4,
        "example_ids": ["a", "b", "c", "d"],
        "metric": "f1",
        "dtype": "float32",
        "n_layers": 4,
        "n_heads": 2,
        "exclude_top": 2,
        "seed": 0,
        "rows": [
            {
                "head_kind": None,
                "control": "none",
                "k": 0,
                "draw": 0,
                "heads": [],
                "f1": base_f1,
                "gold_logprob": [-1.0, -2.0, -1.0, -4.0],
            },
            {
                "head_kind": "retrieval",
                "control": "top",
                "k": 3,  # only two heads scored above zero: len(heads) < k
                "draw": 0,
                "heads": [[0, 1], [2, 0]],
                "f1": top_f1,
                "gold_logprob": [-5.0, -6.0, -3.0, -6.0],
            },
            {
                "head_kind": "retrieval",
                "control": "random_matched",
                "k": 3,
                "draw": 1,
                "heads": [[0, 0], [2, 1], [3, 1]],
                "f1": [1.0, 1.0, 1.0, 1.0],
                "gold_logprob": [-1.0, -2.0, -1.0, -4.0],
            },
        ],
    }


def test_knockout_rows_means_intervals_and_deltas_against_no_knockout():
    other = {**COND, "data": "low-low", "seed": 0}
    table = knockout_rows(
        [_knockout(COND, [1.0, 0.5, 1.0, 0.5], [0.0, 0.5, 0.0, 0.5]), _knockout(other, [0.5] * 4, [0.0] * 4)],
        n_bootstrap=1000,
        confidence=0.9,
        seed=3,
    )
    assert table.columns == [
        "task",
        "data",
        "model",
        "seed",
        "condition",
        "semantics",
        "head_kind",
        "control",
        "k",
        "draw",
        "n_heads",
        "n_examples",
        "f1",
        "f1_ci_low",
        "f1_ci_high",
        "gold_logprob",
        "gold_logprob_ci_low",
        "gold_logprob_ci_high",
        "delta_f1",
        "delta_gold_logprob",
    ]
    assert table.height == 6
    rows = {(r["data"], r["control"]): r for r in table.iter_rows(named=True)}
    base, top, rand = rows[("high-low", "none")], rows[("high-low", "top")], rows[("high-low", "random_matched")]
    assert base["head_kind"] is None and base["delta_f1"] == 0.0 and base["n_heads"] == 0
    assert (base["f1"], base["gold_logprob"]) == (0.75, -2.0)
    assert (top["f1"], top["gold_logprob"]) == (0.25, -5.0)
    assert (top["delta_f1"], top["delta_gold_logprob"]) == (-0.5, -3.0)
    assert (top["k"], top["n_heads"], top["n_examples"], top["condition"]) == (3, 2, 4, "high/low")
    assert (base["f1_ci_low"], base["f1_ci_high"]) == pytest.approx(
        _scipy_mean_ci([1.0, 0.5, 1.0, 0.5], n_resamples=1000, confidence=0.9, seed=3)
    )
    assert base["f1_ci_low"] < 0.75 < base["f1_ci_high"]
    assert (rand["f1_ci_low"], rand["f1_ci_high"], rand["delta_f1"], rand["draw"]) == (1.0, 1.0, 0.25, 1)
    # each condition against its own no-knockout row
    low_top = rows[("low-low", "top")]
    assert (low_top["delta_f1"], low_top["seed"], low_top["condition"]) == (-0.5, 0, "low/low")
    again = knockout_rows([_knockout(COND, [1.0, 0.5, 1.0, 0.5], [0.0, 0.5, 0.0, 0.5])], 1000, 0.9, 3)
    assert again.row(0) == table.filter(pl.col("data") == "high-low").row(0), "deterministic for a seed"


def test_knockout_without_a_baseline_row_is_refused():
    ko = _knockout(COND, [1.0] * 4, [0.0] * 4)
    ko["rows"] = ko["rows"][1:]
    with pytest.raises(ValueError, match="control 'none'"):
        knockout_rows([ko])


def _patching(synthetic, real, rows, condition=COND):
    return {
        "condition": condition,
        "donor": {**condition, "data": "real"},
        "set_rule": "top_k",
        "ranked_by": "teacher_forced",
        "n_examples": len(synthetic["f1"]),
        "example_ids": [f"e{i}" for i in range(len(synthetic["f1"]))],
        "metric": "f1",
        "dtype": "float32",
        "synthetic": synthetic,
        "real": real,
        "rows": rows,
    }


SYN = {"f1": [0.0, 0.0, 1.0, 0.0, 0.5, 0.0], "gold_logprob": [-4.0, -4.0, -2.0, -6.0, -3.0, -5.0]}
REAL = {"f1": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0], "gold_logprob": [-1.0, -2.0, -2.0, -2.0, -1.0, -1.0]}
# halfway between synthetic and real on every example; log-prob sums: synthetic -24, real -9, patched -21
SHARED = {
    "head_kind": "retrieval",
    "head_set": "shared",
    "draw": 0,
    "heads": [[1, 0], [3, 1], [5, 2]],
    "f1": [0.5, 0.5, 1.0, 0.0, 0.75, 0.5],
    "gold_logprob": [-3.0, -2.0, -2.0, -6.0, -3.0, -5.0],
}


def test_patching_rows_recovery_of_means_with_joint_example_bootstrap():
    random_row = {**SHARED, "head_set": "random", "draw": 2, "f1": SYN["f1"], "gold_logprob": SYN["gold_logprob"]}
    table = patching_rows([_patching(SYN, REAL, [SHARED, random_row])], n_bootstrap=2000, confidence=0.95, seed=0)
    assert table.columns == [
        "task",
        "data",
        "model",
        "seed",
        "condition",
        "set_rule",
        "head_kind",
        "head_set",
        "draw",
        "n_heads",
        "n_examples",
        "f1",
        "gold_logprob",
        "synthetic_f1",
        "real_f1",
        "synthetic_gold_logprob",
        "real_gold_logprob",
        "f1_recovery",
        "f1_recovery_ci_low",
        "f1_recovery_ci_high",
        "logprob_recovery",
        "logprob_recovery_ci_low",
        "logprob_recovery_ci_high",
    ]
    shared, rand = table.row(0, named=True), table.row(1, named=True)
    assert (shared["head_set"], shared["n_heads"], shared["n_examples"], shared["set_rule"]) == (
        "shared",
        3,
        6,
        "top_k",
    )
    assert shared["f1"] == pytest.approx(3.25 / 6) and shared["synthetic_f1"] == pytest.approx(1.5 / 6)
    assert shared["real_f1"] == pytest.approx(5 / 6) and shared["real_gold_logprob"] == pytest.approx(-9 / 6)
    # every example is halfway, so every joint resample recovers exactly half: the interval is a point
    assert shared["f1_recovery"] == pytest.approx(0.5)
    assert (shared["f1_recovery_ci_low"], shared["f1_recovery_ci_high"]) == pytest.approx((0.5, 0.5))
    assert shared["logprob_recovery"] == pytest.approx((-21 + 24) / (-9 + 24))
    assert shared["logprob_recovery_ci_low"] < 0.2 < shared["logprob_recovery_ci_high"]
    assert (rand["f1_recovery"], rand["f1_recovery_ci_low"], rand["f1_recovery_ci_high"]) == (0.0, 0.0, 0.0)
    assert rand["draw"] == 2


def test_recovery_is_nan_without_a_gap_and_ignores_gapless_resamples():
    same = {"f1": [0.5, 0.5], "gold_logprob": [-1.0, -2.0]}
    row = {**SHARED, "f1": [0.0, 1.0], "gold_logprob": [-1.0, -1.0]}
    out = patching_rows([_patching(same, same, [row])]).row(0, named=True)
    assert all(math.isnan(out[k]) for k in ("f1_recovery", "f1_recovery_ci_low", "f1_recovery_ci_high"))
    # resamples of only the second example have real == synthetic: ignored, the others all recover half
    estimate, low, high = recovery_ci([0.5, 0.0], [0.0, 0.0], [1.0, 0.0], n_bootstrap=500, confidence=0.9, seed=1)
    assert (estimate, low, high) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="differ in length"):
        recovery_ci([0.5], [0.0, 0.0], [1.0, 0.0], n_bootstrap=10, confidence=0.9, seed=1)


def _rule(recall, heads):
    return {
        "recall": recall,
        "precision": 0.5,
        "jaccard": 0.25,
        "n_candidate": len(heads),
        "n_reference": 4,
        "n_shared": 2,
        "threshold": 0.1,
        "candidate_heads": heads,
        "reference_heads": [[0, 0, 0.9], [1, 1, 0.5], [2, 0, 0.4], [2, 1, 0.2]],
        "shared_heads": [[h[0], h[1]] for h in heads[:2]],
    }


def _comparison(condition, by_step, is_reference=False):
    threshold = _rule(0.5, [[0, 1, 0.9], [2, 0, 0.5], [2, 1, 0.3]])
    top_k = {**_rule(0.25, [[2, 0, 0.5]]), "k": 1}
    mode = {"threshold": threshold, "top_k": top_k, "cosine": 0.8, "n_scored": 6, "reference_n_scored": 6}
    return {
        "condition": condition,
        "reference": {**condition, "data": "real"},
        "is_reference": is_reference,
        "head_kinds": {"retrieval": {"modes": {"teacher_forced": mode}}},
        "by_step": by_step,
        "n_layers": 3,
        "n_heads": 2,
    }


def test_recall_by_step_rows():
    steps = [
        {
            "step": 10,
            "head_kinds": {
                "retrieval": {
                    "threshold": {"recall": 0.25, "n_candidate": 2},
                    "top_k": {"recall": 0.0, "n_candidate": 1},
                },
                "insight": None,
            },
        },
        {
            "step": 20,
            "head_kinds": {
                "retrieval": {
                    "threshold": {"recall": 0.5, "n_candidate": 3},
                    "top_k": {"recall": 1.0, "n_candidate": 1},
                }
            },
        },
    ]
    baseline = {**COND, "data": "none"}
    table = recall_by_step_rows([_comparison(COND, steps), _comparison(baseline, [])])
    assert table.columns == [
        "task",
        "data",
        "model",
        "seed",
        "condition",
        "head_kind",
        "set_rule",
        "step",
        "recall",
        "n_heads",
    ]
    assert table.height == 4 and set(table["data"]) == {"high-low"}, "the baseline has no training steps"
    got = {(r["set_rule"], r["step"]): (r["recall"], r["n_heads"]) for r in table.iter_rows(named=True)}
    assert got == {
        ("threshold", 10): (0.25, 2),
        ("top_k", 10): (0.0, 1),
        ("threshold", 20): (0.5, 3),
        ("top_k", 20): (1.0, 1),
    }
    assert recall_by_step_rows([]).columns == table.columns


def test_head_layer_rows_count_selected_heads_per_layer():
    table = head_layer_rows([_comparison(COND, [])])
    assert table.columns == [
        "task",
        "data",
        "model",
        "seed",
        "condition",
        "head_kind",
        "scoring_mode",
        "set_rule",
        "layer",
        "n_heads",
    ]
    got = {(r["set_rule"], r["layer"]): r["n_heads"] for r in table.iter_rows(named=True)}
    assert got == {
        ("threshold", 0): 1,
        ("threshold", 1): 0,
        ("threshold", 2): 2,
        ("top_k", 0): 0,
        ("top_k", 1): 0,
        ("top_k", 2): 1,
    }
    assert set(table["scoring_mode"]) == {"teacher_forced"} and set(table["condition"]) == {"high/low"}


def test_condition_rows_copy_the_f1_interval_when_the_summary_has_it():
    with_ci = {"condition": COND, "f1": 0.4, "f1_ci_low": 0.3, "f1_ci_high": 0.5, "metric": "f1", "n_examples": 6}
    old = {"condition": {**COND, "data": "low-low"}, "f1": 0.2, "metric": "f1", "n_examples": 6}
    table = condition_rows([with_ci, old], [_comparison(COND, []), _comparison({**COND, "data": "low-low"}, [])])
    by = {r["data"]: r for r in table.filter(pl.col("set_rule") == "threshold").iter_rows(named=True)}
    assert (by["high-low"]["f1_ci_low"], by["high-low"]["f1_ci_high"]) == (0.3, 0.5)
    assert by["low-low"]["f1_ci_low"] is None and by["low-low"]["f1_ci_high"] is None
