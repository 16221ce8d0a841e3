"""Pooled (conditions x seeds) correlation, leave-one-out prediction, bootstrap intervals of means and the
tables built from them. Expected values come from brute force or hand computation written here."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from scipy import stats

import synthctx.analysis.correlation as correlation
from synthctx.analysis.aggregate import condition_means, correlation_rows, leave_one_out_rows
from synthctx.analysis.correlation import correlate, correlate_pooled, mean_ci, within_group_plan
from synthctx.analysis.prediction import leave_one_out
from synthctx.plan.settings import CorrelationSettings

# Any warning escaping the statistics fails a test.
pytestmark = pytest.mark.filterwarnings("error")

KW = dict(n_bootstrap=300, n_permutations=2000, confidence=0.9, seed=4)


# --- independent statistics (no ties in the data they see) ---------------------------------------------------


def _pearson(a, b):
    return np.corrcoef(a, b)[0, 1]


def _spearman(a, b):
    return np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]


def _kendall(a, b):
    n = len(a)
    s = sum(np.sign(a[j] - a[i]) * np.sign(b[j] - b[i]) for i in range(n) for j in range(i + 1, n))
    return s / (n * (n - 1) / 2)


STATS = (("pearson", _pearson), ("spearman", _spearman), ("kendall", _kendall))


def _two_sided(null, observed):
    null = np.asarray(null)
    tol = 1e-12
    return min(1.0, 2 * min(np.mean(null >= observed - tol), np.mean(null <= observed + tol)))


def _brute_within_seed_p(x, y, seeds, statistic):
    """Every combination of per-seed orderings of y (itertools.permutations per seed, their product)."""
    x, y, seeds = np.asarray(x), np.asarray(y), np.asarray(seeds)
    members = [np.flatnonzero(seeds == s) for s in sorted(set(seeds.tolist()))]
    null = []
    for combo in itertools.product(*(itertools.permutations(y[m]) for m in members)):
        y_perm = y.copy()
        for m, values in zip(members, combo):
            y_perm[m] = values
        null.append(statistic(x, y_perm))
    assert len(null) == math.prod(math.factorial(m.size) for m in members)
    return _two_sided(null, statistic(x, y))


def _brute_condition_p(x, y, seeds, conds, statistic):
    """One permutation of the condition labels applied in every seed (itertools.permutations over the
    conditions): y of (seed, c) is paired with x of (seed, pi(c)); two-sided as |T| >= |T_obs|."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    names = sorted(set(conds))
    where = {(s, c): i for i, (s, c) in enumerate(zip(seeds, conds))}
    observed = statistic(x, y)
    null = []
    for perm in itertools.permutations(names):
        moved = dict(zip(names, perm))
        y_perm = np.array([y[where[(s, moved[c])]] for s, c in zip(seeds, conds)])
        null.append(statistic(x, y_perm))
    assert len(null) == math.factorial(len(names))
    return float(np.mean(np.abs(null) >= abs(observed) - 1e-9))


def _data(sizes, seed):
    """Rows of conditions c0..c{n-1} per seed; no ties in x or y."""
    rng = np.random.default_rng(seed)
    seeds = [s for s, n in enumerate(sizes) for _ in range(n)]
    conds = [f"c{i}" for n in sizes for i in range(n)]
    x = rng.permutation(len(seeds)) / 10 + rng.uniform(0, 0.01, len(seeds))
    y = 0.5 * x + rng.normal(size=len(seeds))
    return x, y, seeds, conds


# --- pooled correlation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(4, 3), (5, 4, 2)])
def test_without_a_complete_grid_the_exact_within_seed_p_equals_brute_force_enumeration(sizes):
    # conditions c0..c{n-1} per seed: some condition lacks a seed, so no one permutation of conditions fits
    x, y, seeds, conds = _data(sizes, seed=sum(sizes))
    out = correlate_pooled(x, y, seeds=seeds, conditions=conds, **KW)
    orderings = math.prod(math.factorial(n) for n in sizes)
    assert (out["p_method"], out["n_permutations"]) == ("exact_within_seed", orderings)
    assert out["n"] == sum(sizes) and out["n_seeds"] == len(sizes) and out["n_conditions"] == max(sizes)
    for name, statistic in STATS:
        assert out[name]["estimate"] == pytest.approx(statistic(x, y)), name
        assert out[name]["p_permutation"] == pytest.approx(_brute_within_seed_p(x, y, seeds, statistic)), name
        assert math.isnan(out[name]["p_analytic"]), "pooled pairs are not independent"


