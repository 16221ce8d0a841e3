"""The paper's claims, each tested against this run's aggregate tables, with a verdict and the numbers used.

Verdicts are conservative: a small run must not read as a confirmation or a refutation.

* ``supported`` only when the interval (or the permutation p) excludes the null in the claimed direction;
* ``contradicted`` only when it excludes the claimed direction;
* ``not testable at this size`` otherwise: too few points, an interval that crosses the null, missing or
  undefined numbers (e.g. a real-synthetic gap of zero, where recovery is undefined).

Rules per claim (intervals are the tables' 95 % intervals; ``ALPHA`` = 0.05):

(a) Real data beats the synthetic variants on the real task, per task x model. F1 and its interval come
    from condition_means.csv (interval over seeds) where it is finite for the real condition and every
    synthetic one, widened to cover each seed's bootstrap interval over test examples from conditions.csv
    (so two nearly identical seeds cannot hide the test set's sampling error), else from conditions.csv
    alone when there is exactly one seed.
    Supported: the real interval lies wholly above every synthetic interval (non-overlapping intervals,
    stricter than a test of the difference). Contradicted: some synthetic interval lies wholly above the
    real one. No finite interval: not testable. The best synthetic variant (highest F1) is reported.
(b) Recall of the real model's retrieval heads correlates positively with F1 across conditions, per task x
    model: the Spearman row of correlations.csv with seed "pooled" (else the only seed), recall vs F1,
    teacher-forced, threshold set. Supported: ci_low > 0 and p_permutation < ALPHA (both). Contradicted:
    ci_high < 0 and p_permutation < ALPHA. Fewer than 3 points or an undefined rho: not testable.
(c) Knocking out the top-k heads hurts F1 (and, separately, gold log-prob) more than k random heads matched
    per layer, per task x model x head kind. k = 10 if present, else the largest k <= 10, else the largest.
    One run = condition x seed x semantics. A run supports when the top-k interval (over examples) lies
    wholly below every random_matched draw's interval, contradicts when it lies wholly above every one.
(d) Knocking out k random heads changes F1 by less than 0.05, per task x model (retrieval heads' k, both
    random controls, every draw). The change's interval is delta_f1_ci_low/high where the table has them,
    else the conservative [random ci_low - none ci_high, random ci_high - none ci_low] against the "none" row
    of the same condition x seed x semantics. A row supports when
    that interval lies inside (-0.05, 0.05), contradicts when it lies wholly outside it.
(e) Patching the real model's heads into a synthetic model recovers part of the gap, more than a random set
    of the same size, per task x model x head kind x metric (F1, log-prob). One run = synthetic condition x
    seed x set rule, head set all_real vs random. A run supports when all_real's recovery interval is above
    0 and above every random draw's interval (so a run without finite random intervals cannot support);
    contradicts when it is below 0 or below every random draw's interval; is undefined when all_real's
    recovery or its interval is NaN (real == synthetic overall or on resamples).
(f) The same for insight heads (MuSiQue, SummHay): (b), (c) and (e) with head kind "insight".

For (c), (d) and (e) the units (runs or rows) are combined by a majority rule: supported when more than
half of them support and none contradicts, contradicted when more than half contradict and none supports,
otherwise not testable (mixed or inconclusive). Marginal intervals compared for overlap are stricter than a
paired test, so "not testable" is the expected verdict for small runs.

leave_one_out and recall_by_step are accepted but give no verdict: the paper makes no claim about them
that the tables can test without a chance model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import polars as pl

from synthctx.analysis.tables import as_floats, condition_kind, distinct_rows, missing_columns
from synthctx.plan import conditions

SUPPORTED, CONTRADICTED, UNTESTABLE = "supported", "contradicted", "not testable at this size"
VERDICTS = (SUPPORTED, CONTRADICTED, UNTESTABLE)
ALPHA = 0.05
PAPER_K = 10
RANDOM_BOUND = 0.05
MODE, RULE = "teacher_forced", "threshold"
TABLES = ("conditions", "condition_means", "correlations", "leave_one_out", "knockout", "patching", "recall_by_step")

TEXT = {
    "a": "Fine-tuning on real data beats the best synthetic variant on the real task "
    "(paper, Llama-3: MDQA 0.83 vs 0.49 F1; MuSiQue and SummHay by 2-4 points).",
    "b": "Recall of the real-data model's retrieval heads correlates positively with real-task F1 across "
    "training-data conditions.",
    "c": "Knocking out the top-k retrieval heads lowers {metric} more than knocking out k random heads matched "
    "per layer (paper: k = 10).",
    "d": "Knocking out k random heads changes F1 by less than 0.05 (paper: k = 10).",
    "e": "Patching the real-data model's retrieval heads into a synthetic-data model recovers part of the "
    "{metric} gap, more than a random head set of the same size.",
    "f_b": "Recall of the real-data model's insight heads correlates positively with real-task F1 across "
    "conditions (MuSiQue, SummHay).",
    "f_c": "Knocking out the top-k insight heads lowers {metric} more than k random heads matched per layer.",
    "f_e": "Patching the real-data model's insight heads into a synthetic-data model recovers part of the "
    "{metric} gap, more than a random head set of the same size.",
}
METRIC_NAMES = {"f1": "F1", "gold_logprob": "gold-answer log-probability"}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: Any) -> float:
    """A table cell as a float, NaN for null / text / missing."""
    try:
        return float(x) if x is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if _finite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _entry(claim: str, text: str, task, model, kind, numbers: dict, verdict: str, reason: str) -> dict[str, Any]:
    assert verdict in VERDICTS
    return {
        "claim": claim,
        "text": text,
        "task": task,
        "model": model,
        "head_kind": kind,
        "numbers": numbers,
        "verdict": verdict,
        "reason": reason,
    }


def _majority(n_units: int, n_support: int, n_contradict: int) -> str:
    if n_units and n_support * 2 > n_units and not n_contradict:
        return SUPPORTED
    if n_units and n_contradict * 2 > n_units and not n_support:
        return CONTRADICTED
    return UNTESTABLE


def _tally(unit: str, n: int, n_support: int, n_contradict: int, extra: str = "") -> str:
    return f"{n_support} of {n} {unit} support, {n_contradict} contradict{extra}"


# ----------------------------------------------------------------------------------------------- (a)


def _f1_by_data(means: pl.DataFrame, per_seed: pl.DataFrame, task, model) -> tuple[dict, str]:
    """{data: (f1, lo, hi)} for one task x model and where the intervals come from."""
    need = ("task", "model", "data", "f1_mean", "f1_ci_low", "f1_ci_high")
    if not missing_columns(means, need):
        m = as_floats(means, "f1_mean", "f1_ci_low", "f1_ci_high", "n_seeds")
        m = m.filter((pl.col("task") == task) & (pl.col("model") == model)).sort("data")
        out = {}
        for r in m.unique("data", keep="first", maintain_order=True).iter_rows(named=True):
            out[str(r["data"])] = (_num(r["f1_mean"]), _num(r["f1_ci_low"]), _num(r["f1_ci_high"]))
        judged = [v for d, v in out.items() if condition_kind(d) in ("real", "synthetic")]
        if judged and all(_finite(lo) and _finite(hi) for _, lo, hi in judged):
            return _with_example_intervals(out, per_seed, task, model)
    need = ("task", "model", "data", "seed", "f1", "f1_ci_low", "f1_ci_high")
    if not missing_columns(per_seed, need):
        c = as_floats(per_seed, "f1", "f1_ci_low", "f1_ci_high")
        c = c.filter((pl.col("task") == task) & (pl.col("model") == model)).sort("data", "seed")
        runs = c.unique(["data", "seed"], keep="first", maintain_order=True)
        if runs.height and runs["seed"].n_unique() == 1:
            out = {
                str(r["data"]): (_num(r["f1"]), _num(r["f1_ci_low"]), _num(r["f1_ci_high"]))
                for r in runs.iter_rows(named=True)
            }
            return out, f"bootstrap interval over test examples (one seed, {runs['seed'][0]})"
    # points without intervals, for the numbers
    out = {}
    if not missing_columns(means, ("task", "model", "data", "f1_mean")):
        m = as_floats(means, "f1_mean").filter((pl.col("task") == task) & (pl.col("model") == model))
        for r in m.sort("data").unique("data", keep="first", maintain_order=True).iter_rows(named=True):
            out[str(r["data"])] = (_num(r["f1_mean"]), math.nan, math.nan)
    return out, "no interval"


def _with_example_intervals(seed_level: dict, per_seed: pl.DataFrame, task, model) -> tuple[dict, str]:
    """Widen each condition's interval over seeds to cover every seed's own bootstrap interval over test
    examples. An interval over two or three seeds says nothing of the test examples' sampling error: two
    seeds that barely separate the models give one of width ~0 while 24 examples leave F1 uncertain by
    +-0.2. The envelope ignores neither source (a hierarchical bootstrap would be tighter; the tables carry
    no per-example values)."""
    if missing_columns(per_seed, ("task", "model", "data", "f1_ci_low", "f1_ci_high")):
        return seed_level, "interval over seeds (condition_means)"
    c = as_floats(per_seed, "f1_ci_low", "f1_ci_high").filter((pl.col("task") == task) & (pl.col("model") == model))
    spans = c.group_by("data").agg(pl.col("f1_ci_low").min(), pl.col("f1_ci_high").max())
    widened = dict(seed_level)
    for r in spans.iter_rows(named=True):
        data = str(r["data"])
        if data in widened and _finite(r["f1_ci_low"]) and _finite(r["f1_ci_high"]):
            f1, lo, hi = widened[data]
            widened[data] = (f1, min(lo, r["f1_ci_low"]), max(hi, r["f1_ci_high"]))
    return widened, "envelope of the interval over seeds and each seed's bootstrap interval over test examples"


def real_beats_synthetic(tables: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    means, per_seed = tables["condition_means"], tables["conditions"]
    pairs = sorted(
        {
            p
            for t in (means, per_seed)
            if not missing_columns(t, ("task", "model"))
            for p in distinct_rows(t, ["task", "model"], none_as="None")
        },
        key=lambda r: tuple(str(v) for v in r),
    )
    if not pairs:
        return [_entry("a", TEXT["a"], None, None, None, {}, UNTESTABLE, "No condition F1 in the tables.")]
    out = []
    for task, model in pairs:
        f1, source_name = _f1_by_data(means, per_seed, task, model)
        real = f1.get(conditions.REAL)
        synth = {d: v for d, v in f1.items() if condition_kind(d) == "synthetic" and _finite(v[0])}
        numbers: dict[str, Any] = {"interval": source_name}
        if real is None or not _finite(real[0]) or not synth:
            what = "real-data condition" if real is None or not _finite(real[0]) else "synthetic condition"
            reason = f"No {what} with a finite F1 for {task}."
            out.append(_entry("a", TEXT["a"], task, model, None, numbers, UNTESTABLE, reason))
            continue
        best = max(sorted(synth), key=lambda d: synth[d][0])
        numbers |= {
            "real_f1": real[0],
            "real_ci": [real[1], real[2]],
            "best_synthetic": conditions.parse(best).label,
            "best_synthetic_f1": synth[best][0],
            "best_synthetic_ci": [synth[best][1], synth[best][2]],
            "n_synthetic": len(synth),
        }
        defined = _finite(real[1]) and _finite(real[2]) and all(_finite(v[1]) and _finite(v[2]) for v in synth.values())
        if not defined:
            reason = (
                f"Real {real[0]:.3f} vs best synthetic ({numbers['best_synthetic']}) {synth[best][0]:.3f}, but no "
                "interval: several seeds without a seed interval, or no per-example bootstrap."
            )
            verdict = UNTESTABLE
        elif real[1] > max(v[2] for v in synth.values()):
            verdict = SUPPORTED
            reason = (
                f"The real interval [{real[1]:.3f}, {real[2]:.3f}] lies above every synthetic interval "
                f"(best: {numbers['best_synthetic']} {synth[best][0]:.3f}, upper bound "
                f"{max(v[2] for v in synth.values()):.3f})."
            )
        elif (above := [d for d, v in sorted(synth.items()) if v[1] > real[2]]) != []:
            verdict = CONTRADICTED
            names = ", ".join(conditions.parse(d).label for d in above)
            reason = f"The interval of {names} lies wholly above the real interval [{real[1]:.3f}, {real[2]:.3f}]."
        else:
            verdict = UNTESTABLE
            reason = (
                f"Real {real[0]:.3f} [{real[1]:.3f}, {real[2]:.3f}] and best synthetic ({numbers['best_synthetic']}) "
                f"{synth[best][0]:.3f} [{synth[best][1]:.3f}, {synth[best][2]:.3f}]: the intervals overlap."
            )
        out.append(_entry("a", TEXT["a"], task, model, None, numbers, verdict, reason))
    return out


# ----------------------------------------------------------------------------------------------- (b), (f)


def recall_correlates(
    tables: dict[str, pl.DataFrame], kind: str, *, mode: str = MODE, rule: str = RULE, alpha: float = ALPHA
) -> list[dict[str, Any]]:
    claim, text = ("b", TEXT["b"]) if kind == "retrieval" else ("f", TEXT["f_b"])
    corr = tables["correlations"]
    need = ("task", "model", "seed", "head_kind", "scoring_mode", "set_rule", "x", "method", "n", "estimate")
    need += ("ci_low", "ci_high", "p_permutation")
    if missing := missing_columns(corr, need):
        reason = f"No correlation rows (the table lacks {', '.join(missing)})."
        return [_entry(claim, text, None, None, kind, {}, UNTESTABLE, reason)]
    rows = as_floats(corr, "n", "estimate", "ci_low", "ci_high", "p_permutation").with_columns(
        pl.col("seed").cast(pl.String)
    )
    rows = rows.filter(
        (pl.col("head_kind") == kind)
        & (pl.col("scoring_mode") == mode)
        & (pl.col("set_rule") == rule)
        & (pl.col("x") == "recall")
        & (pl.col("method") == "spearman")
    )
    pairs = distinct_rows(rows, ["task", "model"], none_as="None")
    if not pairs:
        reason = f"No Spearman recall-F1 row for {kind} heads ({mode}, {rule})."
        return [_entry(claim, text, None, None, kind, {}, UNTESTABLE, reason)]
    out = []
    for task, model in pairs:
        part = rows.filter((pl.col("task") == task) & (pl.col("model") == model)).sort("seed")
        pooled = part.filter(pl.col("seed") == "pooled")
        if pooled.height:
            r = pooled.row(0, named=True)
        elif part.height == 1:
            r = part.row(0, named=True)
        else:
            reason = f"{part.height} per-seed correlations and no pooled row: no single test to judge."
            out.append(_entry(claim, text, task, model, kind, {"n_seed_rows": part.height}, UNTESTABLE, reason))
            continue
        rho, lo, hi, p, n = (_num(r[c]) for c in ("estimate", "ci_low", "ci_high", "p_permutation", "n"))
        numbers = {"spearman": rho, "ci": [lo, hi], "p_permutation": p, "n": n, "seed": r["seed"]}
        numbers |= {"scoring_mode": mode, "set_rule": rule}
        n_txt = "?" if not _finite(n) else str(int(n))
        if not _finite(n) or n < 3:
            verdict, reason = UNTESTABLE, f"Only {n_txt} points: a correlation needs at least 3."
        elif not all(_finite(v) for v in (rho, lo, hi, p)):
            verdict = UNTESTABLE
            reason = f"Spearman rho is undefined over {n_txt} points (constant recall or F1)."
        elif lo > 0 and p < alpha:
            verdict = SUPPORTED
            reason = f"rho = {rho:.2f} over {n_txt} points, interval [{lo:.2f}, {hi:.2f}] above 0, p = {p:.3g}."
        elif hi < 0 and p < alpha:
            verdict = CONTRADICTED
            reason = f"rho = {rho:.2f} over {n_txt} points, interval [{lo:.2f}, {hi:.2f}] below 0, p = {p:.3g}."
        else:
            verdict = UNTESTABLE
            reason = f"rho = {rho:.2f} over {n_txt} points, interval [{lo:.2f}, {hi:.2f}], p = {p:.3g}: " + (
                "the interval crosses 0." if lo <= 0 <= hi else f"p is not below {alpha}."
            )
        out.append(_entry(claim, text, task, model, kind, numbers, verdict, reason))
    return out


# ----------------------------------------------------------------------------------------------- (c), (d)


def choose_k(ks: Iterable[Any]) -> int | None:
    """k = 10 if present, else the largest k <= 10, else the largest; None when there is none."""
    vals = sorted({int(k) for k in ks if _finite(_num(k))})
    if not vals:
        return None
    if PAPER_K in vals:
        return PAPER_K
    small = [k for k in vals if k <= PAPER_K]
    return small[-1] if small else vals[-1]


_KNOCKOUT_NEED = ("task", "model", "condition", "seed", "head_kind", "control", "k", "draw")


def _knockout(tables: dict[str, pl.DataFrame]) -> pl.DataFrame | str:
    ko = tables["knockout"]
    if missing := missing_columns(ko, _KNOCKOUT_NEED):
        return f"No knockout rows (the table lacks {', '.join(missing)})."
    cols = [f"{m}{s}" for m in ("f1", "gold_logprob", "delta_f1") for s in ("", "_ci_low", "_ci_high")]
    ko = as_floats(ko, *cols, "k", "n_heads")
    if "semantics" not in ko.columns:
        ko = ko.with_columns(pl.lit(None, dtype=pl.String).alias("semantics"))
    return ko.with_columns(pl.col("semantics").cast(pl.String))


def knockout_top_vs_random(tables: dict[str, pl.DataFrame], kind: str) -> list[dict[str, Any]]:
    claim, template = ("c", TEXT["c"]) if kind == "retrieval" else ("f", TEXT["f_c"])
    ko = _knockout(tables)
    if isinstance(ko, str):
        return [_entry(claim, template.format(metric="F1"), None, None, kind, {}, UNTESTABLE, ko)]
    rows = ko.filter((pl.col("head_kind") == kind) & pl.col("control").is_in(["top", "random_matched"]))
    pairs = distinct_rows(rows, ["task", "model"], none_as="None")
    if not pairs:
        reason = f"No top / random_matched knockout rows for {kind} heads."
        return [_entry(claim, template.format(metric="F1"), None, None, kind, {}, UNTESTABLE, reason)]
    out = []
    for task, model in pairs:
        part = rows.filter((pl.col("task") == task) & (pl.col("model") == model))
        both = set(part.filter(pl.col("control") == "top")["k"].to_list())
        both &= set(part.filter(pl.col("control") == "random_matched")["k"].to_list())
        k = choose_k(both)
        for metric in ("f1", "gold_logprob"):
            text = template.format(metric=METRIC_NAMES[metric])
            if k is None:
                reason = "No k with both a top-k and a matched random knockout."
                out.append(_entry(claim, text, task, model, kind, {"metric": metric}, UNTESTABLE, reason))
                continue
            at_k = part.filter(pl.col("k") == k)
            n_support = n_contradict = n_undefined = 0
            tops, rands, top_heads = [], [], []
            runs = distinct_rows(at_k, ["condition", "seed", "semantics"], none_as="None")
            for cond, seed, sem in runs:
                run = at_k.filter(
                    (pl.col("condition") == cond) & (pl.col("seed") == seed) & pl.col("semantics").eq_missing(sem)
                )
                top = run.filter(pl.col("control") == "top").sort("draw")
                rand = run.filter(pl.col("control") == "random_matched").sort("draw")
                if not top.height or not rand.height:
                    n_undefined += 1
                    continue
                t = top.row(0, named=True)
                if "n_heads" in t:
                    top_heads.append(_num(t["n_heads"]))
                tm, tl, th = (_num(t.get(f"{metric}{s}")) for s in ("", "_ci_low", "_ci_high"))
                rl = [_num(v) for v in rand[f"{metric}_ci_low"]] if f"{metric}_ci_low" in rand.columns else []
                rh = [_num(v) for v in rand[f"{metric}_ci_high"]] if f"{metric}_ci_high" in rand.columns else []
                tops.append(tm)
                rands.append(_mean(_num(v) for v in rand[metric]) if metric in rand.columns else math.nan)
                if not (_finite(tl) and _finite(th) and rl and rh and all(map(_finite, rl + rh))):
                    n_undefined += 1
                elif th < min(rl):
                    n_support += 1
                elif tl > max(rh):
                    n_contradict += 1
            n = len(runs)
            numbers = {
                "metric": metric,
                "k": k,
                "n_heads_top": _mean(top_heads),
                "top_mean": _mean(tops),
                "random_matched_mean": _mean(rands),
                "n_runs": n,
                "n_support": n_support,
                "n_contradict": n_contradict,
                "n_undefined": n_undefined,
            }
            verdict = _majority(n, n_support, n_contradict)
            tally = _tally("runs (condition x seed)", n, n_support, n_contradict)
            gap = f"mean {METRIC_NAMES[metric]} after top-{k} {numbers['top_mean']:.3g} vs matched random "
            gap += f"{numbers['random_matched_mean']:.3g}"
            if verdict == SUPPORTED:
                reason = f"{tally}: the top-{k} interval lies below every random draw's ({gap})."
            elif verdict == CONTRADICTED:
                reason = f"{tally}: the top-{k} interval lies above every random draw's ({gap})."
            else:
                why = f"{n_undefined} without finite intervals" if n_undefined else "the intervals overlap"
                reason = f"{tally} ({why}); {gap}."
            out.append(_entry(claim, text, task, model, kind, numbers, verdict, reason))
    return out


def random_knockout_small(tables: dict[str, pl.DataFrame], bound: float = RANDOM_BOUND) -> list[dict[str, Any]]:
    ko = _knockout(tables)
    if isinstance(ko, str):
        return [_entry("d", TEXT["d"], None, None, "retrieval", {}, UNTESTABLE, ko)]
    rows = ko.filter((pl.col("head_kind") == "retrieval") & pl.col("control").is_in(["random_matched", "random_all"]))
    pairs = distinct_rows(rows, ["task", "model"], none_as="None")
    if not pairs:
        reason = "No random knockout rows for retrieval heads."
        return [_entry("d", TEXT["d"], None, None, "retrieval", {}, UNTESTABLE, reason)]
    none = ko.filter(pl.col("control") == "none")
    paired = all(c in ko.columns for c in ("delta_f1_ci_low", "delta_f1_ci_high"))
    out = []
    for task, model in pairs:
        part = rows.filter((pl.col("task") == task) & (pl.col("model") == model))
        k = choose_k(part["k"].to_list())
        if k is None:
            reason = "No random knockout row with a finite k."
            out.append(_entry("d", TEXT["d"], task, model, "retrieval", {}, UNTESTABLE, reason))
            continue
        at_k = part.filter(pl.col("k") == k).sort("condition", "seed", "semantics", "control", "draw")
        n_support = n_contradict = n_undefined = 0
        deltas, widths = [], []
        source = "delta_f1 interval" if paired else "difference of the random and no-knockout intervals"
        for r in at_k.iter_rows(named=True):
            base = none.filter(
                (pl.col("task") == task)
                & (pl.col("model") == model)
                & (pl.col("condition") == r["condition"])
                & (pl.col("seed") == r["seed"])
                & pl.col("semantics").eq_missing(r["semantics"])
            )
            b = base.row(0, named=True) if base.height else {}
            delta = _num(r.get("delta_f1"))
            if not _finite(delta) and b:
                delta = _num(r.get("f1")) - _num(b.get("f1"))
            lo, hi = math.nan, math.nan
            if paired and _finite(_num(r.get("delta_f1_ci_low"))) and _finite(_num(r.get("delta_f1_ci_high"))):
                lo, hi = _num(r["delta_f1_ci_low"]), _num(r["delta_f1_ci_high"])
            elif b:
                lo = _num(r.get("f1_ci_low")) - _num(b.get("f1_ci_high"))
                hi = _num(r.get("f1_ci_high")) - _num(b.get("f1_ci_low"))
            deltas.append(delta)
            if not (_finite(lo) and _finite(hi)):
                n_undefined += 1
                continue
            widths.append(hi - lo)
            if -bound < lo and hi < bound:
                n_support += 1
            elif hi < -bound or lo > bound:
                n_contradict += 1
        n = at_k.height
        numbers = {
            "k": k,
            "bound": bound,
            "mean_delta_f1": _mean(deltas),
            "max_abs_delta_f1": max((abs(d) for d in deltas if _finite(d)), default=math.nan),
            "mean_interval_width": _mean(widths),
            "interval": source,
            "n_rows": n,
            "n_support": n_support,
            "n_contradict": n_contradict,
            "n_undefined": n_undefined,
        }
        verdict = _majority(n, n_support, n_contradict)
        tally = _tally("random knockouts (condition x seed x draw)", n, n_support, n_contradict)
        if verdict == SUPPORTED:
            reason = f"{tally}: their F1 change intervals lie inside +/-{bound}."
        elif verdict == CONTRADICTED:
            reason = f"{tally}: their F1 change intervals lie wholly outside +/-{bound}."
        else:
            width = numbers["mean_interval_width"]
            why = f"{n_undefined} without finite intervals" if n_undefined else "intervals reach across the bound"
            reason = (
                f"{tally} ({why}; mean change {numbers['mean_delta_f1']:.3g}, mean interval width {width:.3g} "
                f"against a band of {2 * bound:.2g})."
            )
        out.append(_entry("d", TEXT["d"], task, model, "retrieval", numbers, verdict, reason))
    return out


# ----------------------------------------------------------------------------------------------- (e), (f)

_RECOVERY = {"f1": "f1_recovery", "gold_logprob": "logprob_recovery"}


def _patching_rows(pt: pl.DataFrame, kind: str) -> pl.DataFrame | str:
    """The patching table's rows of one head kind, numbers as floats; or why there are none to judge."""
    need = ("task", "model", "condition", "seed", "head_kind", "head_set", "draw")
    if missing := missing_columns(pt, need):
        return f"No patching rows (the table lacks {', '.join(missing)})."
    cols = [f"{m}{s}" for m in _RECOVERY.values() for s in ("", "_ci_low", "_ci_high")]
    cols += ["synthetic_f1", "real_f1", "synthetic_gold_logprob", "real_gold_logprob"]
    pt = as_floats(pt, *cols)
    if "set_rule" not in pt.columns:
        pt = pt.with_columns(pl.lit(None, dtype=pl.String).alias("set_rule"))
    return pt.with_columns(pl.col("set_rule").cast(pl.String)).filter(pl.col("head_kind") == kind)


