"""The paper's claims, each tested against this run's aggregate tables, with a verdict and the numbers used.

Verdicts (docs/method.md, "The claims as computed"): ``supported`` / ``contradicted`` only when the test
excludes the null in / against the claimed direction; ``heterogeneous`` when runs disagree (k support, m
contradict); ``inconclusive`` when neither direction is shown (an informative null when the minimal
detectable effect is below the paper's effect); ``undefined`` when there is nothing to test (no rows, too few
points, a constant value, a real - synthetic gap that is not positive).

(a) Real data beats every synthetic variant on the real task, per task x model, from the per-example table
    (examples.csv): for each synthetic variant, real - variant F1 per test example, each side averaged over
    seeds first, tested by a sign-flip permutation with a paired-t interval and the MDE; the variants are
    combined by an intersection-union test (p = the largest variant p; the weakest variant is reported).
    Supported: every variant's interval above 0 and the IUT p below alpha after Holm across (a)'s family;
    contradicted: some variant beats real (its own p, Holm across the variants); heterogeneous: real beats
    some variants and loses to others; otherwise inconclusive (informative when the weakest variant's MDE is
    below the paper's gap).
(b) Recall of the real model's retrieval heads correlates positively with F1 across conditions: the pooled
    Spearman row of correlations.csv (teacher-forced, threshold set, the configured baseline choice) per
    task x model, and the task-stratified row per model; its p permutes whole conditions (one permutation
    applied in every seed), Holm across (b)'s family. Supported: interval above 0 and p_holm < ALPHA;
    contradicted: below 0; heterogeneous: seeds (tasks) split; fewer than 3 points or an undefined rho:
    undefined; otherwise inconclusive. The other baseline choice is shown beside.
(c), (d), (e) and (f)'s knockout and patching parts: paired tests on the per-example tables
    (`intervention_claims`), Holm-adjusted within each claim's family.

leave_one_out and recall_by_step are accepted but give no verdict: the paper makes no claim about them
that the tables can test without a chance model.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from synthctx.analysis import paired
from synthctx.analysis.intervention_claims import (
    CONTRADICTED,
    HETEROGENEOUS,
    INCONCLUSIVE,
    SUPPORTED,
    UNDEFINED,
    VERDICTS,
    finish,
    intervention_verdicts,
)
from synthctx.analysis.intervention_claims import entry as _entry
from synthctx.analysis.paired import ALPHA
from synthctx.analysis.tables import as_floats, condition_kind, distinct_rows, missing_columns
from synthctx.plan import conditions
from synthctx.plan.targets import CLAIM_TABLES

__all__ = ["CONTRADICTED", "HETEROGENEOUS", "INCONCLUSIVE", "SUPPORTED", "UNDEFINED", "VERDICTS", "claim_verdicts"]
MODE, RULE = "teacher_forced", "threshold"
TABLES = CLAIM_TABLES  # the tables the claims read, in the order the claims rule passes them

TEXT = {
    "a": "Fine-tuning on real data beats the best synthetic variant on the real task "
    "(paper, Llama-3: MDQA 0.83 vs 0.49 F1; MuSiQue and SummHay by 2-4 points).",
    "b": "Recall of the real-data model's retrieval heads correlates positively with real-task F1 across "
    "training-data conditions.",
    "f_b": "Recall of the real-data model's insight heads correlates positively with real-task F1 across "
    "conditions (MuSiQue, SummHay).",
}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: Any) -> float:
    """A table cell as a float, NaN for null / text / missing."""
    try:
        return float(x) if x is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


# ----------------------------------------------------------------------------------------------- (a)

# The paper's real - best synthetic F1 gap (STUDY.md): MDQA 0.83 - 0.49; MuSiQue and SummHay "2-4 points"
# (the lower end, so an informative null is not claimed too easily).
PAPER_EFFECT_A = {"mdqa": 0.34, "musique": 0.02, "summhay": 0.02}


def _examples(table: pl.DataFrame) -> pl.DataFrame | str:
    """The per-example evaluation table (examples.csv) ready to pair; or why there is none."""
    need = ("task", "model", "data", "seed", "example_id", "f1")
    if missing := missing_columns(table, need):
        return f"No per-example evaluation values (the examples table lacks {', '.join(missing)})."
    table = as_floats(table, "f1").with_columns(pl.col("example_id", "data").cast(pl.String))
    return table.filter(pl.col("f1").is_not_null())


def _seed_means(part: pl.DataFrame, data: str) -> pl.DataFrame:
    """F1 per example of one condition, averaged over its seeds first (example_id, f1, n_seeds)."""
    rows = part.filter(pl.col("data") == data)
    return rows.group_by("example_id").agg(pl.col("f1").mean(), pl.col("seed").n_unique().alias("n_seeds"))


def _variant_tests(part: pl.DataFrame, cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per synthetic variant: the paired test of real - variant F1 over the examples both scored, each side
    averaged over seeds per example first; Holm across the variants (`p_holm_variants`) says which single
    variants real is shown to beat or to lose to."""
    real = _seed_means(part, conditions.REAL)
    out = {}
    for data in sorted({d for d in part["data"].to_list() if condition_kind(d) == "synthetic"}):
        both = real.join(_seed_means(part, data), on="example_id", how="inner", suffix="_syn").sort("example_id")
        d = (both["f1"] - both["f1_syn"]).to_list()
        summary = paired.paired_summary(d, **cfg) if d else {"n_examples": 0, "p": math.nan}
        out[conditions.parse(data).label] = summary | {
            "data": data,
            "real_f1": float(both["f1"].mean()) if both.height else math.nan,
            "synthetic_f1": float(both["f1_syn"].mean()) if both.height else math.nan,
            "n_seeds": int(both["n_seeds_syn"].max()) if both.height else 0,
        }
    for v, p in zip(out.values(), paired.holm([v["p"] for v in out.values()])):
        v["p_holm_variants"] = p
    return out