def test_one_seed_is_the_exact_pairings_test_over_all_orderings():
    x, y, seeds, conds = _data((6,), seed=1)
    pooled = correlate_pooled(x, y, seeds=seeds, conditions=conds, **KW)
    assert (pooled["p_method"], pooled["n_permutations"]) == ("exact_condition", 720)
    for name, statistic in STATS:
        null = np.array([statistic(x, np.array(p)) for p in itertools.permutations(y)])
        expected = np.mean(np.abs(null) >= abs(statistic(x, y)) - 1e-9)
        assert pooled[name]["p_permutation"] == pytest.approx(expected)


@pytest.mark.parametrize("n_seeds", [2, 3])
def test_condition_level_p_equals_an_enumeration_of_condition_orderings(n_seeds):
    rng = np.random.default_rng(n_seeds)
    conds = ["c0", "c1", "c2", "c3", "c4"]
    effect = rng.normal(size=5)  # a stable effect per condition, repeated over seeds
    x = np.concatenate([np.arange(5) / 5 + rng.uniform(0, 0.05, 5) for _ in range(n_seeds)])
    y = np.concatenate([effect + rng.normal(0, 0.1, 5) for _ in range(n_seeds)])
    seeds = [s for s in range(n_seeds) for _ in conds]
    out = correlate_pooled(x, y, seeds=seeds, conditions=conds * n_seeds, **KW)
    assert (out["p_method"], out["n_permutations"]) == ("exact_condition", 120)
    assert "every seed" in out["method"]["permutation"]
    for name, statistic in STATS:
        assert out[name]["estimate"] == pytest.approx(statistic(x, y)), name
        expected = _brute_condition_p(x, y, seeds, conds * n_seeds, statistic)
        assert out[name]["p_permutation"] == pytest.approx(expected), name


def test_stratified_mean_of_task_correlations_p_by_enumeration():
    # two tasks x 2 seeds x 4 conditions: every one of the 4! x 4! combinations of per-task orderings
    rng = np.random.default_rng(5)
    conds, seeds = ["a", "b", "c", "d"] * 2, [0] * 4 + [1] * 4
    blocks = []
    for shift in (0.0, 3.0):
        x = shift + np.array([0.1, 0.5, 0.3, 0.9, 0.15, 0.55, 0.32, 0.85])
        y = x / 2 + rng.normal(0, 0.2, 8)
        blocks.append({"x": x, "y": y, "seeds": seeds, "conditions": conds})
    out = correlation.correlate_stratified(blocks, **KW)
    assert (out["p_method"], out["n_permutations"], out["n_tasks"]) == ("exact_stratified", 576, 2)
    where = {(s, c): i for i, (s, c) in enumerate(zip(seeds, conds))}

    def moved(y, perm):
        m = dict(zip("abcd", perm))
        return np.array([y[where[(s, m[c])]] for s, c in zip(seeds, conds)])

    for name, statistic in STATS:
        observed = np.mean([statistic(b["x"], b["y"]) for b in blocks])
        nulls = [[statistic(b["x"], moved(b["y"], p)) for p in itertools.permutations("abcd")] for b in blocks]
        null = np.array([(a + b) / 2 for a, b in itertools.product(*nulls)])
        assert out[name]["estimate"] == pytest.approx(observed), name
        assert out[name]["p_permutation"] == pytest.approx(np.mean(np.abs(null) >= abs(observed) - 1e-9)), name
        assert -1 <= out[name]["ci_low"] <= out[name]["ci_high"] <= 1, name
    # a task without a complete grid is left out and counted
    short = {"x": [1.0, 2.0, 3.0], "y": [1.0, 3.0, 2.0], "seeds": [0, 0, 1], "conditions": ["a", "b", "a"]}
    again = correlation.correlate_stratified([*blocks, short], **KW)
    assert again["n_tasks"] == 2 and again["tasks_left_out"] == 1
    assert again["spearman"]["p_permutation"] == out["spearman"]["p_permutation"]


