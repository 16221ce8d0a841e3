"""Paired tests for the claims: per-example differences d_1..d_n of two configurations scored on the same
examples, their mean, SD, a paired-t interval, an exact (or seeded Monte Carlo) sign-flip permutation p, the
minimal detectable effect, Holm's step-down adjustment across a claim's family, Fieller's interval of a
ratio of paired means, and a condition-level permutation test of a correlation pooled over seeds.

Pairing matters: two configurations on the same examples share each example's difficulty, so the spread of
their difference is far smaller than the spread of either (docs/method.md, "The claims as computed")."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
EXACT_SIGN_FLIPS = 20  # enumerate all 2^n sign vectors up to this n (2^20 = 1,048,576)
EXACT_CONDITIONS = 8  # enumerate all C! orderings of conditions up to this C (8! = 40,320)
EXACT_STRATIFIED = 200_000  # enumerate every combination of per-task orderings up to this many
_TIE = 1e-9  # relative tolerance: a resampled statistic this close to the observed one counts as extreme


def _clean(d: Sequence[float]) -> np.ndarray:
    arr = np.asarray(d, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError("paired differences must be finite")
    return arr


def _sign_flip_sums(d: np.ndarray) -> np.ndarray:
    """sum_i s_i d_i for every one of the 2^n sign vectors s (built one example at a time: 2^n floats)."""
    sums = np.zeros(1)
    for v in d:
        sums = np.concatenate([sums + v, sums - v])
    return sums


def sign_flip_p(
    d: Sequence[float], *, n_draws: int = 10_000, seed: int = 0, exact_max: int = EXACT_SIGN_FLIPS
) -> tuple[float, str, int]:
    """Two-sided sign-flip permutation p of mean(d) = 0, with how it was computed: (p, "exact", 2^n) over every
    sign vector when n <= exact_max, else (p, "monte_carlo", n_draws) with p = (hits + 1) / (n_draws + 1) over
    seeded random sign vectors. Under the null each difference is symmetric about 0, so flipping its sign
    leaves the distribution unchanged; a vector counts when |sum s_i d_i| >= |sum d_i| (up to rounding).
    NaN for n = 0."""
    arr = _clean(d)
    if arr.size == 0:
        return math.nan, "none", 0
    observed = abs(float(arr.sum()))
    tol = _TIE * max(1.0, float(np.abs(arr).sum()))
    if arr.size <= exact_max:
        sums = _sign_flip_sums(arr)
        return float(np.count_nonzero(np.abs(sums) >= observed - tol) / sums.size), "exact", int(sums.size)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_draws, 10_000):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(10_000, n_draws - start), arr.size))
        hits += int(np.count_nonzero(np.abs(signs @ arr) >= observed - tol))
    return (hits + 1) / (n_draws + 1), "monte_carlo", n_draws


def t_interval(d: Sequence[float], confidence: float = 1 - ALPHA) -> tuple[float, float]:
    """Paired-t interval of mean(d): mean +- t_{n-1, (1+confidence)/2} * SD / sqrt(n) (SD with n - 1);
    NaN, NaN with fewer than 2 differences."""
    arr = _clean(d)
    if arr.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return float(arr.mean()) - half, float(arr.mean()) + half


def mde(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimal detectable effect of a two-sided paired test at level alpha with the given power, by the
    normal approximation (z_{1-alpha/2} + z_power) * SD / sqrt(n) (slightly optimistic for small n, where
    the t version would be larger). NaN for n < 2 or a non-finite SD."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * sd / math.sqrt(n))


def paired_summary(
    d: Sequence[float], *, confidence: float = 1 - ALPHA, n_draws: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """n, mean, SD, the paired-t interval, the sign-flip p (and how) and the MDE at 80 % power of one
    vector of paired differences."""
    arr = _clean(d)
    n = int(arr.size)
    sd = float(arr.std(ddof=1)) if n >= 2 else math.nan
    lo, hi = t_interval(arr, confidence)
    p, method, n_perm = sign_flip_p(arr, n_draws=n_draws, seed=seed)
    return {
        "n_examples": n,
        "mean": float(arr.mean()) if n else math.nan,
        "sd": sd,
        "ci": [lo, hi],
        "p": p,
        "p_method": method,
        "n_sign_vectors": n_perm,
        "mde": mde(sd, n, 1 - confidence),
    }


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: sorted ascending, the i-th (from 0) of m is
    multiplied by m - i, a running maximum keeps them monotone, capped at 1. NaN p-values are not part of
    the family (m counts the finite ones) and stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out.tolist()


def fieller_ratio(a: Sequence[float], b: Sequence[float], confidence: float = 1 - ALPHA) -> tuple[float, float, float]:
    """mean(a) / mean(b) for paired a, b and Fieller's interval: the thetas whose paired t of a_i - theta b_i
    is within +-t_{n-1}. (ratio, NaN, NaN) when the interval is unbounded (mean(b) not itself distinguishable
    from 0), or with fewer than 2 pairs."""
    x, y = _clean(a), _clean(b)
    if x.size != y.size:
        raise ValueError(f"a and b differ in length: {x.size} vs {y.size}")
    n = x.size
    ratio = float(x.mean() / y.mean()) if n and y.mean() != 0 else math.nan
    if n < 2:
        return ratio, math.nan, math.nan
    t2 = float(stats.t.ppf((1 + confidence) / 2, n - 1)) ** 2
    cov = np.cov(x, y, ddof=1) / n
    qa = y.mean() ** 2 - t2 * cov[1, 1]
    qb = x.mean() * y.mean() - t2 * cov[0, 1]
    qc = x.mean() ** 2 - t2 * cov[0, 0]
    disc = qb * qb - qa * qc
    if qa <= 0 or disc < 0:
        return ratio, math.nan, math.nan
    root = math.sqrt(disc)
    return ratio, float((qb - root) / qa), float((qb + root) / qa)


def pooled_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of x (N,) against each row of y (..., N): the Pearson r of average ranks."""
    rx = stats.rankdata(x)
    ry = stats.rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(), ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry @ rx) / np.sqrt((rx @ rx) * (ry * ry).sum(axis=-1))


