"""Knockout, patching, recall-by-step and heads-by-layer tables from hand-written JSON (formats of the
intervention and comparison files), and the per-run F1 interval in the condition table."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from synthctx.analysis.aggregate import (
    condition_rows,
    head_layer_rows,
    knockout_example_rows,
    knockout_rows,
    patching_example_rows,
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
        "delta_f1_ci_low",
        "delta_f1_ci_high",
        "delta_gold_logprob_ci_low",
        "delta_gold_logprob_ci_high",
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


DELTA_CI = ("delta_f1_ci_low", "delta_f1_ci_high", "delta_gold_logprob_ci_low", "delta_gold_logprob_ci_high")


def _knockout_file(condition, none, others):
    """A knockout file with a "none" row and one random_all row per (f1, gold_logprob) pair in `others`."""
    rows = [
        {"head_kind": None, "control": "none", "k": 0, "draw": 0, "heads": [], "f1": none[0], "gold_logprob": none[1]}
    ]
    for draw, (f1, lp) in enumerate(others):
        row = {"head_kind": "retrieval", "control": "random_all", "k": 2, "draw": draw, "heads": [[0, 0], [1, 1]]}
        rows.append(row | {"f1": list(f1), "gold_logprob": list(lp)})
    n = len(none[0])
    return {"condition": condition, "semantics": "zero", "n_examples": n, "example_ids": [str(i) for i in range(n)]} | {
        "rows": rows
    }


def _by_draw(table):
    none = table.filter(pl.col("control") == "none").row(0, named=True)
    return none, {r["draw"]: r for r in table.filter(pl.col("control") != "none").iter_rows(named=True)}


def test_paired_delta_interval_is_exact_for_constant_changes_and_zero_for_the_none_row():
    rng = np.random.default_rng(11)
    f1 = rng.uniform(0.0, 1.0, 30).round(3)
    lp = rng.normal(-3.0, 1.5, 30)
    dyadic_f1 = np.array([1.0, 0.5, 0.75, 0.25, 0.0, 1.0, 0.5, 0.125])
    table = knockout_rows(
        [
            _knockout_file(
                COND,
                (f1, lp),
                [
                    (f1, lp),  # draw 0: identical to none
                    (f1 - 0.5, lp - 0.5),  # draw 1: every example lowered by 0.5 (up to float rounding)
                ],
            ),
            _knockout_file({**COND, "seed": 2}, (dyadic_f1, -dyadic_f1), [(dyadic_f1 - 0.5, -dyadic_f1 - 0.5)]),
        ],
        n_bootstrap=500,
        seed=4,
    )
    none, rows = _by_draw(table.filter(pl.col("seed") == 1))
    # the none row: its change is 0 on every example, so every resample's mean change is 0
    assert [none[c] for c in DELTA_CI] == [0.0, 0.0, 0.0, 0.0]
    assert (none["delta_f1"], none["delta_gold_logprob"]) == (0.0, 0.0)
    assert [rows[0][c] for c in DELTA_CI] == [0.0, 0.0, 0.0, 0.0]
    assert [rows[1][c] for c in DELTA_CI] == pytest.approx([-0.5] * 4, abs=1e-12)
    assert rows[1]["delta_f1_ci_high"] - rows[1]["delta_f1_ci_low"] < 1e-12
    # exactly representable values: exactly [-0.5, -0.5]
    _, exact = _by_draw(table.filter(pl.col("seed") == 2))
    assert [exact[0][c] for c in DELTA_CI] == [-0.5, -0.5, -0.5, -0.5]
    # the unpaired intervals of the same rows are wide: the spread is in the examples, not in the change
    assert rows[1]["f1_ci_high"] - rows[1]["f1_ci_low"] > 0.1


def test_paired_delta_interval_contains_the_point_change_and_is_deterministic():
    rng = np.random.default_rng(5)
    n = 40
    none_f1, none_lp = rng.uniform(0.0, 1.0, n), rng.normal(-4.0, 2.0, n)
    others = [
        (np.clip(none_f1 + rng.normal(shift, 0.1, n), 0.0, 1.0), none_lp + rng.normal(3 * shift, 0.5, n))
        for shift in (-0.3, -0.05, 0.0, 0.1)
    ]
    ko = _knockout_file(COND, (none_f1, none_lp), others)
    table = knockout_rows([ko], n_bootstrap=1000, confidence=0.95, seed=7)
    _, rows = _by_draw(table)
    for r in rows.values():
        assert r["delta_f1_ci_low"] < r["delta_f1"] < r["delta_f1_ci_high"]
        assert r["delta_gold_logprob_ci_low"] < r["delta_gold_logprob"] < r["delta_gold_logprob_ci_high"]
    # a clear drop is excluded from zero, as is a clear gain in log-probability
    assert rows[0]["delta_f1_ci_high"] < 0 and rows[0]["delta_gold_logprob_ci_high"] < 0
    assert table.equals(knockout_rows([ko], n_bootstrap=1000, confidence=0.95, seed=7)), "deterministic for a seed"
    other_seed = knockout_rows([ko], n_bootstrap=1000, confidence=0.95, seed=8)
    assert other_seed["delta_f1_ci_low"].to_list() != table["delta_f1_ci_low"].to_list()
    # a higher confidence gives a wider interval around the same change
    wide = _by_draw(knockout_rows([ko], n_bootstrap=1000, confidence=0.99, seed=7))[1]
    assert (
        wide[0]["delta_f1_ci_low"] < rows[0]["delta_f1_ci_low"]
        and wide[0]["delta_f1_ci_high"] > rows[0]["delta_f1_ci_high"]
    )


def test_paired_delta_interval_is_narrower_than_the_unpaired_difference_on_correlated_examples():
    # examples differ a lot in difficulty; the knockout moves each by a small, noisy amount
    rng = np.random.default_rng(3)
    n = 200
    none_f1, none_lp = rng.uniform(0.0, 1.0, n), rng.normal(-5.0, 3.0, n)
    diff_f1, diff_lp = rng.normal(-0.1, 0.05, n), rng.normal(-1.0, 0.3, n)
    knocked = (none_f1 + diff_f1, none_lp + diff_lp)
    # the same two runs with the pairing broken: the none values put in another order
    order = rng.permutation(n)
    table = knockout_rows(
        [
            _knockout_file(COND, (none_f1, none_lp), [knocked]),
            _knockout_file({**COND, "seed": 2}, (none_f1[order], none_lp[order]), [knocked]),
        ],
        n_bootstrap=2000,
        seed=0,
    )
    none, rows = _by_draw(table.filter(pl.col("seed") == 1))
    row = rows[0]
    for m, sd in (("f1", diff_f1.std(ddof=1)), ("gold_logprob", diff_lp.std(ddof=1))):
        paired = row[f"delta_{m}_ci_high"] - row[f"delta_{m}_ci_low"]
        # conservative unpaired interval: [row low - none high, row high - none low]
        unpaired = (row[f"{m}_ci_high"] - none[f"{m}_ci_low"]) - (row[f"{m}_ci_low"] - none[f"{m}_ci_high"])
        assert paired < unpaired / 4
        # same width as the normal-theory interval of the mean of the per-example differences
        normal = 2 * stats.norm.ppf(0.975) * sd / math.sqrt(n)
        assert paired == pytest.approx(normal, rel=0.15)
        # the point change is the same whether or not the rows are paired; the interval is not
        _, shuffled = _by_draw(table.filter(pl.col("seed") == 2))
        assert shuffled[0][f"delta_{m}"] == pytest.approx(row[f"delta_{m}"])
        assert shuffled[0][f"{m}_ci_low"] == row[f"{m}_ci_low"]
        assert shuffled[0][f"delta_{m}_ci_high"] - shuffled[0][f"delta_{m}_ci_low"] > 3 * paired


def test_paired_delta_interval_undefined_with_one_example_and_refused_on_unequal_lengths():
    table = knockout_rows([_knockout_file(COND, ([0.5], [-1.0]), [([0.0], [-2.0])])])
    _, rows = _by_draw(table)
    assert rows[0]["delta_f1"] == -0.5 and all(math.isnan(rows[0][c]) for c in DELTA_CI)
    with pytest.raises(ValueError, match="control 'none' row"):
        knockout_rows([_knockout_file(COND, ([0.5, 1.0], [-1.0, -2.0]), [([0.0], [-2.0])])])


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


def test_knockout_example_rows_keep_every_configuration_and_example_with_optional_scope_and_k():
    ko = _knockout(COND, [1.0, 0.5, 1.0, 0.5], [0.0, 0.5, 0.0, 0.5])
    table = knockout_example_rows([ko])
    assert table.height == 3 * 4
    top = table.filter(pl.col("control") == "top").sort("example")
    assert top["example_id"].to_list() == ["a", "b", "c", "d"] and top["f1"].to_list() == [0.0, 0.5, 0.0, 0.5]
    assert top["gold_logprob"].to_list() == [-5.0, -6.0, -3.0, -6.0]
    assert top["scope"].null_count() == 4 and top["k_spec"].null_count() == 4, "older files: left empty"
    newer = ko | {"scope": "answer"}
    newer["rows"] = [r | {"k_spec": "0.01", "k_fraction": 0.375} for r in ko["rows"]]
    table = knockout_example_rows([newer])
    assert set(table["scope"].to_list()) == {"answer"} and set(table["k_spec"].to_list()) == {"0.01"}
    assert set(table["k_fraction"].to_list()) == {0.375}


def test_patching_example_rows_put_synthetic_and_real_beside_each_patched_example():
    table = patching_example_rows([_patching(SYN, REAL, [SHARED])])
    assert table.height == 6 and table["example_id"].to_list() == [f"e{i}" for i in range(6)]
    assert table["gold_logprob"].to_list() == SHARED["gold_logprob"]
    assert table["synthetic_gold_logprob"].to_list() == SYN["gold_logprob"]
    assert table["real_f1"].to_list() == REAL["f1"] and set(table["n_heads"].to_list()) == {3}