def test_monte_carlo_within_seed_is_close_to_exact(monkeypatch):
    x, y, seeds, conds = _data((5, 4), seed=9)
    exact = correlate_pooled(x, y, seeds=seeds, conditions=conds, **KW)
    monkeypatch.setattr(correlation, "EXACT_LIMIT", 1)
    n = 20_000
    mc = correlate_pooled(x, y, seeds=seeds, conditions=conds, **{**KW, "n_permutations": n})
    assert (mc["p_method"], mc["n_permutations"]) == ("monte_carlo_within_seed", n)
    assert "Monte Carlo" in mc["method"]["permutation"]
    for name, _ in STATS:
        p_exact, p_mc = exact[name]["p_permutation"], mc[name]["p_permutation"]
        # binomial sd of each tail is <= 0.5 / sqrt(n) = 0.0035; two-sided doubles it
        assert abs(p_mc - p_exact) < 0.03, name
        # p = 2 (hits + 1) / (n + 1) for a whole number of hits (unless capped at 1)
        assert p_mc == 1.0 or p_mc * (n + 1) / 2 == pytest.approx(round(p_mc * (n + 1) / 2))
    again = correlate_pooled(x, y, seeds=seeds, conditions=conds, **{**KW, "n_permutations": n})
    assert again == mc, "deterministic for a seed"


def test_condition_permutation_differs_from_a_naive_global_one():
    # seed 1 lifts both x and y; within each seed x and y are unrelated
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0])
    y = np.array([0.0, 0.3, 0.1, 0.2, 5.0, 5.2, 5.3, 5.1])
    seeds = [0, 0, 0, 0, 1, 1, 1, 1]
    conds = ["a", "b", "c", "d"] * 2
    out = correlate_pooled(x, y, seeds=seeds, conditions=conds, **KW)
    # naive: all 8! orderings of y, vectorised here
    perms = np.array(list(itertools.permutations(range(8))))
    yp = y[perms]
    xc, ypc = x - x.mean(), yp - yp.mean(axis=1, keepdims=True)
    null = (ypc @ xc) / np.sqrt((ypc**2).sum(axis=1) * (xc**2).sum())
    naive = _two_sided(null, _pearson(x, y))
    by_condition = _brute_condition_p(x, y, seeds, conds, _pearson)
    assert naive < 0.01 and by_condition > 0.3  # the between-seed shift alone is no evidence across conditions
    assert out["pearson"]["p_permutation"] == pytest.approx(by_condition)
    assert correlate(x, y, **KW)["pearson"]["p_permutation"] == pytest.approx(naive)


def test_exact_limit_counts_orderings_over_all_seeds():
    assert within_group_plan([6, 6], 5000) == ("exact_within_seed", 720**2)  # 518,400 < 1,000,000
    assert within_group_plan([7, 7], 5000) == ("monte_carlo_within_seed", 5000)
    assert within_group_plan([5, 5, 5], 5000) == ("monte_carlo_within_seed", 5000)  # 120^3 = 1,728,000
    assert within_group_plan([9], 10) == ("exact_within_seed", 362_880)


def test_bootstrap_resamples_whole_conditions_across_seeds():
    x = np.array([1.0, 2.0, 3.0, 1.5, 2.5, 3.5])
    y = np.array([0.2, 0.1, 0.9, 0.3, 0.7, 0.8])
    units = np.array([0, 1, 2, 0, 1, 2])  # conditions 0, 1, 2 in seeds 0 and 1
    draws = np.array([[0, 0, 1], [2, 1, 0]])
    got = correlation._condition_bootstrap(x, y, units, correlation._pearson_stat, draws)
    first = [0, 3, 0, 3, 1, 4]  # condition 0 twice (both seeds each time), condition 1
    second = [2, 5, 1, 4, 0, 3]
    assert got == pytest.approx([_pearson(x[first], y[first]), _pearson(x[second], y[second])])
    # a condition missing in one seed: resamples differ in length and still get the right rows
    units = np.array([0, 1, 2, 0, 2])
    xs, ys = x[:5], y[:5]
    got = correlation._condition_bootstrap(xs, ys, units, correlation._pearson_stat, np.array([[1, 1, 2], [0, 2, 2]]))
    a, b = [1, 1, 2, 4], [0, 3, 2, 4, 2, 4]
    assert got == pytest.approx([_pearson(xs[a], ys[a]), _pearson(xs[b], ys[b])])


