"""Does head recall predict a condition's F1 it has not seen? Leave-one-out least squares across conditions.

A correlation says recall and F1 move together; leaving each condition out, fitting F1 = a + b * recall on
the rest and predicting the held-out F1 says how well recall would have ranked a new training set."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def _rank(value: float, others: Sequence[float]) -> int:
    """1 + how many of the others are strictly higher: rank 1 is the best F1, ties share the better rank."""
    return 1 + sum(1 for o in others if o > value)


def leave_one_out(recall: Sequence[float], f1: Sequence[float], labels: Sequence[str]) -> dict[str, Any]:
    """For each condition, fit F1 = a + b * recall (scipy.stats.linregress) on the other conditions and predict
    its F1.

    Rows with NaN recall or NaN F1 are dropped before anything else (they can neither be fitted nor predicted)
    and listed under "dropped"; every rank and fit is over the remaining conditions. Each row of "rows" holds
    label, recall, f1, f1_predicted, abs_error, rank_actual (the held-out condition's rank among all remaining
    conditions by actual F1, 1 = best), rank_predicted (the same rank with its predicted F1 in place of its
    actual one, the others keeping their actual F1), rank_right (the two ranks agree), n_fit (conditions in the
    fit), intercept and slope. With fewer than 2 conditions to fit on, or all of them at one recall, the line
    is undefined: f1_predicted, abs_error, intercept and slope are NaN and rank_predicted, rank_right None."""
    r = np.asarray(recall, dtype=float).ravel()
    f = np.asarray(f1, dtype=float).ravel()
    names = list(labels)
    if not (r.size == f.size == len(names)):
        raise ValueError(f"recall, f1 and labels differ in length: {r.size}, {f.size}, {len(names)}")
    keep = ~(np.isnan(r) | np.isnan(f))
    dropped = [name for name, k in zip(names, keep) if not k]
    r, f = r[keep], f[keep]
    names = [name for name, k in zip(names, keep) if k]
    rows = []
    for i, name in enumerate(names):
        others = np.arange(r.size) != i
        fit_r, fit_f = r[others], f[others]
        row: dict[str, Any] = {
            "label": name,
            "recall": float(r[i]),
            "f1": float(f[i]),
            "f1_predicted": math.nan,
            "abs_error": math.nan,
            "rank_actual": _rank(f[i], fit_f.tolist()),
            "rank_predicted": None,
            "rank_right": None,
            "n_fit": int(fit_r.size),
            "intercept": math.nan,
            "slope": math.nan,
        }
        if fit_r.size >= 2 and np.ptp(fit_r) > 0:
            line = stats.linregress(fit_r, fit_f)
            predicted = float(line.intercept + line.slope * r[i])
            row["f1_predicted"] = predicted
            row["abs_error"] = abs(predicted - float(f[i]))
            row["rank_predicted"] = _rank(predicted, fit_f.tolist())
            row["rank_right"] = row["rank_predicted"] == row["rank_actual"]
            row["intercept"], row["slope"] = float(line.intercept), float(line.slope)
        rows.append(row)
    return {"rows": rows, "dropped": dropped}
