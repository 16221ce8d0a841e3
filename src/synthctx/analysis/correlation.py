"""Spearman/Pearson/Kendall correlation with bootstrap CIs and permutation p-values for
small numbers of conditions (e.g. retrieval-head similarity vs. downstream gain).

The permutation p is exact (every one of the n! pairings of y with x) when n! < EXACT_LIMIT, and Monte
Carlo (`n_permutations` random pairings) above; the output says which (`p_method`, `n_permutations`).

`correlate_pooled` pools conditions x seeds: its p permutes whole conditions, one permutation of the
conditions applied in every seed (`paired.condition_permutation_p`; a condition's stable effect moves as a unit,
the null's symmetry), and the bootstrap resamples whole conditions. `correlate_stratified` pools tasks: the mean
over tasks of each task's pooled statistic, conditions permuted within each task. `mean_ci` is the percentile
bootstrap interval of a mean that evaluation summaries and intervention tables share."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from synthctx.analysis import paired

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


def percentile_ci(distribution: np.ndarray, confidence: float) -> tuple[float, float, int]:
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
    ci_low, ci_high, n_degenerate = percentile_ci(np.asarray(boot.bootstrap_distribution, dtype=float), confidence)
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
    _check_settings(confidence, n_bootstrap, n_permutations)
    x_arr = np.asarray(x, dtype=float).ravel()
    y_arr = np.asarray(y, dtype=float).ravel()
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y differ in length: {x_arr.size} vs {y_arr.size}")
    x_arr, y_arr, keep = _without_nan(x_arr, y_arr)
    n = int(x_arr.size)
    p_method, n_perm = permutation_plan(n, n_permutations)
    permutation = (
        f"exact ({n}! = {n_perm} pairings)"
        if p_method == "exact"
        else f"Monte Carlo ({n_perm} resamples, p = (hits + 1) / ({n_perm} + 1))"
    )
    method = {
        "estimate": (
            "scipy.stats.spearmanr / scipy.stats.pearsonr / scipy.stats.kendalltau (tau-b) (p_analytic from the same)"
        ),
        "bootstrap": (
            f"paired percentile, scipy.stats.bootstrap, {n_bootstrap} resamples; "
            "constant (degenerate) resamples ignored"
        ),
        "permutation": "pairings, scipy.stats.permutation_test, two-sided, " + permutation,
    }
    out = _undefined_result(n, int((~keep).sum()), {}, confidence, p_method, n_perm, method)
    if n < 3 or np.ptp(x_arr) == 0 or np.ptp(y_arr) == 0:
        return out
    seeds = np.random.SeedSequence(seed).spawn(2)
    with warnings.catch_warnings():
        for category in _SUPPRESSED:
            warnings.simplefilter("ignore", category)
        for name, statistic in _VECTORISED:
            out[name], out["n_degenerate_resamples"][name] = _one_statistic(
                x_arr,
                y_arr,
                statistic,
                _ANALYTIC[name],
                n_bootstrap=n_bootstrap,
                n_permutations=n_perm,
                confidence=confidence,
                boot_seed=seeds[0],
                perm_seed=seeds[1],
            )
    return out


def _check_settings(confidence: float, n_bootstrap: int, n_permutations: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 1 or n_permutations < 1:
        raise ValueError("n_bootstrap and n_permutations must be positive")


def _without_nan(x_arr: np.ndarray, y_arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs without a NaN in either value, and the mask that kept them; an infinite value is an error."""
    keep = ~(np.isnan(x_arr) | np.isnan(y_arr))
    x_arr, y_arr = x_arr[keep], y_arr[keep]
    if np.isinf(x_arr).any() or np.isinf(y_arr).any():
        raise ValueError("x and y must not contain infinite values")
    return x_arr, y_arr, keep


def _undefined_result(
    n: int,
    n_dropped: int,
    counts: dict[str, int],
    confidence: float,
    p_method: str,
    n_perm: int,
    method: dict[str, str],
) -> dict[str, Any]:
    """The result with every statistic NaN (what n < 3 or a constant x or y gives), `counts` after n_dropped."""
    return {
        "n": n,
        "n_dropped": n_dropped,
        **counts,
        "confidence": confidence,
        **{name: dict(_NAN_RESULT) for name in STATISTICS},
        "n_degenerate_resamples": dict.fromkeys(STATISTICS, 0),
        "p_method": p_method,
        "n_permutations": n_perm,
        "method": {**method, "nan_handling": "pairs with NaN in x or y dropped before analysis"},
    }