def test_pooled_monotone_ci_and_nan_handling():
    x = [0.1, 0.2, 0.3, 0.4, 0.15, 0.25, 0.35, 0.45, np.nan]
    y = [1.0, 2.0, 3.0, 4.0, 1.5, 2.5, 3.5, 4.5, 9.0]
    seeds = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    conds = ["a", "b", "c", "d", "a", "b", "c", "d", "e"]
    out = correlate_pooled(x, y, seeds=seeds, conditions=conds, **KW)
    assert (out["n"], out["n_dropped"], out["n_conditions"]) == (8, 1, 4)
    assert out["spearman"]["estimate"] == pytest.approx(1.0)
    assert out["spearman"]["ci_low"] == pytest.approx(1.0) and out["spearman"]["ci_high"] == pytest.approx(1.0)
    constant = correlate_pooled([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], seeds=[0, 0, 1], conditions=["a", "b", "a"], **KW)
    assert all(math.isnan(constant[name]["estimate"]) for name in ("spearman", "pearson", "kendall"))
    with pytest.raises(ValueError, match="more than one pair"):
        correlate_pooled([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], seeds=[0, 0, 0], conditions=["a", "a", "b"], **KW)
    with pytest.raises(ValueError, match="differ in length"):
        correlate_pooled([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], seeds=[0, 0], conditions=["a", "b", "c"], **KW)


# --- leave-one-out -------------------------------------------------------------------------------------------

F = Fraction
# A, B, C lie on f1 = 0.1 + 0.5 recall; D sits above the line
RECALL = [F(0), F(1, 2), F(1), F(1, 4)]
F1 = [F(1, 10), F(7, 20), F(3, 5), F(1, 2)]
# by hand (least squares on the other three, with fractions):
#   hold out A: fit B, C, D -> b = 13/70, a = 3/8 -> 3/8;      ranks 4 (actual) vs 3 (predicted)
#   hold out B: fit A, C, D -> b = 27/65, a = 59/260 -> 113/260; ranks 3 vs 3
#   hold out C: fit A, B, D -> b = 1/2, a = 23/120 -> 83/120;   ranks 1 vs 1
#   hold out D: fit A, B, C -> b = 1/2, a = 1/10 -> 9/40;       ranks 2 vs 3
EXPECTED = {
    "A": (F(3, 8), 4, 3, F(3, 8), F(13, 70)),
    "B": (F(113, 260), 3, 3, F(59, 260), F(27, 65)),
    "C": (F(83, 120), 1, 1, F(23, 120), F(1, 2)),
    "D": (F(9, 40), 2, 3, F(1, 10), F(1, 2)),
}


def _check_hand_rows(rows):
    assert [r["label"] for r in rows] == ["A", "B", "C", "D"]
    for r, f1 in zip(rows, F1):
        predicted, rank_actual, rank_predicted, intercept, slope = EXPECTED[r["label"]]
        assert r["f1_predicted"] == pytest.approx(float(predicted), abs=1e-12)
        assert r["abs_error"] == pytest.approx(float(abs(predicted - f1)), abs=1e-12)
        assert (r["rank_actual"], r["rank_predicted"]) == (rank_actual, rank_predicted)
        assert r["rank_right"] is (rank_actual == rank_predicted)
        assert r["intercept"] == pytest.approx(float(intercept)) and r["slope"] == pytest.approx(float(slope))
        assert r["n_fit"] == 3


def test_leave_one_out_matches_hand_computation():
    out = leave_one_out([float(v) for v in RECALL], [float(v) for v in F1], ["A", "B", "C", "D"])
    assert out["dropped"] == []
    _check_hand_rows(out["rows"])


def test_leave_one_out_drops_nan_rows_and_says_so():
    recall = [float(v) for v in RECALL] + [math.nan, 0.3]
    f1 = [float(v) for v in F1] + [0.9, math.nan]
    out = leave_one_out(recall, f1, ["A", "B", "C", "D", "E", "G"])
    assert out["dropped"] == ["E", "G"]
    _check_hand_rows(out["rows"])


def test_leave_one_out_without_a_line():
    two = leave_one_out([0.1, 0.2], [0.3, 0.4], ["A", "B"])["rows"]  # one point to fit on
    assert all(math.isnan(r["f1_predicted"]) and r["rank_predicted"] is None and r["n_fit"] == 1 for r in two)
    assert [r["rank_actual"] for r in two] == [2, 1]
    flat = leave_one_out([0.5, 0.5, 0.9], [0.1, 0.2, 0.3], ["A", "B", "C"])["rows"]
    assert math.isnan(flat[2]["f1_predicted"]), "the others share one recall: no slope"
    assert flat[0]["f1_predicted"] == pytest.approx(0.2), "the line through B and C, read at B's recall"


# --- bootstrap interval of a mean ------------------------------------------------------------------------------