def _recovery_outcome(run: pl.DataFrame, rec: str) -> str | None:
    """One run's say on recovery column `rec`: "support", "contradict", "undefined" (all_real's recovery or
    its interval missing or NaN) or None (inconclusive)."""
    real = run.filter(pl.col("head_set") == "all_real")
    rand = run.filter(pl.col("head_set") == "random")
    if not real.height or rec not in real.columns:
        return "undefined"
    r = real.row(0, named=True)
    m, lo, hi = (_num(r.get(f"{rec}{s}")) for s in ("", "_ci_low", "_ci_high"))
    if not all(map(_finite, (m, lo, hi))):
        return "undefined"
    rl = [_num(v) for v in rand[f"{rec}_ci_low"]] if f"{rec}_ci_low" in rand.columns else []
    rh = [_num(v) for v in rand[f"{rec}_ci_high"]] if f"{rec}_ci_high" in rand.columns else []
    random_ok = bool(rl) and all(map(_finite, rl + rh))
    if hi < 0 or (random_ok and hi < min(rl)):
        return "contradict"
    if lo > 0 and random_ok and lo > max(rh):
        return "support"
    return None


def _recovery_numbers(part: pl.DataFrame, runs: list[tuple], metric: str) -> dict[str, Any]:
    """Mean recovery per head set, the mean real - synthetic gap, and the runs' tally for one metric."""
    rec = _RECOVERY[metric]
    by_set: dict[str, list[float]] = {s: [] for s in ("shared", "real_only", "all_real", "random")}
    gaps = []
    outcomes = []
    for cond, seed, rule in runs:
        run = part.filter(
            (pl.col("condition") == cond) & (pl.col("seed") == seed) & pl.col("set_rule").eq_missing(rule)
        ).sort("draw")
        for head_set, values in by_set.items():
            sub = run.filter(pl.col("head_set") == head_set)
            if rec in sub.columns and sub.height:
                values.append(_mean(_num(v) for v in sub[rec]))
        if f"real_{metric}" in run.columns and run.height:
            gaps.append(_num(run[f"real_{metric}"][0]) - _num(run[f"synthetic_{metric}"][0]))
        outcomes.append(_recovery_outcome(run, rec))
    return {
        "metric": metric,
        **{f"{s}_recovery_mean": _mean(v) for s, v in by_set.items()},
        "mean_gap_real_minus_synthetic": _mean(gaps),
        "n_runs": len(runs),
        "n_support": outcomes.count("support"),
        "n_contradict": outcomes.count("contradict"),
        "n_undefined": outcomes.count("undefined"),
    }


