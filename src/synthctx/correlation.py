"""Spearman/Pearson/Kendall correlation with bootstrap CIs and permutation p-values for
small numbers of conditions (e.g. retrieval-head similarity vs. downstream gain).

The permutation p is exact (every one of the n! pairings of y with x) when n! < EXACT_LIMIT, and Monte
Carlo (`n_permutations` random pairings) above; the output says which (`p_method`, `n_permutations`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

_NAN_RESULT: dict[str, float] = {
    "estimate": math.nan,
    "ci_low": math.nan,
    "ci_high": math.nan,
    "p_permutation": math.nan,
    "p_analytic": math.nan,
}

EXACT_LIMIT = 1_000_000  # enumerate all n! pairings below this (n <= 9)
_BATCH = 50_000  # pairings per vectorised call, to bound memory in the exact test
STATISTICS = ("spearman", "pearson", "kendall")

_SUPPRESSED = (
    stats.ConstantInputWarning,
    stats.NearConstantInputWarning,
    stats.DegenerateDataWarning,
)


def _pearson_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Pearson r along axis (NaN for constant slices)."""
    return stats.pearsonr(x, y, axis=axis).statistic


def _spearman_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Spearman rho as Pearson r of average ranks, identical to spearmanr."""
    return stats.pearsonr(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis=axis).statistic


def _kendall_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised Kendall tau-b, identical to kendalltau: sum over pairs i < j of sign(dx) sign(dy), divided
    by sqrt(pairs untied in x * pairs untied in y); NaN when either is constant."""
    x, y = np.moveaxis(np.asarray(x, dtype=float), axis, -1), np.moveaxis(np.asarray(y, dtype=float), axis, -1)
    i, j = np.triu_indices(x.shape[-1], k=1)
    sx, sy = np.sign(x[..., j] - x[..., i]), np.sign(y[..., j] - y[..., i])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(axis=-1) / np.sqrt((sx * sx).sum(axis=-1) * (sy * sy).sum(axis=-1))