def condition_permutation_p(
    x: Any,
    y: Any,
    *,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray] = pooled_spearman,
    n_permutations: int = 10_000,
    seed: int = 0,
    exact_max: int = EXACT_CONDITIONS,
) -> tuple[float, float, str, int]:
    """Permutation test of a correlation pooled over seeds: x and y are (seeds, conditions); y's conditions
    are re-ordered by ONE permutation applied in every seed (a condition's seeds move together, so a
    condition's stable effect stays a unit, which is the null's symmetry). The statistic is computed on the
    flattened pairs; two-sided as |T| >= |T_obs|. Exact over all C! orderings when C <= exact_max
    (statistic, p, "exact", C!), else seeded Monte Carlo with p = (hits + 1) / (n_permutations + 1)."""
    xa, ya = np.atleast_2d(np.asarray(x, dtype=float)), np.atleast_2d(np.asarray(y, dtype=float))
    if xa.shape != ya.shape:
        raise ValueError(f"x and y differ in shape: {xa.shape} vs {ya.shape}")
    n_cond = xa.shape[1]
    observed = float(statistic(xa.ravel(), ya.ravel()))
    if not math.isfinite(observed):
        return observed, math.nan, "none", 0
    if n_cond <= exact_max:
        orders = np.array(list(itertools.permutations(range(n_cond))), dtype=np.intp)
        method = "exact"
    else:
        rng = np.random.default_rng(seed)
        orders = np.argsort(rng.random((n_permutations, n_cond)), axis=1)
        method = "monte_carlo"
    null = statistic(xa.ravel(), ya[:, orders].transpose(1, 0, 2).reshape(len(orders), -1))
    hits = int(np.count_nonzero(np.abs(null) >= abs(observed) - _TIE))
    p = hits / len(orders) if method == "exact" else (hits + 1) / (len(orders) + 1)
    return observed, float(p), method, int(len(orders))


def _orderings(n_cond: int, n_permutations: int, rng: np.random.Generator, exact: bool) -> np.ndarray:
    """Every ordering of n_cond conditions (exact) or n_permutations random ones, as index rows."""
    if exact:
        return np.array(list(itertools.permutations(range(n_cond))), dtype=np.intp).reshape(-1, n_cond)
    return np.argsort(rng.random((n_permutations, n_cond)), axis=1)


def stratified_condition_permutation_p(
    blocks: Sequence[tuple[Any, Any]],
    *,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray] = pooled_spearman,
    n_permutations: int = 10_000,
    seed: int = 0,
    exact_max: int = EXACT_STRATIFIED,
) -> tuple[float, float, str, int]:
    """Task-stratified condition permutation test: each block is one task's (x, y), each (seeds, conditions).
    The statistic is the MEAN over tasks of each task's pooled statistic; the null permutes y's conditions
    within each task (one permutation per task, applied in every seed of that task), tasks independently.
    Exact over every combination (prod C_t!) when that is <= exact_max ("exact"), else seeded Monte Carlo
    (an independent random ordering per task in each draw, p = (hits + 1) / (n + 1)); two-sided |T| >= |T_obs|.
    NaN p when a task's statistic is undefined or there is no block."""
    pairs = [(np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))) for x, y in blocks]
    if not pairs:
        return math.nan, math.nan, "none", 0
    per_task = [float(statistic(x.ravel(), y.ravel())) for x, y in pairs]
    observed = float(np.mean(per_task))
    if not all(math.isfinite(t) for t in per_task):
        return observed, math.nan, "none", 0
    total = math.prod(math.factorial(x.shape[1]) for x, _ in pairs)
    exact = total <= exact_max
    rng = np.random.default_rng(seed)
    null = np.zeros(1) if exact else np.zeros(n_permutations)
    for x, y in pairs:
        orders = _orderings(x.shape[1], n_permutations, rng, exact)
        t = statistic(x.ravel(), y[:, orders].transpose(1, 0, 2).reshape(len(orders), -1)) / len(pairs)
        null = (null[:, None] + t[None, :]).ravel() if exact else null + t
    hits = int(np.count_nonzero(np.abs(null) >= abs(observed) - _TIE))
    if exact:
        return observed, hits / null.size, "exact", int(null.size)
    return observed, (hits + 1) / (n_permutations + 1), "monte_carlo", n_permutations


def correlation_mde(n_conditions: float, alpha: float = ALPHA, power: float = POWER, n_tasks: int = 1) -> float:
    """Smallest Spearman rho a two-sided test over n_conditions conditions detects with the given power, by
    Fisher's z with the Spearman variance 1.06 / (n - 3) (Fieller, Hartley and Pearson 1957): tanh((z_{1-alpha/2}
    + z_power) * sqrt(1.06 / (n - 3))). Conditions, not condition x seed pairs, are the units (a condition's
    seeds share its training data). For a mean over n_tasks tasks sharing the n_conditions equally, the
    variance is that of one task (n_conditions / n_tasks conditions) divided by n_tasks. NaN with 3 or fewer
    conditions per task."""
    per_task = n_conditions / max(n_tasks, 1)
    if not per_task > 3:
        return math.nan
    se = math.sqrt(1.06 / (per_task - 3) / max(n_tasks, 1))
    return float(math.tanh((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se))