def _recovery_reason(numbers: dict[str, Any], verdict: str) -> str:
    n, n_undefined = numbers["n_runs"], numbers["n_undefined"]
    tally = _tally("runs (synthetic condition x seed)", n, numbers["n_support"], numbers["n_contradict"])
    real_m, rand_m = numbers["all_real_recovery_mean"], numbers["random_recovery_mean"]
    means = f"mean recovery all real heads {real_m:.3g}, random {rand_m:.3g}"
    if verdict == SUPPORTED:
        return f"{tally}: all real heads' recovery interval is above 0 and above every random set's ({means})."
    if verdict == CONTRADICTED:
        return f"{tally}: all real heads' recovery interval is below 0 or below the random sets' ({means})."
    if n and n_undefined == n:
        gap = numbers["mean_gap_real_minus_synthetic"]
        return (
            f"Recovery or its interval is undefined in all {n} runs: real and synthetic "
            f"{METRIC_NAMES[numbers['metric']]} are equal overall or on bootstrap resamples (mean real - synthetic "
            f"gap {gap:.3g})."
        )
    why = f"{n_undefined} undefined, " if n_undefined else ""
    return f"{tally} ({why}intervals overlap 0 or the random sets'); {means}."


def patching_recovers(tables: dict[str, pl.DataFrame], kind: str) -> list[dict[str, Any]]:
    claim, template = ("e", TEXT["e"]) if kind == "retrieval" else ("f", TEXT["f_e"])
    pt = _patching_rows(tables["patching"], kind)
    pairs = distinct_rows(pt, ["task", "model"], none_as="None") if isinstance(pt, pl.DataFrame) else []
    if isinstance(pt, str) or not pairs:
        reason = pt if isinstance(pt, str) else f"No patching rows for {kind} heads."
        return [_entry(claim, template.format(metric="F1"), None, None, kind, {}, UNTESTABLE, reason)]
    out = []
    for task, model in pairs:
        part = pt.filter((pl.col("task") == task) & (pl.col("model") == model))
        runs = distinct_rows(part, ["condition", "seed", "set_rule"], none_as="None")
        for metric in _RECOVERY:
            numbers = _recovery_numbers(part, runs, metric)
            verdict = _majority(numbers["n_runs"], numbers["n_support"], numbers["n_contradict"])
            text = template.format(metric=METRIC_NAMES[metric])
            out.append(_entry(claim, text, task, model, kind, numbers, verdict, _recovery_reason(numbers, verdict)))
    return out


