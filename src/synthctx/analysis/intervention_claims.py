"""Claims (c), (d), (e) and (f)'s knockout and patching parts, by paired tests on the per-example tables
(knockout_examples.csv, patching_examples.csv): every configuration of an intervention run scores the same
examples, so each example gives one paired difference.

One test per task x head kind x intervention (semantics, scope, k; set rule for patching) x metric, pooling
models: the run (model x training data x seed) differences are averaged per example id (the runs share the
intervention examples), the averaged differences are tested (`paired.paired_summary`: paired-t interval,
sign-flip p, MDE), and each run's own estimate and interval are listed. Holm adjusts each claim's family
(claim x metric) after all its rows exist (`finish`). docs/method.md states each test."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from synthctx.analysis import paired
from synthctx.analysis.tables import as_floats, distinct_rows, missing_columns

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
HETEROGENEOUS, UNDEFINED = "heterogeneous", "undefined"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, HETEROGENEOUS, UNDEFINED)
PAPER_K = 10
RANDOM_BOUND = 0.05
METRICS = ("gold_logprob", "f1")  # primary first
METRIC_NAMES = {"f1": "F1", "gold_logprob": "gold-answer log-probability"}
RUN = ["model", "data", "seed"]
# The paper's effects, where a number is known (STUDY.md): patching shared heads lifted MDQA symbolic from
# 0.48 to 0.73 F1 (patched - synthetic, the closest number to the tested patched - random).
PAPER_EFFECT = {("e", "mdqa", "f1"): 0.25}
TEXT = {
    "c": "Knocking out the top-k {kind} heads lowers {metric} more than knocking out k random heads matched "
    "per layer (paper: k = 10).",
    "d": "Knocking out k random heads changes F1 by less than 0.05 (paper: k = 10); its harm relative to the "
    "top-k heads' is shown as a ratio.",
    "e": "Patching the real-data model's {kind} heads ({head_set}) into a synthetic-data model raises {metric} "
    "more than a random head set of the same size, and recovers part of the real - synthetic gap.",
}


def entry(claim: str, text: str, task, model, kind, numbers: dict, verdict: str, reason: str) -> dict[str, Any]:
    """One claims row (the page and claims.csv show these keys)."""
    assert verdict in VERDICTS, verdict
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


def choose_k(ks: Any) -> int | None:
    """k = 10 if present, else the largest k <= 10, else the largest; None when there is none."""
    vals = sorted({int(k) for k in ks if k is not None and math.isfinite(float(k))})
    if not vals:
        return None
    if PAPER_K in vals:
        return PAPER_K
    small = [k for k in vals if k <= PAPER_K]
    return small[-1] if small else vals[-1]


def _text_keys(table: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Text key columns with null as "" (so joins and groups treat a missing scope or semantics alike);
    a column the table lacks is added empty (older knockout files have no scope or k_spec)."""
    for c in columns:
        if c not in table.columns:
            table = table.with_columns(pl.lit("").alias(c))
    return table.with_columns(pl.col(list(columns)).cast(pl.String).fill_null(""))


def differences(a: pl.DataFrame, b: pl.DataFrame, metric: str, on: list[str]) -> pl.DataFrame:
    """Per run and example, mean over draws of `a` minus mean over draws of `b` (column d), joined on
    `on` + example_id: only examples both sides scored."""
    keys = [*on, "example_id"]
    left = a.group_by(keys).agg(pl.col(metric).mean().alias("a"))
    right = b.group_by(keys).agg(pl.col(metric).mean().alias("b"))
    return left.join(right, on=keys, how="inner").with_columns((pl.col("a") - pl.col("b")).alias("d"))


def pooled_test(diff: pl.DataFrame, cfg: dict[str, Any], direction: int) -> dict[str, Any]:
    """The paired test of the per-example differences averaged over runs, with each run's estimate, and how
    many runs support (their own interval on the claimed side of 0) or contradict."""
    per_example = diff.group_by("example_id").agg(pl.col("d").mean(), pl.len().alias("runs")).sort("example_id")
    summary = paired.paired_summary(per_example["d"].to_list(), **cfg)
    runs, n_support, n_contradict = [], 0, 0
    for key, part in diff.sort([*RUN, "example_id"]).group_by(RUN, maintain_order=True):
        d = part["d"].to_list()
        lo, hi = paired.t_interval(d, cfg["confidence"])
        runs.append({"run": "/".join(str(k) for k in key), "n": len(d), "mean": sum(d) / len(d), "ci": [lo, hi]})
        n_support += (direction > 0 and lo > 0) or (direction < 0 and hi < 0)
        n_contradict += (direction > 0 and hi < 0) or (direction < 0 and lo > 0)
    n_models = diff.select(RUN).unique().height
    return summary | {"n_models": n_models, "per_model": runs, "n_support": n_support, "n_contradict": n_contradict}


