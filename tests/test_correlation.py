import math
from itertools import permutations

import numpy as np
import pytest
from scipy import stats

from synthctx.analysis.correlation import correlate, weak_evidence_note

# Any warning (e.g. scipy's ConstantInputWarning) escaping correlate() fails a test.
pytestmark = pytest.mark.filterwarnings("error")

KW = dict(n_bootstrap=2000, n_permutations=5000, confidence=0.95, seed=123)
FIELDS = ("estimate", "ci_low", "ci_high", "p_permutation", "p_analytic")


def test_perfectly_monotone_series() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [0.1, 0.5, 0.6, 2.0, 9.0]  # monotone but not linear
    out = correlate(x, y, **KW)
    sp = out["spearman"]
    assert out["n"] == 5
    assert sp["estimate"] == pytest.approx(1.0)
    # every non-degenerate resample of a monotone series is monotone
    assert sp["ci_low"] == pytest.approx(1.0)
    assert sp["ci_high"] == pytest.approx(1.0)
    # exact test over 5! = 120 pairings; only identity is as extreme -> 2 * 1/120
    assert sp["p_permutation"] == pytest.approx(2 / math.factorial(5))
    assert "exact" in out["method"]["permutation"]
    assert out["p_method"] == "exact" and out["n_permutations"] == 120
    assert out["pearson"]["estimate"] < 1.0


def test_monte_carlo_permutation_when_n_factorial_exceeds_budget() -> None:
    x = np.arange(10.0)
    out = correlate(x, x**2, n_bootstrap=200, n_permutations=500, confidence=0.9, seed=0)
    # randomised p-value is (hits + 1) / (n_permutations + 1), never below that floor
    assert out["spearman"]["p_permutation"] == pytest.approx(2 / 501)
    assert "Monte Carlo" in out["method"]["permutation"]


def test_pearson_matches_numpy_and_scipy() -> None:
    x = [1.0, 2.0, 4.0, 3.0, 7.0, 5.0]
    y = [2.1, 2.9, 3.2, 5.5, 6.0, 4.4]
    out = correlate(x, y, **KW)
    assert out["pearson"]["estimate"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert out["pearson"]["p_analytic"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    sp = stats.spearmanr(x, y)
    assert out["spearman"]["estimate"] == pytest.approx(sp.statistic)
    assert out["spearman"]["p_analytic"] == pytest.approx(sp.pvalue)
    for name in ("pearson", "spearman"):
        r = out[name]
        assert -1.0 <= r["ci_low"] <= r["estimate"] <= r["ci_high"] <= 1.0
        assert 0.0 < r["p_permutation"] <= 1.0


def test_exact_permutation_p_matches_enumeration() -> None:
    from itertools import permutations

    x = np.array([3.0, 1.0, 4.0, 1.5, 5.0])
    y = np.array([2.0, 7.0, 1.0, 8.0, 2.5])
    observed = np.corrcoef(x, y)[0, 1]
    null = np.array([np.corrcoef(np.array(p), y)[0, 1] for p in permutations(x)])
    tol = 1e-12
    p_greater = np.mean(null >= observed - tol)
    p_less = np.mean(null <= observed + tol)
    expected = min(1.0, 2 * min(p_greater, p_less))
    out = correlate(x, y, **KW)
    assert out["pearson"]["p_permutation"] == pytest.approx(expected)


def test_ci_matches_scipy_percentile_bootstrap_without_degeneracy() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=25)
    y = x + rng.normal(size=25)
    out = correlate(x, y, n_bootstrap=1000, n_permutations=100, confidence=0.9, seed=3)
    assert out["n_degenerate_resamples"]["pearson"] == 0
    boot_seed = np.random.SeedSequence(3).spawn(2)[0]
    ref = stats.bootstrap(
        (x, y),
        lambda a, b: stats.pearsonr(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=1000,
        method="percentile",
        confidence_level=0.9,
        rng=np.random.default_rng(boot_seed),
    )
    assert out["pearson"]["ci_low"] == pytest.approx(ref.confidence_interval.low)
    assert out["pearson"]["ci_high"] == pytest.approx(ref.confidence_interval.high)


def test_degenerate_resamples_are_ignored_not_nan() -> None:
    # heavy ties in y: many resamples have constant y and an undefined statistic
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    out = correlate(x, y, **KW)
    assert out["n_degenerate_resamples"]["spearman"] > 0
    for name in ("spearman", "pearson"):
        assert np.isfinite(out[name]["ci_low"]) and np.isfinite(out[name]["ci_high"])
        assert out[name]["ci_low"] <= out[name]["ci_high"]


def test_nan_pairs_are_dropped() -> None:
    x = [1.0, np.nan, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [1.0, 2.0, 3.0, np.nan, 2.0, 6.0, 5.0]
    out = correlate(x, y, **KW)
    assert out["n"] == 5
    assert out["n_dropped"] == 2
    clean = correlate([1.0, 2.0, 4.0, 5.0, 6.0], [1.0, 3.0, 2.0, 6.0, 5.0], **KW)
    for name in ("spearman", "pearson", "kendall"):
        for field in FIELDS:
            assert out[name][field] == pytest.approx(clean[name][field])


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]),  # constant y
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]),  # constant x
        ([1.0, 2.0], [3.0, 1.0]),  # n < 3
        ([1.0, np.nan, 3.0], [1.0, 2.0, np.nan]),  # n < 3 after dropping
        ([], []),
    ],
)
def test_degenerate_inputs_give_nan_without_warnings(x: list, y: list) -> None:
    out = correlate(x, y, **KW)
    for name in ("spearman", "pearson", "kendall"):
        assert all(math.isnan(out[name][f]) for f in FIELDS)
    assert out["n"] == len([1 for a, b in zip(x, y) if not (np.isnan(a) or np.isnan(b))])