# ----------------------------------------------------------------------------------------------- all


def claim_verdicts(tables: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """One entry per claim (per task x model, and head kind / metric where the claim has them):
    {claim, text, task, model, head_kind, numbers, verdict, reason}. Missing tables count as empty."""
    t = {k: tables.get(k) if tables.get(k) is not None else pl.DataFrame() for k in TABLES}
    out = real_beats_synthetic(t)
    out += recall_correlates(t, "retrieval")
    out += knockout_top_vs_random(t, "retrieval")
    out += random_knockout_small(t)
    out += patching_recovers(t, "retrieval")
    insight = recall_correlates(t, "insight") + knockout_top_vs_random(t, "insight") + patching_recovers(t, "insight")
    # one placeholder, not three, when no table has insight heads at all
    if all(e["task"] is None for e in insight):
        reason = "No insight-head rows in any table (only MuSiQue and SummHay have insight spans)."
        text = "Insight heads behave like retrieval heads: (b), (c) and (e) for insight heads (MuSiQue, SummHay)."
        insight = [_entry("f", text, None, None, "insight", {}, UNTESTABLE, reason)]
    else:
        insight = [e for e in insight if e["task"] is not None]
    return out + insight


# ----------------------------------------------------------------------------------------------- RST


def _rst(text: str) -> str:
    """Escape inline markup characters in running text."""
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def claims_rst(verdicts: list[dict[str, Any]]) -> str:
    """The verdicts as a reStructuredText bullet list (for a Snakemake report caption or page)."""
    counts = {v: sum(e["verdict"] == v for e in verdicts) for v in VERDICTS}
    lines = [
        "Each claim of the paper, tested on this run's tables: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + ". *supported* only when the interval or permutation p excludes the null; *contradicted* only when "
        "it excludes the claimed direction; otherwise *not testable at this size*.",
        "",
    ]
    if not verdicts:
        lines.append("No claims were evaluated (no tables).")
        return "\n".join(lines) + "\n"
    for e in verdicts:
        where = ", ".join(
            _rst(str(x))
            for x in (e["task"] or "all tasks", e["model"], e["head_kind"] and f"{e['head_kind']} heads")
            if x
        )
        lines.append(f"- **({e['claim']}) {e['verdict']}** -- {where}: {_rst(e['text'])}")
        lines.append("")
        lines.append(f"  {_rst(e['reason'])}")
        if e["numbers"]:
            nums = "; ".join(f"{k} = {_fmt(v)}" for k, v in e["numbers"].items()).replace("``", "` `")
            lines.append("")
            lines.append(f"  Numbers: ``{nums}``")
        lines.append("")
    return "\n".join(lines)
