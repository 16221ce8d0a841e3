"""The paired statistics against numbers worked out here: sign-flip p by enumerating the sign vectors in the
test, the t interval and the MDE from their formulas, Holm on a hand example, Fieller's bounds by their
defining property, and the condition-level permutation p against an itertools.permutations enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from synthctx.analysis import paired


def _enumerated_sign_flip_p(d):
    observed = abs(sum(d))
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        total += 1
        hits += abs(sum(s * v for s, v in zip(signs, d))) >= observed - 1e-12
    return hits / total


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        ([-1, -2, -3, -4, -5, -6], 2 / 64),  # only the all-minus and all-plus vectors reach |sum| = 21
        ([1, 2, 3, 4], 2 / 16),
        ([3, -1, 2, 2, 1], None),  # worked out by the enumeration below
        ([0, 0, 0], 1.0),
    ],
)
def test_sign_flip_p_is_exact_by_enumeration(d, expected):
    p, method, n = paired.sign_flip_p(d)
    assert method == "exact" and n == 2 ** len(d)
    assert p == pytest.approx(_enumerated_sign_flip_p(d))
    if expected is not None:
        assert p == pytest.approx(expected)


def test_sign_flip_p_hand_count_for_a_mixed_vector():
    # d = (3, -1, 2): sum 4; the 8 sums are 3-1+2=4, 3-1-2=0, 3+1+2=6, 3+1-2=2 and their negatives:
    # |sum| >= 4 for 4, 6, -4, -6: p = 4 / 8
    assert paired.sign_flip_p([3, -1, 2])[0] == pytest.approx(0.5)


def test_sign_flip_monte_carlo_above_twenty_examples_is_seeded_and_close_to_the_normal_tail():
    rng = np.random.default_rng(1)
    d = rng.normal(0.3, 1.0, size=40)
    p1, method, n = paired.sign_flip_p(d, n_draws=20_000, seed=3)
    p2, _, _ = paired.sign_flip_p(d, n_draws=20_000, seed=3)
    assert method == "monte_carlo" and n == 20_000 and p1 == p2
    # the sign-flip null of the sum has variance sum d_i^2: a two-sided normal tail approximates it
    z = abs(d.sum()) / math.sqrt((d**2).sum())
    assert p1 == pytest.approx(2 * stats.norm.sf(z), abs=0.02)


def test_t_interval_and_mde_from_their_formulas():
    d = [-1, -2, -3, -4, -5, -6]
    mean, sd = -3.5, math.sqrt(17.5 / 5)  # sum of squared deviations 2*(2.5^2 + 1.5^2 + 0.5^2) = 17.5
    half = stats.t.ppf(0.975, 5) * sd / math.sqrt(6)
    lo, hi = paired.t_interval(d)
    assert (lo, hi) == pytest.approx((mean - half, mean + half))
    assert (lo, hi) == pytest.approx((-5.4633, -1.5367), abs=1e-4)
    assert paired.mde(sd, 6) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * sd / math.sqrt(6))
    assert paired.mde(sd, 6) == pytest.approx(2.1398, abs=1e-3)
    s = paired.paired_summary(d)
    assert s["n_examples"] == 6 and s["mean"] == pytest.approx(mean) and s["sd"] == pytest.approx(sd)
    assert s["p"] == pytest.approx(2 / 64) and s["ci"] == pytest.approx([lo, hi])
    assert math.isnan(paired.t_interval([1.0])[0]) and math.isnan(paired.mde(1.0, 1))


def test_holm_on_a_hand_example():
    # sorted 0.01, 0.02, 0.03, 0.04 with m = 4: 0.04, 0.06, 0.06 (running max of 0.06), 0.06 (max of 0.04)
    assert paired.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    # a NaN is outside the family: m = 2
    out = paired.holm([0.2, math.nan, 0.01])
    assert out[0] == pytest.approx(0.2) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert paired.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_holm_agrees_with_statsmodels_when_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = [0.001, 0.04, 0.03, 0.2, 0.011]
    assert paired.holm(p) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))


def test_fieller_bounds_are_where_the_paired_t_of_a_minus_theta_b_reaches_the_critical_value():
    a = [0.1, 0.0, 0.2, 0.1, -0.1, 0.1]
    b = [-1.0, -1.2, -0.8, -1.1, -0.9, -1.0]
    ratio, lo, hi = paired.fieller_ratio(a, b)
    assert ratio == pytest.approx(np.mean(a) / np.mean(b))
    crit = stats.t.ppf(0.975, 5)
    for theta in (lo, hi):
        diff = np.asarray(a) - theta * np.asarray(b)
        t_stat = diff.mean() / (diff.std(ddof=1) / math.sqrt(diff.size))
        assert abs(t_stat) == pytest.approx(crit)
    assert lo < ratio < hi
    # a denominator indistinguishable from 0 leaves the interval unbounded: NaN bounds
    assert math.isnan(paired.fieller_ratio([1, 2, 3], [1, -1, 0.5])[1])


def _enumerated_condition_p(x, y):
    """Pooled Spearman over seeds x conditions; the same permutation of y's conditions in every seed."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    observed = stats.spearmanr(x.ravel(), y.ravel()).statistic
    hits = total = 0
    for perm in itertools.permutations(range(x.shape[1])):
        total += 1
        hits += abs(stats.spearmanr(x.ravel(), y[:, list(perm)].ravel()).statistic) >= abs(observed) - 1e-9
    return observed, hits / total, total


def test_condition_permutation_p_matches_an_enumeration_over_all_orderings():
    x = [[0.1, 0.4, 0.35, 0.8, 0.6], [0.15, 0.38, 0.3, 0.82, 0.55]]  # recall, 2 seeds x 5 conditions
    y = [[0.2, 0.3, 0.5, 0.7, 0.4], [0.25, 0.28, 0.45, 0.6, 0.5]]  # F1
    rho, p, method, n = paired.condition_permutation_p(x, y)
    ref_rho, ref_p, total = _enumerated_condition_p(x, y)
    assert method == "exact" and n == total == 120
    assert rho == pytest.approx(ref_rho) and p == pytest.approx(ref_p)


def test_condition_permutation_keeps_seeds_together_so_a_stable_effect_is_not_over_counted():
    # a condition's F1 repeats exactly in both seeds: permuting within each seed separately would see 5!^2
    # orderings; moving conditions together sees 5!, and the smallest possible p is 2/120 (rho = +-1)
    x = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]
    rho, p, _, n = paired.condition_permutation_p(x, x)
    assert rho == pytest.approx(1.0) and n == 120 and p == pytest.approx(2 / 120)


def test_condition_permutation_is_monte_carlo_above_eight_conditions():
    rng = np.random.default_rng(0)
    x = rng.random((2, 9))
    _, p, method, n = paired.condition_permutation_p(x, x + rng.normal(0, 0.1, (2, 9)), n_permutations=500)
    assert method == "monte_carlo" and n == 500 and 1 / 501 <= p <= 1
