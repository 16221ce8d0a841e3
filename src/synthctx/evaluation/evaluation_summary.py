"""An evaluation's summary from its per-example predictions: kept free of torch so that the analysis stages and
`verify` (the reviewer's check, no model stack) can recompute what an evaluation job wrote."""

from __future__ import annotations

from typing import Any

from synthctx.analysis.correlation import mean_ci
from synthctx.data import tasks


def summarise(task: str, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of every metric over the predictions that have it (support F1: only those that cite), each with
    `<metric>_ci_low` / `<metric>_ci_high`: the 95 % percentile bootstrap interval of that mean over the test
    examples (scipy.stats.bootstrap, 2000 resamples, seed 0), so one run's F1 carries its sampling error.
    The interval is NaN with fewer than 2 values (no spread to estimate); when all values are equal it is
    low = high = the mean. `ci_method` says this in words."""
    ci = {"n_resamples": 2000, "confidence": 0.95, "seed": 0}
    keys = sorted({k for p in predictions for k in p["metrics"]})
    summary: dict[str, Any] = {"n_examples": len(predictions), "metric": tasks.get(task).metric}
    for k in keys:
        values = [p["metrics"][k] for p in predictions if k in p["metrics"]]
        summary[k] = sum(values) / len(values)
        summary[f"n_{k}"] = len(values)
        if len(values) >= 2 and min(values) == max(values):
            summary[f"{k}_ci_low"] = summary[f"{k}_ci_high"] = summary[k]
        else:
            summary[f"{k}_ci_low"], summary[f"{k}_ci_high"] = mean_ci(values, **ci)
    summary["ci_method"] = (
        f"{ci['confidence']:.0%} percentile bootstrap of the mean over test examples "
        f"(scipy.stats.bootstrap, {ci['n_resamples']} resamples, seed {ci['seed']}); "
        "NaN with fewer than 2 values; low = high = the mean when all values are equal"
    )
    return summary