def test_deterministic_for_seed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = 0.5 * x + rng.normal(size=12)
    kw = dict(n_bootstrap=500, n_permutations=500, confidence=0.95)
    a = correlate(x, y, seed=11, **kw)
    b = correlate(x, y, seed=11, **kw)
    c = correlate(x, y, seed=12, **kw)
    assert a == b
    assert (a["pearson"]["ci_low"], a["pearson"]["p_permutation"]) != (
        c["pearson"]["ci_low"],
        c["pearson"]["p_permutation"],
    )


def test_input_validation() -> None:
    with pytest.raises(ValueError):
        correlate([1.0, 2.0, 3.0], [1.0, 2.0], **KW)
    with pytest.raises(ValueError):
        correlate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_bootstrap=10, n_permutations=10, confidence=1.0, seed=0)
    with pytest.raises(ValueError):
        correlate([1.0, 2.0, np.inf], [1.0, 2.0, 3.0], **KW)


def test_method_notes_present() -> None:
    out = correlate([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], **KW)
    assert "scipy.stats.bootstrap" in out["method"]["bootstrap"]
    assert "pairings" in out["method"]["permutation"]


def test_weak_evidence_note() -> None:
    note = weak_evidence_note(6)
    assert "n=6" in note
    assert "caus" in note
    assert note.count(".") == 1 and note.endswith(".")


def _enumerated_p(x, y, statistic) -> float:
    """Two-sided exact permutation p by brute force: every ordering of y against x, as extreme as observed in
    either direction (2 x the smaller tail, capped at 1; ties within 1e-12 count as extreme)."""
    observed = statistic(x, y)
    null = np.array([statistic(x, np.array(p)) for p in permutations(y)])
    assert null.size == math.factorial(len(x))
    tol = 1e-12
    return min(1.0, 2 * min(np.mean(null >= observed - tol), np.mean(null <= observed + tol)))


def _pearson(a, b):
    return np.corrcoef(a, b)[0, 1]


def _spearman(a, b):
    # no ties in the data below: ranks are argsort of argsort
    return np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]


def _kendall(a, b):
    n = len(a)
    s = sum(np.sign(a[j] - a[i]) * np.sign(b[j] - b[i]) for i in range(n) for j in range(i + 1, n))
    return s / (n * (n - 1) / 2)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([3.0, 1.0, 4.0, 1.5, 5.0], [2.0, 7.0, 1.0, 8.0, 2.5]),
        ([0.2, 0.9, 0.4, 0.7, 0.1, 0.6], [0.30, 0.80, 0.35, 0.50, 0.20, 0.90]),
    ],
)
def test_exact_p_equals_a_full_enumeration_for_every_statistic(x, y) -> None:
    x, y = np.array(x), np.array(y)
    out = correlate(x, y, n_bootstrap=200, n_permutations=100, confidence=0.9, seed=1)
    assert out["p_method"] == "exact" and out["n_permutations"] == math.factorial(len(x))
    for name, statistic in (("pearson", _pearson), ("spearman", _spearman), ("kendall", _kendall)):
        assert out[name]["estimate"] == pytest.approx(statistic(x, y))
        assert out[name]["p_permutation"] == pytest.approx(_enumerated_p(x, y, statistic)), name


def test_seven_points_are_exact_ten_are_monte_carlo() -> None:
    rng = np.random.default_rng(5)
    seven = correlate(rng.normal(size=7), rng.normal(size=7), **KW)  # 7! = 5040 > 5000 resamples: still exact
    assert (seven["p_method"], seven["n_permutations"]) == ("exact", 5040)
    assert "exact (7! = 5040 pairings)" in seven["method"]["permutation"]
    x = rng.normal(size=10)
    ten = correlate(x, x + rng.normal(size=10), **KW)  # 10! = 3,628,800 >= 1,000,000
    assert (ten["p_method"], ten["n_permutations"]) == ("monte_carlo", 5000)
    for name in ("spearman", "pearson", "kendall"):
        # Monte Carlo: two-sided p = 2 (k + 1) / (5000 + 1) for a whole k (unless capped at 1)
        p = ten[name]["p_permutation"]
        assert p == 1.0 or p * 5001 / 2 == pytest.approx(round(p * 5001 / 2))


def test_kendall_estimate_is_scipys_tau_b_with_ties() -> None:
    x = [1.0, 2.0, 2.0, 3.0, 5.0, 4.0, 6.0]
    y = [0.3, 0.1, 0.4, 0.4, 0.9, 0.5, 0.8]
    out = correlate(x, y, **KW)
    ref = stats.kendalltau(x, y)
    assert out["kendall"]["estimate"] == pytest.approx(ref.statistic)
    assert out["kendall"]["p_analytic"] == pytest.approx(ref.pvalue)
    r = out["kendall"]
    assert -1.0 <= r["ci_low"] <= r["estimate"] <= r["ci_high"] <= 1.0
    # by hand: 21 pairs; x ties once (2, 2), y ties once (0.4, 0.4); concordant 17, discordant 2
    assert out["kendall"]["estimate"] == pytest.approx((17 - 2) / math.sqrt(20 * 20))