def _side(numbers: dict[str, Any], direction: int, alpha: float) -> str | None:
    """ "support" / "contradict" when the Holm p is below alpha and the interval excludes 0 on that side."""
    lo, hi = numbers["ci"]
    if not numbers["p_holm"] < alpha:
        return None
    if (direction > 0 and lo > 0) or (direction < 0 and hi < 0):
        return "support"
    if (direction > 0 and hi < 0) or (direction < 0 and lo > 0):
        return "contradict"
    return None


def decide(numbers: dict[str, Any], direction: int, alpha: float) -> tuple[str, str]:
    """Verdict and its reason for a directional paired test whose `p_holm` is set. heterogeneous when some
    runs support and others contradict on their own intervals; an inconclusive verdict says whether its MDE
    is below the paper's effect (an informative null)."""
    lo, hi = numbers["ci"]
    stat = (
        f"mean difference {numbers['mean']:.3g} [{lo:.3g}, {hi:.3g}], SD {numbers['sd']:.3g}, n = "
        f"{numbers['n_examples']} examples x {numbers['n_models']} runs, p = {numbers['p']:.3g} "
        f"(Holm {numbers['p_holm']:.3g}), MDE {numbers['mde']:.3g}"
    )
    if numbers["n_examples"] < 2 or not numbers["sd"] > 0 or not math.isfinite(numbers["p_holm"]):
        return UNDEFINED, f"Fewer than 2 paired examples or no spread to test ({stat})."
    k, m = numbers["n_support"], numbers["n_contradict"]
    if k and m:
        return HETEROGENEOUS, f"{k} runs support, {m} contradict on their own intervals; pooled {stat}."
    side = _side(numbers, direction, alpha)
    if side == "support":
        return SUPPORTED, f"The interval excludes 0 in the claimed direction and p < {alpha:.3g} after Holm: {stat}."
    if side == "contradict":
        return (
            CONTRADICTED,
            f"The interval excludes 0 against the claimed direction, p < {alpha:.3g} after Holm: {stat}.",
        )
    effect = numbers.get("paper_effect")
    if effect is not None and numbers["mde"] < abs(effect):
        return INCONCLUSIVE, f"Informative null: the MDE is below the paper's effect {effect:.3g}; {stat}."
    return INCONCLUSIVE, f"Neither direction is shown: {stat}."


def finish(entries: list[dict[str, Any]], alpha: float, deciders: dict[str, Any]) -> list[dict[str, Any]]:
    """Holm's adjustment within each family (claim x test x metric) of entries carrying a raw p, then each entry's
    verdict from `deciders[claim](numbers, alpha)`; entries without a p (undefined) pass unchanged."""
    families: dict[tuple, list[int]] = {}
    for i, e in enumerate(entries):
        if "p" in e["numbers"]:
            families.setdefault((e["claim"], e["decide"], e["numbers"].get("metric")), []).append(i)
    for idx in families.values():
        for i, p in zip(idx, paired.holm([entries[i]["numbers"]["p"] for i in idx])):
            entries[i]["numbers"]["p_holm"] = p
            entries[i]["numbers"]["holm_family_size"] = len(idx)
            verdict, reason = deciders[entries[i]["decide"]](entries[i]["numbers"], alpha)
            entries[i]["verdict"], entries[i]["reason"] = verdict, reason
    return [{k: v for k, v in e.items() if k != "decide"} for e in entries]


# ----------------------------------------------------------------------------------------------- knockout


def knockout_examples(table: pl.DataFrame) -> pl.DataFrame | str:
    """The per-example knockout table with its text keys filled; or why there is none to judge."""
    need = ("task", "model", "data", "seed", "head_kind", "control", "k", "draw", "example_id")
    if missing := missing_columns(table, need):
        return f"No per-example knockout values (knockout_examples lacks {', '.join(missing)})."
    table = _text_keys(as_floats(table, "f1", "gold_logprob", "k_fraction"), "semantics", "scope", "k_spec")
    return table.with_columns(pl.col("example_id").cast(pl.String))