def test_mean_ci_is_scipys_percentile_bootstrap():
    values = [1.0, 0.0, 0.5, 1.0, 0.25, 0.0, 1.0]
    low, high = mean_ci(values, n_resamples=2000, confidence=0.95, seed=0)
    ref = stats.bootstrap(
        (np.array(values),),
        lambda a, axis: a.mean(axis=axis),
        n_resamples=2000,
        method="percentile",
        confidence_level=0.95,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert (low, high) == pytest.approx((ref.low, ref.high))
    assert low < np.mean(values) < high
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in mean_ci([0.5])) and all(math.isnan(v) for v in mean_ci([]))


def test_summary_carries_bootstrap_intervals_of_each_metric():
    from synthctx.evaluation.evaluation_summary import summarise

    preds = [
        {"metrics": {"f1": 1.0, "substring_em": 1.0, "support_f1": 0.5}},
        {"metrics": {"f1": 0.0, "substring_em": 1.0}},
        {"metrics": {"f1": 0.5, "substring_em": 1.0}},
        {"metrics": {"f1": 0.25, "substring_em": 1.0}},
    ]
    s = summarise("musique", preds)
    assert s["f1"] == pytest.approx(0.4375) and s["n_f1"] == 4 and s["n_examples"] == 4
    ref = stats.bootstrap(
        (np.array([1.0, 0.0, 0.5, 0.25]),),
        np.mean,
        n_resamples=2000,
        method="percentile",
        confidence_level=0.95,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert (s["f1_ci_low"], s["f1_ci_high"]) == pytest.approx((ref.low, ref.high))
    assert s["substring_em_ci_low"] == s["substring_em_ci_high"] == 1.0, "all equal: low = high = the value"
    assert math.isnan(s["support_f1_ci_low"]) and math.isnan(s["support_f1_ci_high"]), "one value"
    assert "bootstrap" in s["ci_method"] and "2000" in s["ci_method"]


# --- tables ----------------------------------------------------------------------------------------------------

LABELS = {
    "real": "real",
    "real-limited": "real (limited)",
    "high-high": "high/high",
    "low-low": "low/low",
    "symbolic-symbolic": "symbolic",
    "none": "baseline",
}


def _table(values: dict[str, list[tuple[float, float]]]) -> pl.DataFrame:
    """Condition rows: values[data] = [(recall, f1) per seed]; one head kind, mode and set rule."""
    rows = [
        {
            "task": "mdqa",
            "data": data,
            "model": "m",
            "seed": seed,
            "condition": LABELS[data],
            "is_reference": data == "real",
            "head_kind": "retrieval",
            "scoring_mode": "teacher_forced",
            "set_rule": "threshold",
            "f1": f1,
            "recall": recall,
            "cosine": 0.5 + recall / 10 + seed / 100,
        }
        for data, per_seed in values.items()
        for seed, (recall, f1) in enumerate(per_seed)
    ]
    return pl.DataFrame(rows)


def test_condition_means_t_interval_over_seeds():
    table = _table({"real": [(1.0, 0.8)], "high-high": [(0.5, 0.4), (0.7, 0.6)], "low-low": [(0.2, 0.1), (0.4, 0.1)]})
    means = {r["data"]: r for r in condition_means(table).iter_rows(named=True)}
    assert list(condition_means(table).columns) == [
        "task",
        "model",
        "data",
        "condition",
        "head_kind",
        "scoring_mode",
        "set_rule",
        "n_seeds",
        "f1_mean",
        "f1_ci_low",
        "f1_ci_high",
        "recall_mean",
        "recall_ci_low",
        "recall_ci_high",
    ]
    hh = means["high-high"]
    half = stats.t.ppf(0.975, 1) * (0.2 / math.sqrt(2)) / math.sqrt(2)  # sd of {0.4, 0.6} = 0.2 / sqrt 2
    assert hh["n_seeds"] == 2 and hh["f1_mean"] == pytest.approx(0.5)
    assert (hh["f1_ci_low"], hh["f1_ci_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert (hh["recall_ci_low"], hh["recall_ci_high"]) == pytest.approx((0.6 - half, 0.6 + half))
    assert means["low-low"]["f1_ci_low"] == pytest.approx(0.1) and means["low-low"]["f1_ci_high"] == pytest.approx(0.1)
    assert means["real"]["n_seeds"] == 1 and math.isnan(means["real"]["f1_ci_low"]), "one seed: no interval"


def test_correlation_rows_pool_seeds_with_condition_permutations():
    per_seed = {
        "real": [(1.0, 0.9), (1.0, 0.85)],
        "real-limited": [(0.8, 0.7), (0.75, 0.72)],
        "high-high": [(0.6, 0.5), (0.62, 0.45)],
        "low-low": [(0.5, 0.41), (0.4, 0.4)],
        "symbolic-symbolic": [(0.3, 0.2), (0.35, 0.3)],
        "none": [(0.1, 0.05), (0.12, 0.02)],
    }
    table = _table(per_seed)
    cfg = CorrelationSettings(n_bootstrap=200, n_permutations=500, confidence=0.9, seed=0, include_baseline=False)
    corr = correlation_rows(table, cfg)
    assert corr["seed"].dtype == pl.String and set(corr["seed"]) == {"0", "1", "pooled"}
    pooled = corr.filter((pl.col("test") == "pooled") & (pl.col("x") == "recall") & pl.col("primary"))
    assert pooled.height == 3 and set(pooled["baseline"]) == {"excluded"}
    rows = {r["method"]: r for r in pooled.iter_rows(named=True)}
    data = [d for d in per_seed if d not in ("real", "none")]
    x = np.array([per_seed[d][s][0] for s in (0, 1) for d in data])
    y = np.array([per_seed[d][s][1] for s in (0, 1) for d in data])
    seeds = [s for s in (0, 1) for _ in data]
    for name, statistic in STATS:
        r = rows[name]
        assert (r["n"], r["n_seeds"], r["p_method"], r["n_permutations"]) == (8, 2, "exact_condition", 24)
        assert r["estimate"] == pytest.approx(statistic(x, y))
        assert r["p_permutation"] == pytest.approx(_brute_condition_p(x, y, seeds, data * 2, statistic))
        assert r["conditions"] == "real (limited),high/high,low/low,symbolic"
        assert "n=4 conditions" in r["caveat"]
    assert set(corr.filter(pl.col("seed") != "pooled")["n_seeds"]) == {1}
    # the other choice: the baseline counted, five conditions, 5! orderings
    other = corr.filter((pl.col("test") == "pooled") & (pl.col("x") == "recall") & ~pl.col("primary"))
    assert set(other["baseline"]) == {"included"} and set(other["n_permutations"]) == {120}
    # one task: the task-stratified rows equal the pooled ones
    strat = corr.filter((pl.col("test") == "task_stratified") & (pl.col("x") == "recall") & pl.col("primary"))
    joined = strat.join(pooled, on="method", suffix="_pooled")
    assert joined.height == 3 and set(strat["task"]) == {"all"}
    assert (joined["estimate"] - joined["estimate_pooled"]).abs().max() < 1e-12
    assert (joined["p_permutation"] - joined["p_permutation_pooled"]).abs().max() < 1e-12


def test_leave_one_out_rows_average_seeds_and_skip_reference_and_baseline():
    d = 0.05  # each seed sits d below / above the hand example's values
    hand = {"high-high": 0, "low-low": 1, "symbolic-symbolic": 2, "real-limited": 3}
    per_seed = {
        data: [(float(RECALL[i]) - d, float(F1[i]) + d), (float(RECALL[i]) + d, float(F1[i]) - d)]
        for data, i in hand.items()
    }
    per_seed |= {"real": [(1.0, 0.9), (1.0, 0.9)], "none": [(0.9, 0.0), (0.8, 0.1)]}
    table = _table(per_seed)
    out = leave_one_out_rows(table, include_baseline=False)
    assert list(out.columns) == [
        "task",
        "model",
        "head_kind",
        "scoring_mode",
        "set_rule",
        "held_out",
        "condition",
        "recall",
        "f1",
        "f1_predicted",
        "abs_error",
        "rank_actual",
        "rank_predicted",
        "rank_right",
        "n_fit",
    ]
    assert set(out["held_out"]) == set(hand)
    label = dict(zip("ABCD", hand))
    for letter, (predicted, rank_actual, rank_predicted, _, _) in EXPECTED.items():
        r = out.filter(pl.col("held_out") == label[letter]).row(0, named=True)
        assert r["f1_predicted"] == pytest.approx(float(predicted))
        assert (r["rank_actual"], r["rank_predicted"], r["rank_right"]) == (
            rank_actual,
            rank_predicted,
            rank_actual == rank_predicted,
        )
        assert r["condition"] == LABELS[label[letter]] and r["n_fit"] == 3
    with_baseline = leave_one_out_rows(table, include_baseline=True)
    assert set(with_baseline["held_out"]) == set(hand) | {"none"} and set(with_baseline["n_fit"]) == {4}