def _percentile_ci(distribution: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """Percentile interval over the non-degenerate (finite) bootstrap statistics,
    plus the number of degenerate resamples ignored."""
    finite = distribution[np.isfinite(distribution)]
    n_degenerate = int(distribution.size - finite.size)
    if finite.size == 0:
        return math.nan, math.nan, n_degenerate
    alpha = (1.0 - confidence) / 2.0
    low, high = stats.quantile(finite, np.array([alpha, 1.0 - alpha]))
    return float(low), float(high), n_degenerate


def _one_statistic(
    x: np.ndarray,
    y: np.ndarray,
    statistic: Callable[..., np.ndarray],
    analytic: Callable[..., Any],
    *,
    n_bootstrap: int,
    n_permutations: int,
    confidence: float,
    boot_seed: np.random.SeedSequence,
    perm_seed: np.random.SeedSequence,
) -> tuple[dict[str, float], int]:
    """Estimate, analytic p, paired percentile bootstrap CI and pairings
    permutation p for one correlation statistic."""
    ref = analytic(x, y)
    boot = stats.bootstrap(
        (x, y),
        statistic,
        n_resamples=n_bootstrap,
        paired=True,
        vectorized=True,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(boot_seed),
    )
    ci_low, ci_high, n_degenerate = _percentile_ci(np.asarray(boot.bootstrap_distribution, dtype=float), confidence)
    perm = stats.permutation_test(
        (y,),  # permute y only: its n! re-pairings with x
        lambda y_perm, axis=-1: statistic(x, y_perm, axis=axis),
        permutation_type="pairings",
        n_resamples=n_permutations,
        vectorized=True,
        batch=_BATCH,
        alternative="two-sided",
        rng=np.random.default_rng(perm_seed),
    )
    result = {
        "estimate": float(ref.statistic),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_permutation": float(perm.pvalue),
        "p_analytic": float(ref.pvalue),
    }
    return result, n_degenerate


def permutation_plan(n: int, n_permutations: int) -> tuple[str, int]:
    """("exact", n!) when n! < EXACT_LIMIT or n! <= n_permutations (scipy then enumerates every pairing), else
    ("monte_carlo", n_permutations)."""
    orderings = math.factorial(n)
    if orderings < EXACT_LIMIT or orderings <= n_permutations:
        return "exact", orderings
    return "monte_carlo", n_permutations


def correlate(
    x: Sequence[float],
    y: Sequence[float],
    *,
    n_bootstrap: int,
    n_permutations: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """Spearman, Pearson and Kendall (tau-b) correlation with paired percentile bootstrap CIs and
    pairings-permutation p-values, deterministic for a given seed. The permutation p is exact (all n!
    pairings) when n! < EXACT_LIMIT, else Monte Carlo over `n_permutations` pairings: "p_method" and
    "n_permutations" say which and how many.

    Pairs with a NaN in either value are dropped first. With n < 3 or a constant
    x or y every number is NaN. Bootstrap resamples that are constant (statistic
    undefined) are ignored: the CI is the percentile interval of the remaining
    resamples, and their count is reported in "n_degenerate_resamples". All
    statistics use the same bootstrap resamples and the same permutations.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 1 or n_permutations < 1:
        raise ValueError("n_bootstrap and n_permutations must be positive")
    x_arr = np.asarray(x, dtype=float).ravel()
    y_arr = np.asarray(y, dtype=float).ravel()
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y differ in length: {x_arr.size} vs {y_arr.size}")
    keep = ~(np.isnan(x_arr) | np.isnan(y_arr))
    x_arr, y_arr = x_arr[keep], y_arr[keep]
    if np.isinf(x_arr).any() or np.isinf(y_arr).any():
        raise ValueError("x and y must not contain infinite values")
    n = int(x_arr.size)

    p_method, n_perm = permutation_plan(n, n_permutations)
    out: dict[str, Any] = {
        "n": n,
        "n_dropped": int((~keep).sum()),
        "confidence": confidence,
        **{name: dict(_NAN_RESULT) for name in STATISTICS},
        "n_degenerate_resamples": dict.fromkeys(STATISTICS, 0),
        "p_method": p_method,
        "n_permutations": n_perm,
        "method": {
            "estimate": (
                "scipy.stats.spearmanr / scipy.stats.pearsonr / scipy.stats.kendalltau (tau-b) "
                "(p_analytic from the same)"
            ),
            "bootstrap": (
                f"paired percentile, scipy.stats.bootstrap, {n_bootstrap} resamples; "
                "constant (degenerate) resamples ignored"
            ),
            "permutation": (
                "pairings, scipy.stats.permutation_test, two-sided, "
                + (
                    f"exact ({n}! = {n_perm} pairings)"
                    if p_method == "exact"
                    else f"Monte Carlo ({n_perm} resamples, p = (hits + 1) / ({n_perm} + 1))"
                )
            ),
            "nan_handling": "pairs with NaN in x or y dropped before analysis",
        },
    }
    if n < 3 or np.ptp(x_arr) == 0 or np.ptp(y_arr) == 0:
        return out

    seeds = np.random.SeedSequence(seed).spawn(2)
    with warnings.catch_warnings():
        for category in _SUPPRESSED:
            warnings.simplefilter("ignore", category)
        for name, statistic, analytic in (
            ("spearman", _spearman_stat, stats.spearmanr),
            ("pearson", _pearson_stat, stats.pearsonr),
            ("kendall", _kendall_stat, stats.kendalltau),
        ):
            out[name], out["n_degenerate_resamples"][name] = _one_statistic(
                x_arr,
                y_arr,
                statistic,
                analytic,
                n_bootstrap=n_bootstrap,
                n_permutations=n_perm,
                confidence=confidence,
                boot_seed=seeds[0],
                perm_seed=seeds[1],
            )
    return out


def weak_evidence_note(n: int) -> str:
    """One-sentence caveat on what a correlation across n conditions can show."""
    return (
        f"With only n={n} conditions this correlation is weak evidence: its confidence "
        "interval is wide, a single condition can swing it, and as an observational "
        "association it cannot show that the factor causes the difference."
    )