def k_levels(rows: pl.DataFrame) -> list[tuple[str, Any]]:
    """The k levels a claim judges: every k_spec where the table names them, else the one k of `choose_k`."""
    specs = sorted({s for s in rows["k_spec"].to_list() if s})
    if specs:
        return [("k_spec", s) for s in specs]
    k = choose_k(rows["k"].to_list())
    return [] if k is None else [("k", k)]


def _intervention(rows: pl.DataFrame) -> list[tuple]:
    return distinct_rows(rows, ["task", "semantics", "scope"])


def top_vs_random(ke: pl.DataFrame, kind: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """(c) / (f): top-k minus matched random (mean over draws), per example, gold log-probability and F1."""
    claim = "c" if kind == "retrieval" else "f"
    rows = ke.filter((pl.col("head_kind") == kind) & pl.col("control").is_in(["top", "random_matched"]))
    out = []
    for task, semantics, scope in _intervention(rows):
        part = rows.filter((pl.col("task") == task) & (pl.col("semantics") == semantics) & (pl.col("scope") == scope))
        top_ks = part.filter(pl.col("control") == "top").select("k", "k_spec").unique()
        both = part.join(top_ks, on=["k", "k_spec"], how="semi").filter(pl.col("control") == "random_matched")
        for col, level in k_levels(both):
            at = part.filter(pl.col(col) == level)
            top, rand = at.filter(pl.col("control") == "top"), at.filter(pl.col("control") == "random_matched")
            for metric in METRICS:
                diff = differences(top, rand, metric, RUN)
                numbers = _knockout_numbers(at, metric, semantics, scope, col, level)
                numbers |= pooled_test(diff, cfg, -1) if diff.height else {}
                text = TEXT["c"].format(kind=kind, metric=METRIC_NAMES[metric])
                out.append(_pending(claim, text, task, _models(at), kind, numbers, "c", diff.height))
    return out


def _knockout_numbers(at: pl.DataFrame, metric: str, semantics: str, scope: str, col: str, level: Any) -> dict:
    fractions = [f for f in at["k_fraction"].to_list() if f is not None] if "k_fraction" in at.columns else []
    return {
        "metric": metric,
        "semantics": semantics or None,
        "scope": scope or None,
        "k": level if col == "k" else sorted({int(k) for k in at["k"].to_list()}),
        "k_spec": level if col == "k_spec" else None,
        "k_fraction": sorted(set(fractions)) or None,
    }


def _models(part: pl.DataFrame) -> str:
    return ",".join(sorted({str(m) for m in part["model"].to_list()}))


def _pending(claim: str, text: str, task, model, kind, numbers: dict, decide_as: str, n_pairs: int) -> dict:
    """An entry whose verdict `finish` decides (after Holm), or an undefined one when nothing was paired."""
    if not n_pairs or "p" not in numbers:
        numbers.pop("p", None)
        return entry(claim, text, task, model, kind, numbers, UNDEFINED, "No example scored by both sides.")
    return entry(claim, text, task, model, kind, numbers, UNDEFINED, "") | {"decide": decide_as}


def random_vs_none(ke: pl.DataFrame, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """(d): random heads (each random control; mean over draws) minus no knockout, per example, F1 against
    the +-0.05 band; beside it the ratio of that change to the top-k heads' change (Fieller), both metrics."""
    rows = ke.filter((pl.col("head_kind") == "retrieval") & pl.col("control").is_in(["random_matched", "random_all"]))
    none = ke.filter(pl.col("control") == "none")
    out = []
    for task, semantics, scope in _intervention(rows):
        where = (pl.col("task") == task) & (pl.col("semantics") == semantics) & (pl.col("scope") == scope)
        part, base = rows.filter(where), none.filter(where)
        top = ke.filter(where & (pl.col("head_kind") == "retrieval") & (pl.col("control") == "top"))
        for control in sorted(set(part["control"].to_list())):
            for col, level in k_levels(part.filter(pl.col("control") == control)):
                rand = part.filter((pl.col("control") == control) & (pl.col(col) == level))
                diff = differences(rand, base, "f1", RUN)
                numbers = _knockout_numbers(rand, "f1", semantics, scope, col, level)
                numbers |= {"control": control, "bound": RANDOM_BOUND}
                numbers |= pooled_test(diff, cfg, 1) if diff.height else {}
                numbers |= _ratios(rand, base, top.filter(pl.col(col) == level), cfg["confidence"])
                out.append(_pending("d", TEXT["d"], task, _models(rand), "retrieval", numbers, "d", diff.height))
    return out


def _ratios(rand: pl.DataFrame, base: pl.DataFrame, top: pl.DataFrame, confidence: float) -> dict[str, Any]:
    """(random - none) / (top - none) per metric over the per-example differences averaged over runs, with
    Fieller's interval (NaN bounds when the top-k harm itself is not distinguishable from 0)."""
    out: dict[str, Any] = {}
    for metric in METRICS:
        a = differences(rand, base, metric, RUN).group_by("example_id").agg(pl.col("d").mean().alias("a"))
        b = differences(top, base, metric, RUN).group_by("example_id").agg(pl.col("d").mean().alias("b"))
        both = a.join(b, on="example_id", how="inner").sort("example_id")
        ratio, lo, hi = paired.fieller_ratio(both["a"].to_list(), both["b"].to_list(), confidence)
        out[f"ratio_to_top_{metric}"], out[f"ratio_to_top_{metric}_ci"] = ratio, [lo, hi]
        if metric == "gold_logprob":
            out["mean_change_gold_logprob"] = float(both["a"].mean()) if both.height else math.nan
    return out


def decide_small(numbers: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(d) is a claim of equivalence: supported when the interval of the F1 change lies inside +-bound,
    contradicted when it lies wholly outside it and p < alpha after Holm, heterogeneous when runs disagree."""
    lo, hi = numbers["ci"]
    bound = numbers["bound"]
    stat = (
        f"mean F1 change {numbers['mean']:.3g} [{lo:.3g}, {hi:.3g}], SD {numbers['sd']:.3g}, n = "
        f"{numbers['n_examples']} examples x {numbers['n_models']} runs, p = {numbers['p']:.3g} "
        f"(Holm {numbers['p_holm']:.3g}), MDE {numbers['mde']:.3g}, ratio to the top-k change "
        f"{numbers['ratio_to_top_f1']:.3g}"
    )
    if numbers["n_examples"] < 2 or not numbers["sd"] > 0:
        return UNDEFINED, f"Fewer than 2 paired examples or no spread to test ({stat})."
    inside = -bound < lo and hi < bound
    outside = (hi < -bound or lo > bound) and numbers["p_holm"] < alpha
    runs_in = sum(-bound < r["ci"][0] and r["ci"][1] < bound for r in numbers["per_model"])
    runs_out = sum(r["ci"][1] < -bound or r["ci"][0] > bound for r in numbers["per_model"])
    if runs_in and runs_out:
        return HETEROGENEOUS, f"{runs_in} runs inside +-{bound}, {runs_out} wholly outside; pooled {stat}."
    if inside:
        return SUPPORTED, f"The interval lies inside +-{bound}: {stat}."
    if outside:
        return CONTRADICTED, f"The interval lies wholly outside +-{bound}: {stat}."
    return INCONCLUSIVE, f"The interval reaches across the +-{bound} band: {stat}."


# ----------------------------------------------------------------------------------------------- patching

PATCHED_SETS = ("all_real", "shared", "real_only")


def patching_examples(table: pl.DataFrame) -> pl.DataFrame | str:
    """The per-example patching table with its text keys filled; or why there is none to judge."""
    need = ("task", "model", "data", "seed", "head_kind", "head_set", "draw", "example_id")
    if missing := missing_columns(table, need):
        return f"No per-example patching values (patching_examples lacks {', '.join(missing)})."
    cols = [f"{w}{m}" for w in ("", "synthetic_", "real_") for m in METRICS]
    table = _text_keys(as_floats(table, *cols), "set_rule")
    return table.with_columns(pl.col("example_id").cast(pl.String))


def patched_vs_random(pe: pl.DataFrame, kind: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """(e) / (f): patched with a real head set minus patched with random sets (mean over draws), per example;
    beside it the real - synthetic gap's test and, once that gap is shown positive, the recovery."""
    claim = "e" if kind == "retrieval" else "f"
    rows = pe.filter(pl.col("head_kind") == kind)
    out = []
    for task, rule in distinct_rows(rows, ["task", "set_rule"]):
        part = rows.filter((pl.col("task") == task) & (pl.col("set_rule") == rule))
        rand = part.filter(pl.col("head_set") == "random")
        for head_set in [h for h in PATCHED_SETS if h in set(part["head_set"].to_list())]:
            patched = part.filter(pl.col("head_set") == head_set)
            for metric in METRICS:
                diff = differences(patched, rand, metric, RUN)
                numbers: dict[str, Any] = {"metric": metric, "head_set": head_set, "set_rule": rule or None}
                numbers["paper_effect"] = PAPER_EFFECT.get(("e", task, metric))
                numbers |= pooled_test(diff, cfg, 1) if diff.height else {}
                numbers |= _gap_and_recovery(patched, metric, cfg)
                text = TEXT["e"].format(kind=kind, head_set=head_set, metric=METRIC_NAMES[metric])
                out.append(_pending(claim, text, task, _models(patched), kind, numbers, "e", diff.height))
    return out


def _gap_and_recovery(patched: pl.DataFrame, metric: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The real - synthetic gap per example (averaged over runs) with its paired test, and the recovery
    mean(patched - synthetic) / mean(real - synthetic) with Fieller's interval only where the gap's interval
    lies above 0 (a gap not shown positive leaves nothing to recover: recovery NaN)."""
    keys = [*RUN, "example_id"]
    per_run = patched.group_by(keys).agg(
        (pl.col(metric).mean() - pl.col(f"synthetic_{metric}").first()).alias("lift"),
        (pl.col(f"real_{metric}").first() - pl.col(f"synthetic_{metric}").first()).alias("gap"),
    )
    ex = per_run.group_by("example_id").agg(pl.col("lift").mean(), pl.col("gap").mean()).sort("example_id")
    gap = paired.paired_summary(ex["gap"].to_list(), **cfg)
    shown = gap["n_examples"] >= 2 and gap["ci"][0] > 0
    ratio, lo, hi = paired.fieller_ratio(ex["lift"].to_list(), ex["gap"].to_list(), cfg["confidence"])
    return {
        "gap_mean": gap["mean"],
        "gap_ci": gap["ci"],
        "gap_p": gap["p"],
        "gap_shown_positive": shown,
        "recovery": ratio if shown else math.nan,
        "recovery_ci": [lo, hi] if shown else [math.nan, math.nan],
    }


def decide_patching(numbers: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(e): the numerator's directional verdict, never supported unless the real - synthetic gap is shown
    positive (a negative or unshown gap leaves no gap to recover)."""
    verdict, reason = decide(numbers, 1, alpha)
    gap = f"real - synthetic gap {numbers['gap_mean']:.3g} [{numbers['gap_ci'][0]:.3g}, {numbers['gap_ci'][1]:.3g}]"
    if numbers["gap_shown_positive"]:
        rec = f"recovery {numbers['recovery']:.3g} [{numbers['recovery_ci'][0]:.3g}, {numbers['recovery_ci'][1]:.3g}]"
        return verdict, f"{reason} {gap}, {rec}."
    if verdict in (SUPPORTED, INCONCLUSIVE):
        if not numbers["gap_mean"] > 0:
            return (
                UNDEFINED,
                f"The real model does not beat the synthetic one here ({gap}): nothing to recover. {reason}",
            )
        return INCONCLUSIVE, f"The gap is not shown positive ({gap}), so no recovery is claimed. {reason}"
    return verdict, f"{reason} {gap}; recovery not reported."


DECIDERS = {"c": lambda n, alpha: decide(n, -1, alpha), "d": decide_small, "e": decide_patching}


def intervention_verdicts(tables: dict[str, pl.DataFrame], cfg: dict[str, Any], alpha: float) -> list[dict]:
    """Every (c), (d), (e) and (f)-knockout / (f)-patching entry, Holm-adjusted within each family; one
    undefined entry for (c), (d) or (e) when its table has nothing to pair."""
    out: list[dict[str, Any]] = []
    ke = knockout_examples(tables.get("knockout_examples", pl.DataFrame()))
    if not isinstance(ke, str):
        out += top_vs_random(ke, "retrieval", cfg) + random_vs_none(ke, cfg) + top_vs_random(ke, "insight", cfg)
    pe = patching_examples(tables.get("patching_examples", pl.DataFrame()))
    if not isinstance(pe, str):
        out += patched_vs_random(pe, "retrieval", cfg) + patched_vs_random(pe, "insight", cfg)
    texts = {
        "c": TEXT["c"].format(kind="retrieval", metric=METRIC_NAMES["gold_logprob"]),
        "d": TEXT["d"],
        "e": TEXT["e"].format(kind="retrieval", head_set="all_real", metric=METRIC_NAMES["gold_logprob"]),
    }
    for claim, text in texts.items():
        why = pe if claim == "e" else ke
        if not any(e["claim"] == claim for e in out):
            reason = why if isinstance(why, str) else f"No per-example rows to pair for ({claim})."
            out.append(entry(claim, text, None, None, "retrieval", {}, UNDEFINED, reason))
    order = {c: i for i, c in enumerate("cdef")}
    return sorted(finish(out, alpha, DECIDERS), key=lambda e: order[e["claim"]])