def real_beats_synthetic(tables: dict[str, pl.DataFrame], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """(a) per task x model, pending Holm across (a)'s family: one paired test per synthetic variant
    (`_variant_tests`) and their intersection-union test, p = the largest variant p (the weakest variant)."""
    ex = _examples(tables["examples"])
    if isinstance(ex, str) or not ex.height:
        reason = ex if isinstance(ex, str) else "No per-example evaluation rows."
        return [_entry("a", TEXT["a"], None, None, None, {}, UNDEFINED, reason)]
    out = []
    for task, model in distinct_rows(ex, ["task", "model"], none_as="None"):
        part = ex.filter((pl.col("task") == task) & (pl.col("model") == model))
        variants = _variant_tests(part, cfg) if conditions.REAL in set(part["data"].to_list()) else {}
        tested = {k: v for k, v in variants.items() if v["n_examples"]}
        if not tested:
            what = "synthetic condition" if conditions.REAL in set(part["data"].to_list()) else "real-data condition"
            out.append(_entry("a", TEXT["a"], task, model, None, {}, UNDEFINED, f"No {what} scored on {task}."))
            continue
        weakest = max(sorted(tested), key=lambda k: (tested[k]["p"], -tested[k]["mean"]))
        w = tested[weakest]
        numbers = {
            "metric": "f1",
            "test": "intersection-union over the synthetic variants (p = the largest variant p)",
            "weakest": weakest,
            **{k: w[k] for k in ("n_examples", "n_seeds", "mean", "sd", "ci", "mde", "p_method", "real_f1")},
            "p": max(v["p"] for v in tested.values()),
            "n_variants": len(tested),
            "paper_effect": PAPER_EFFECT_A.get(str(task)),
            "variants": {
                k: {f: v[f] for f in ("synthetic_f1", "n_examples", "mean", "sd", "ci", "p", "p_holm_variants", "mde")}
                for k, v in tested.items()
            },
        }
        out.append(_entry("a", TEXT["a"], task, model, None, numbers, UNDEFINED, "") | {"decide": "a"})
    return out


def decide_real_beats(numbers: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(a)'s verdict: supported when every variant's interval lies above 0 and the intersection-union p is below
    alpha after Holm; a variant counts as beaten / beating real when its own Holm-across-variants p is below
    alpha with its interval on that side; heterogeneous when some are beaten and some beat real, contradicted
    when some beat real and none is beaten; inconclusive otherwise (informative when the weakest variant's MDE
    is below the paper's gap)."""
    variants = numbers["variants"]
    lo, hi = numbers["ci"]
    stat = (
        f"weakest variant {numbers['weakest']}: real - synthetic {numbers['mean']:.3g} [{lo:.3g}, {hi:.3g}], SD "
        f"{numbers['sd']:.3g}, n = {numbers['n_examples']} examples (seed-averaged over {numbers['n_seeds']}), "
        f"p = {numbers['p']:.3g} (Holm {numbers['p_holm']:.3g}), MDE {numbers['mde']:.3g}"
    )
    if any(v["n_examples"] < 2 for v in variants.values()) or not math.isfinite(numbers["p_holm"]):
        return UNDEFINED, f"Fewer than 2 paired examples for some variant ({stat})."
    shown = {k: v for k, v in variants.items() if v["p_holm_variants"] < alpha}
    beaten = sorted(k for k, v in shown.items() if v["ci"][0] > 0)
    beating = sorted(k for k, v in shown.items() if v["ci"][1] < 0)
    if beaten and beating:
        return HETEROGENEOUS, f"Real beats {', '.join(beaten)} but loses to {', '.join(beating)}; {stat}."
    if beating:
        return CONTRADICTED, f"{', '.join(beating)} beat(s) real (Holm across variants, p < {alpha:.3g}); {stat}."
    if all(v["ci"][0] > 0 for v in variants.values()) and numbers["p_holm"] < alpha:
        return SUPPORTED, f"Real beats every synthetic variant (p < {alpha:.3g} after Holm): {stat}."
    effect = numbers.get("paper_effect")
    if effect is not None and numbers["mde"] < effect:
        return INCONCLUSIVE, f"Informative null: the MDE is below the paper's gap {effect:.3g}; {stat}."
    return INCONCLUSIVE, f"Real is not shown to beat every variant: {stat}."


# ----------------------------------------------------------------------------------------------- (b), (f)


def _correlation_rows(corr: pl.DataFrame, kind: str, mode: str, rule: str) -> pl.DataFrame:
    """The Spearman recall-F1 rows of one head kind, with `test` and `primary` filled for tables written before
    they existed (seed "pooled" was the pooled test; the baseline choice was the configured one)."""
    rows = as_floats(corr, "n", "estimate", "ci_low", "ci_high", "p_permutation", "n_conditions")
    rows = rows.with_columns(pl.col("seed").cast(pl.String), pl.col("task").cast(pl.String))
    if "test" not in rows.columns:
        rows = rows.with_columns(
            pl.when(pl.col("seed") == "pooled").then(pl.lit("pooled")).otherwise(pl.lit("per_seed")).alias("test")
        )
    if "primary" not in rows.columns:
        rows = rows.with_columns(pl.lit(True).alias("primary"))
    return rows.filter(
        (pl.col("head_kind") == kind)
        & (pl.col("scoring_mode") == mode)
        & (pl.col("set_rule") == rule)
        & (pl.col("x") == "recall")
        & (pl.col("method") == "spearman")
    ).with_columns(pl.col("primary").cast(pl.Boolean))


def _judged(part: pl.DataFrame) -> tuple[dict | None, pl.DataFrame, str]:
    """The row a task x model's (b) judges (pooled or task-stratified, else the only seed), the rows whose own
    tests may split it (the seeds), and why there is none."""
    pooled = part.filter(pl.col("test").is_in(["pooled", "task_stratified"]) & pl.col("primary"))
    seeds = part.filter((pl.col("test") == "per_seed") & pl.col("primary")).sort("seed")
    if pooled.height:
        return pooled.row(0, named=True), seeds, ""
    if seeds.height == 1:
        return seeds.row(0, named=True), seeds.head(0), ""
    return None, seeds, f"{seeds.height} per-seed correlations and no pooled row: no single test to judge."


def _split(rows: pl.DataFrame, alpha: float) -> tuple[int, int]:
    """How many rows support (interval above 0, p < alpha) and contradict (below 0) on their own tests."""
    k = m = 0
    for r in rows.iter_rows(named=True):
        if _finite(r["p_permutation"]) and r["p_permutation"] < alpha:
            k += _finite(r["ci_low"]) and r["ci_low"] > 0
            m += _finite(r["ci_high"]) and r["ci_high"] < 0
    return k, m


def _correlation_numbers(r: dict[str, Any], other: pl.DataFrame, mode: str, rule: str) -> dict[str, Any]:
    n_cond = _num(r.get("n_conditions", r["n"]))
    n_tasks = int(_num(r.get("n_tasks"))) if r["test"] == "task_stratified" and _finite(_num(r.get("n_tasks"))) else 1
    numbers = {
        "metric": "spearman",
        "test": r["test"],
        "spearman": _num(r["estimate"]),
        "ci": [_num(r["ci_low"]), _num(r["ci_high"])],
        "p": _num(r["p_permutation"]),
        "p_method": r.get("p_method"),
        "n": _num(r["n"]),
        "n_conditions": n_cond,
        "mde": paired.correlation_mde(n_cond, n_tasks=n_tasks) if _finite(n_cond) else math.nan,
        "seed": r["seed"],
        "baseline": r.get("baseline"),
        "scoring_mode": mode,
        "set_rule": rule,
    }
    if other.height:
        o = other.row(0, named=True)
        numbers["other_baseline"] = {
            "baseline": o.get("baseline"),
            "spearman": _num(o["estimate"]),
            "ci": [_num(o["ci_low"]), _num(o["ci_high"])],
            "p": _num(o["p_permutation"]),
            "n": _num(o["n"]),
        }
    return numbers


def recall_correlates(
    tables: dict[str, pl.DataFrame], kind: str, *, mode: str = MODE, rule: str = RULE, alpha: float = ALPHA
) -> list[dict[str, Any]]:
    """(b) (or (f) for insight heads), pending Holm across the family: per task x model the pooled Spearman
    row (condition-level permutation p), and per model the task-stratified row (task "all"); the other
    baseline choice is shown beside each; the seeds (or, for the stratified row, the tasks) split it when
    some support and others contradict on their own tests."""
    claim, text = ("b", TEXT["b"]) if kind == "retrieval" else ("f", TEXT["f_b"])
    corr = tables["correlations"]
    need = ("task", "model", "seed", "head_kind", "scoring_mode", "set_rule", "x", "method", "n", "estimate")
    if missing := missing_columns(corr, (*need, "ci_low", "ci_high", "p_permutation")):
        reason = f"No correlation rows (the table lacks {', '.join(missing)})."
        return [_entry(claim, text, None, None, kind, {}, UNDEFINED, reason)]
    rows = _correlation_rows(corr, kind, mode, rule)
    out = []
    for task, model in distinct_rows(rows, ["task", "model"], none_as="None"):
        part = rows.filter((pl.col("task") == task) & (pl.col("model") == model))
        r, splitters, why = _judged(part)
        if r is None:
            out.append(_entry(claim, text, task, model, kind, {"n_seed_rows": splitters.height}, UNDEFINED, why))
            continue
        if r["test"] == "task_stratified":
            splitters = rows.filter((pl.col("model") == model) & (pl.col("test") == "pooled") & pl.col("primary"))
        other = part.filter((pl.col("test") == r["test"]) & ~pl.col("primary"))
        numbers = _correlation_numbers(r, other, mode, rule)
        numbers["n_support"], numbers["n_contradict"] = _split(splitters, alpha)
        numbers["split_by"] = "tasks" if r["test"] == "task_stratified" else "seeds"
        out.append(_entry(claim, text, task, model, kind, numbers, UNDEFINED, "") | {"decide": "b"})
    if not out:
        reason = f"No Spearman recall-F1 row for {kind} heads ({mode}, {rule})."
        return [_entry(claim, text, None, None, kind, {}, UNDEFINED, reason)]
    return out


def decide_correlation(numbers: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(b)'s verdict from the condition-level permutation p after Holm and the condition-bootstrap interval:
    supported when p_holm < alpha and the interval lies above 0, contradicted when below; heterogeneous when
    some seeds (or tasks) support and others contradict on their own tests; undefined with fewer than 3 points
    or an undefined rho."""
    rho, (lo, hi), p, n = numbers["spearman"], numbers["ci"], numbers["p"], numbers["n"]
    n_txt = "?" if not _finite(n) else str(int(n))
    if not _finite(n) or n < 3:
        return UNDEFINED, f"Only {n_txt} points: a correlation needs at least 3."
    if not all(_finite(v) for v in (rho, lo, hi, p)):
        return UNDEFINED, f"Spearman rho is undefined over {n_txt} points (constant recall or F1)."
    stat = (
        f"rho = {rho:.2f} over {n_txt} points ({_fmt(numbers['n_conditions'])} conditions), interval "
        f"[{lo:.2f}, {hi:.2f}], p = {p:.3g} ({numbers['p_method']}; Holm {numbers['p_holm']:.3g}), MDE rho "
        f"{numbers['mde']:.2f}"
    )
    k, m = numbers["n_support"], numbers["n_contradict"]
    if k and m:
        return HETEROGENEOUS, f"{k} {numbers['split_by']} support, {m} contradict on their own tests; pooled {stat}."
    if numbers["p_holm"] < alpha and lo > 0:
        return SUPPORTED, f"{stat}: the interval lies above 0."
    if numbers["p_holm"] < alpha and hi < 0:
        return CONTRADICTED, f"{stat}: the interval lies below 0."
    why = "the interval crosses 0" if lo <= 0 <= hi else f"p is not below {alpha:.3g} after Holm"
    return INCONCLUSIVE, f"{stat}: {why}."


DECIDERS = {"a": decide_real_beats, "b": decide_correlation}


# ----------------------------------------------------------------------------------------------- all


def claim_verdicts(
    tables: dict[str, pl.DataFrame], *, confidence: float = 1 - ALPHA, n_draws: int = 10_000, seed: int = 0
) -> list[dict[str, Any]]:
    """One entry per claim (per task x model, and head kind / metric / intervention where the claim has them):
    {claim, text, task, model, head_kind, numbers, verdict, reason}. Missing tables count as empty.
    `confidence` sets the intervals (alpha = 1 - confidence); `n_draws` and `seed` the Monte Carlo
    sign-flip test used above 20 paired examples."""
    t = {k: tables.get(k) if tables.get(k) is not None else pl.DataFrame() for k in TABLES}
    alpha = 1 - confidence
    cfg = {"confidence": confidence, "n_draws": n_draws, "seed": seed}
    ab = real_beats_synthetic(t, cfg) + recall_correlates(t, "retrieval", alpha=alpha)
    ab = finish(ab + recall_correlates(t, "insight", alpha=alpha), alpha, DECIDERS)
    out = [e for e in ab if e["claim"] != "f"]
    interventions = intervention_verdicts(t, cfg, alpha)
    out += [e for e in interventions if e["claim"] != "f"]
    insight = [e for e in ab if e["claim"] == "f"] + [e for e in interventions if e["claim"] == "f"]
    # claim (f) with no insight heads anywhere: one undefined entry saying so, not one per sub-claim
    if all(e["task"] is None for e in insight):
        reason = "No insight-head rows in any table (only MuSiQue and SummHay have insight spans)."
        text = "Insight heads behave like retrieval heads: (b), (c) and (e) for insight heads (MuSiQue, SummHay)."
        insight = [_entry("f", text, None, None, "insight", {}, UNDEFINED, reason)]
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
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def claims_rst(verdicts: list[dict[str, Any]]) -> str:
    """The verdicts as a reStructuredText bullet list (for a Snakemake report caption or page)."""
    counts = {v: sum(e["verdict"] == v for e in verdicts) for v in VERDICTS}
    lines = [
        "Each claim of the paper, tested on this run's tables: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + ". *supported* / *contradicted* only when the test (interval and Holm-adjusted p) excludes the null "
        "in / against the claimed direction; *heterogeneous* when runs disagree; *inconclusive* when neither is "
        "shown (an informative null when the minimal detectable effect is below the paper's effect); *undefined* "
        "when there is nothing to test.",
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