def weak_evidence_note(n: int) -> str:
    """One-sentence caveat on what a correlation across n conditions can show."""
    return (
        f"With only n={n} conditions this correlation is weak evidence: its confidence "
        "interval is wide, a single condition can swing it, and as an observational "
        "association it cannot show that the factor causes the difference."
    )


def mean_ci(
    values: Sequence[float], *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (scipy.stats.bootstrap, deterministic for a seed).

    NaN, NaN with fewer than 2 values or any non-finite value: no spread can be estimated. When every value
    is the same, low = high = their mean: every resample's mean is that value (scipy's would differ from it
    by rounding)."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < 2 or not np.isfinite(arr).all():
        return math.nan, math.nan
    if np.ptp(arr) == 0:
        return float(np.mean(arr)), float(np.mean(arr))
    res = stats.bootstrap(
        (arr,),
        np.mean,
        n_resamples=n_resamples,
        vectorized=True,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


_VECTORISED = (("spearman", _spearman_stat), ("pearson", _pearson_stat), ("kendall", _kendall_stat))
_ANALYTIC = {"spearman": stats.spearmanr, "pearson": stats.pearsonr, "kendall": stats.kendalltau}


def within_group_plan(group_sizes: Sequence[int], n_permutations: int) -> tuple[str, int]:
    """("exact_within_seed", prod n_g!) when that number of within-group orderings is < EXACT_LIMIT, else
    ("monte_carlo_within_seed", n_permutations)."""
    orderings = math.prod(math.factorial(int(n)) for n in group_sizes)
    if orderings < EXACT_LIMIT:
        return "exact_within_seed", orderings
    return "monte_carlo_within_seed", n_permutations


def _exact_orderings(members: list[np.ndarray], n: int) -> Any:
    """Every combination of within-group orderings, as index arrays (batch, n) into y, in batches."""
    perms = [np.array(list(itertools.permutations(range(m.size))), dtype=np.intp).reshape(-1, m.size) for m in members]
    shape = tuple(p.shape[0] for p in perms)
    total = math.prod(shape)
    for start in range(0, total, _BATCH):
        digits = np.unravel_index(np.arange(start, min(start + _BATCH, total)), shape)
        order = np.empty((digits[0].size, n), dtype=np.intp)
        for m, p, d in zip(members, perms, digits):
            order[:, m] = m[p[d]]
        yield order


def _random_orderings(members: list[np.ndarray], n: int, n_permutations: int, rng: np.random.Generator) -> Any:
    """`n_permutations` random within-group orderings, as index arrays (batch, n) into y, in batches."""
    for start in range(0, n_permutations, _BATCH):
        size = min(_BATCH, n_permutations - start)
        order = np.empty((size, n), dtype=np.intp)
        for m in members:
            order[:, m] = m[np.argsort(rng.random((size, m.size)), axis=1)]
        yield order


def _two_sided_p(null: np.ndarray, observed: float, exact: bool) -> float:
    """scipy.stats.permutation_test's two-sided p: 2 x the smaller tail, ties within 100 eps of the observed
    counted as extreme, (hits + 1) / (n + 1) per tail when Monte Carlo; capped at 1."""
    gamma = abs(observed) * np.finfo(float).eps * 100
    adjustment = 0 if exact else 1
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (null.size + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (null.size + adjustment)
    return float(min(1.0, 2 * min(less, greater)))


def _condition_bootstrap(
    x: np.ndarray, y: np.ndarray, units: np.ndarray, statistic: Callable[..., np.ndarray], draws: np.ndarray
) -> np.ndarray:
    """Statistic on each resample of whole conditions: row `b` of `draws` lists condition indices (with
    repeats); a resample holds every row (all seeds) of each drawn condition. Resamples are grouped by their
    length so each length is one vectorised call."""
    rows = [np.flatnonzero(units == u) for u in range(int(units.max()) + 1)]
    sizes = np.array([r.size for r in rows])
    lengths = sizes[draws].sum(axis=1)
    out = np.empty(draws.shape[0])
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        index = np.stack([np.concatenate([rows[u] for u in draws[b]]) for b in which])
        out[which] = statistic(x[index], y[index], axis=-1)
    return out


def condition_plan(n_conditions: int, n_permutations: int) -> tuple[str, int]:
    """("exact_condition", C!) when C <= paired.EXACT_CONDITIONS (every ordering of the conditions), else
    ("monte_carlo_condition", n_permutations)."""
    if n_conditions <= paired.EXACT_CONDITIONS:
        return "exact_condition", math.factorial(n_conditions)
    return "monte_carlo_condition", n_permutations


def condition_grid(
    x: np.ndarray, y: np.ndarray, seed_labels: Sequence[Any], cond_labels: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y as (seeds, conditions) matrices, seeds and conditions in sorted order, when every condition has
    exactly one pair in every seed (what one permutation of conditions applied in every seed needs); else None."""
    seeds, conds = sorted({str(s) for s in seed_labels}), sorted({str(c) for c in cond_labels})
    cells = {(str(s), str(c)) for s, c in zip(seed_labels, cond_labels)}
    if len(cells) != len(seed_labels) or len(cells) != len(seeds) * len(conds):
        return None
    si, ci = {s: i for i, s in enumerate(seeds)}, {c: i for i, c in enumerate(conds)}
    xm, ym = np.empty((len(seeds), len(conds))), np.empty((len(seeds), len(conds)))
    for xv, yv, s, c in zip(x, y, seed_labels, cond_labels):
        xm[si[str(s)], ci[str(c)]], ym[si[str(s)], ci[str(c)]] = xv, yv
    return xm, ym


def _axis_last(statistic: Callable[..., np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda a, b: statistic(a, b, axis=-1)


def _int_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1)[0])


def correlate_pooled(
    x: Sequence[float],
    y: Sequence[float],
    *,
    seeds: Sequence[Any],
    conditions: Sequence[Any],
    n_bootstrap: int,
    n_permutations: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """Spearman, Pearson and Kendall (tau-b) correlation of (x, y) pooled over conditions x seeds, one pair
    per condition per seed, deterministic for `seed`.

    Permutation p (condition level): y's conditions are re-ordered by ONE permutation applied in every seed
    (`paired.condition_permutation_p`), so a condition's seeds move together: under the null a condition's
    F1 is unrelated to its recall, but a condition may carry a stable effect over its seeds, and permuting
    each seed separately would count those repeats as independent evidence (too small a p). Exact over all
    C! orderings when C <= paired.EXACT_CONDITIONS ("exact_condition"), else Monte Carlo over
    `n_permutations` orderings with p = (hits + 1) / (n + 1) ("monte_carlo_condition"); two-sided as
    |T| >= |T_obs|. When some condition lacks a seed (no complete grid) the p falls back to permuting y
    within each seed ("exact_within_seed" / "monte_carlo_within_seed", two-sided as scipy's 2 x smaller tail).

    Bootstrap CI: whole conditions (`conditions` labels the rows) are resampled with replacement, each drawn
    condition bringing its rows of every seed. Constant resamples are ignored, as in `correlate`.

    p_analytic is NaN: scipy's p would treat the pooled pairs as independent, which they are not.
    Pairs with NaN in x or y are dropped first; with n < 3 or a constant x or y every number is NaN."""
    _check_settings(confidence, n_bootstrap, n_permutations)
    x_arr, y_arr = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    seed_labels, cond_labels = list(seeds), list(conditions)
    if not (x_arr.size == y_arr.size == len(seed_labels) == len(cond_labels)):
        raise ValueError(
            f"x, y, seeds and conditions differ in length: {x_arr.size}, {y_arr.size}, "
            f"{len(seed_labels)}, {len(cond_labels)}"
        )
    x_arr, y_arr, keep = _without_nan(x_arr, y_arr)
    seed_labels = [s for s, k in zip(seed_labels, keep) if k]
    cond_labels = [c for c, k in zip(cond_labels, keep) if k]
    members, unit_ids = _seed_groups_and_units(seed_labels, cond_labels)
    grid = condition_grid(x_arr, y_arr, seed_labels, cond_labels)
    if grid is not None:
        p_method, n_perm = condition_plan(grid[0].shape[1], n_permutations)
    else:
        p_method, n_perm = within_group_plan([m.size for m in members], n_permutations)
    counts = {"n_seeds": len(members), "n_conditions": int(np.max(unit_ids, initial=-1)) + 1}
    method = _pooled_method(p_method, n_perm, n_bootstrap)
    out = _undefined_result(int(x_arr.size), int((~keep).sum()), counts, confidence, p_method, n_perm, method)
    if x_arr.size < 3 or np.ptp(x_arr) == 0 or np.ptp(y_arr) == 0:
        return out
    boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
    draws = np.random.default_rng(boot_seed).integers(0, out["n_conditions"], size=(n_bootstrap, out["n_conditions"]))
    with warnings.catch_warnings():
        for category in _SUPPRESSED:
            warnings.simplefilter("ignore", category)
        if grid is not None:
            p_values = {
                name: paired.condition_permutation_p(
                    *grid, statistic=_axis_last(statistic), n_permutations=n_perm, seed=_int_seed(perm_seed)
                )[1]
                for name, statistic in _VECTORISED
            }
        else:
            p_values = _within_seed_p(x_arr, y_arr, members, n_perm, p_method == "exact_within_seed", perm_seed)
        _pooled_statistics(out, x_arr, y_arr, p_values, unit_ids, draws, confidence)
    return out


def _pooled_method(p_method: str, n_perm: int, n_bootstrap: int) -> dict[str, str]:
    """The words `method` records for a pooled correlation."""
    permutation = {
        "exact_condition": f"one permutation of the conditions applied in every seed, exact (all {n_perm} orderings)",
        "monte_carlo_condition": "one permutation of the conditions applied in every seed, Monte Carlo "
        f"({n_perm} orderings, p = (hits + 1) / ({n_perm} + 1))",
        "exact_within_seed": f"y permuted within each seed (some condition lacks a seed), exact (all {n_perm} "
        "combinations of within-seed orderings)",
        "monte_carlo_within_seed": "y permuted within each seed (some condition lacks a seed), Monte Carlo "
        f"({n_perm} draws, p = (hits + 1) / ({n_perm} + 1) per tail)",
    }[p_method]
    return {
        "estimate": (
            "scipy.stats.spearmanr / scipy.stats.pearsonr / scipy.stats.kendalltau (tau-b) over the pooled "
            "condition x seed pairs; p_analytic not given (pooled pairs are not independent)"
        ),
        "bootstrap": (
            f"percentile, {n_bootstrap} resamples of whole conditions (all seeds of a drawn condition "
            "together); constant (degenerate) resamples ignored"
        ),
        "permutation": "two-sided, " + permutation,
    }


def _within_seed_p(
    x_arr: np.ndarray,
    y_arr: np.ndarray,
    members: list[np.ndarray],
    n_perm: int,
    exact: bool,
    perm_seed: np.random.SeedSequence,
) -> dict[str, float]:
    """Each statistic's p with y permuted within each seed (the fallback without a complete grid)."""
    n = x_arr.size
    rng = np.random.default_rng(perm_seed)
    orderings = _exact_orderings(members, n) if exact else _random_orderings(members, n, n_perm, rng)
    nulls: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
    for order in orderings:  # the same orderings for every statistic
        for name, statistic in _VECTORISED:
            nulls[name].append(statistic(x_arr, y_arr[order], axis=-1))
    return {
        name: _two_sided_p(np.concatenate(nulls[name]), float(statistic(x_arr, y_arr)), exact)
        for name, statistic in _VECTORISED
    }


def _seed_groups_and_units(seed_labels: list[Any], cond_labels: list[Any]) -> tuple[list[np.ndarray], Any]:
    """The row indices of each seed (the fallback permutation's groups) and each row's condition index (the
    bootstrap's unit); one pair per condition and seed."""
    if len(set(zip(seed_labels, cond_labels))) != len(seed_labels):
        raise ValueError("more than one pair for a condition and seed")
    seed_ids = np.unique(np.array([str(s) for s in seed_labels]), return_inverse=True)[1] if seed_labels else []
    members = [np.flatnonzero(seed_ids == g) for g in range(int(np.max(seed_ids, initial=-1)) + 1)]
    unit_ids = np.unique(np.array([str(c) for c in cond_labels]), return_inverse=True)[1] if cond_labels else []
    return members, unit_ids


def _pooled_statistics(
    out: dict[str, Any],
    x_arr: np.ndarray,
    y_arr: np.ndarray,
    p_values: dict[str, float],
    unit_ids: np.ndarray,
    draws: np.ndarray,
    confidence: float,
) -> None:
    """Every statistic's estimate, condition-bootstrap interval and permutation p, into `out`."""
    for name, statistic in _VECTORISED:
        boot = _condition_bootstrap(x_arr, y_arr, unit_ids, statistic, draws)
        ci_low, ci_high, out["n_degenerate_resamples"][name] = percentile_ci(boot, confidence)
        out[name] = {
            "estimate": float(_ANALYTIC[name](x_arr, y_arr).statistic),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "p_permutation": p_values[name],
            "p_analytic": math.nan,
        }


def correlate_stratified(
    blocks: Sequence[dict[str, Sequence[Any]]],
    *,
    n_bootstrap: int,
    n_permutations: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """A correlation pooled over tasks, stratified by task: each block is one task's pairs (keys x, y, seeds,
    conditions). The statistic is the MEAN over tasks of each task's pooled statistic (Spearman / Pearson /
    Kendall over that task's condition x seed pairs); its p permutes conditions within each task, one
    permutation per task applied in every seed of that task (`paired.stratified_condition_permutation_p`);
    its interval is the percentile bootstrap of that mean with whole conditions resampled within each task.
    A task enters only with a complete condition x seed grid, at least 3 pairs and neither x nor y constant;
    `n_tasks` counts those, `tasks_left_out` the others. Every number NaN when no task enters."""
    _check_settings(confidence, n_bootstrap, n_permutations)
    grids, left_out, n, units = [], 0, 0, []
    for b in blocks:
        x_arr, y_arr, keep = _without_nan(np.asarray(b["x"], float).ravel(), np.asarray(b["y"], float).ravel())
        s_lab = [s for s, k in zip(b["seeds"], keep) if k]
        c_lab = [c for c, k in zip(b["conditions"], keep) if k]
        grid = condition_grid(x_arr, y_arr, s_lab, c_lab) if x_arr.size >= 3 else None
        if grid is None or np.ptp(x_arr) == 0 or np.ptp(y_arr) == 0:
            left_out += 1
            continue
        grids.append(grid)
        n += x_arr.size
        units.append(grid[0].shape[1])
    total = math.prod(math.factorial(c) for c in units) if units else 0
    exact = 0 < total <= paired.EXACT_STRATIFIED
    p_method, n_perm = ("exact_stratified", total) if exact else ("monte_carlo_stratified", n_permutations)
    method = {
        "estimate": "mean over tasks of each task's pooled statistic (scipy's spearmanr / pearsonr / kendalltau)",
        "bootstrap": f"percentile, {n_bootstrap} resamples of whole conditions within each task",
        "permutation": "two-sided, conditions permuted within each task (one permutation per task, the same in "
        "every seed), " + ("exact over every combination" if p_method.startswith("exact") else "Monte Carlo"),
    }
    counts = {"n_tasks": len(grids), "tasks_left_out": left_out, "n_conditions": sum(units)}
    counts["n_seeds"] = max((g[0].shape[0] for g in grids), default=0)
    out = _undefined_result(n, 0, counts, confidence, p_method, n_perm, method)
    if not grids:
        return out
    boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
    with warnings.catch_warnings():
        for category in _SUPPRESSED:
            warnings.simplefilter("ignore", category)
        for name, statistic in _VECTORISED:
            est, p, _, _ = paired.stratified_condition_permutation_p(
                grids, statistic=_axis_last(statistic), n_permutations=n_permutations, seed=_int_seed(perm_seed)
            )
            rng = np.random.default_rng(boot_seed)
            boot = np.mean([_grid_bootstrap(g, statistic, rng, n_bootstrap) for g in grids], axis=0)
            ci_low, ci_high, out["n_degenerate_resamples"][name] = percentile_ci(boot, confidence)
            out[name] = {"estimate": est, "ci_low": ci_low, "ci_high": ci_high, "p_permutation": p}
            out[name]["p_analytic"] = math.nan
    return out


def _grid_bootstrap(
    grid: tuple[np.ndarray, np.ndarray], statistic: Callable[..., np.ndarray], rng: np.random.Generator, n: int
) -> np.ndarray:
    """The statistic on n resamples of whole conditions (columns, all seeds together) of one task's grid."""
    xm, ym = grid
    draws = rng.integers(0, xm.shape[1], size=(n, xm.shape[1]))
    xs = xm[:, draws].transpose(1, 0, 2).reshape(n, -1)
    ys = ym[:, draws].transpose(1, 0, 2).reshape(n, -1)
    return statistic(xs, ys, axis=-1)
