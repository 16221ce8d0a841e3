"""Claim verdicts from hand-built aggregate tables (columns as in /tmp/spec/formats.md): each claim kind
can come out supported, contradicted and not testable, and empty tables give 'not testable', never a crash."""

from __future__ import annotations

import io
import math

import polars as pl
import pytest

from synthctx.analysis import claims
from synthctx.analysis.claims import CONTRADICTED, SUPPORTED, UNTESTABLE
from synthctx.plan import conditions

NAN = math.nan


def pick(entries, claim, task="mdqa", **where):
    out = [e for e in entries if e["claim"] == claim and e["task"] == task]
    out = [e for e in out if all(e["numbers"].get(k) == v or e.get(k) == v for k, v in where.items())]
    assert len(out) == 1, f"expected one entry for ({claim}) {task} {where}, got {len(out)}"
    return out[0]


# ----------------------------------------------------------------------------------------------- (a)


def means_table(f1: dict[str, tuple[float, float, float]], n_seeds: int = 2, task: str = "mdqa") -> pl.DataFrame:
    rows = []
    for kind in ("retrieval", "insight"):  # F1 repeats per head kind: it must be counted once
        for data, (m, lo, hi) in f1.items():
            rows.append(
                {
                    "task": task,
                    "model": "m",
                    "data": data,
                    "condition": conditions.parse(data).label,
                    "head_kind": kind,
                    "scoring_mode": "teacher_forced",
                    "set_rule": "threshold",
                    "n_seeds": n_seeds,
                    "f1_mean": m,
                    "f1_ci_low": lo,
                    "f1_ci_high": hi,
                    "recall_mean": 0.5,
                    "recall_ci_low": NAN,
                    "recall_ci_high": NAN,
                }
            )
    return pl.DataFrame(rows)


def conditions_table(f1: dict[str, tuple[float, float, float]], seeds=(0,)) -> pl.DataFrame:
    rows = []
    for seed in seeds:
        for data, (m, lo, hi) in f1.items():
            rows.append(
                {
                    "task": "mdqa",
                    "data": data,
                    "model": "m",
                    "seed": seed,
                    "condition": conditions.parse(data).label,
                    "is_reference": data == "real",
                    "head_kind": "retrieval",
                    "scoring_mode": "teacher_forced",
                    "set_rule": "threshold",
                    "f1": m,
                    "f1_ci_low": lo,
                    "f1_ci_high": hi,
                    "recall": 0.5,
                }
            )
    return pl.DataFrame(rows)


def test_a_supported_when_the_real_interval_is_above_every_synthetic_one():
    f1 = {"real": (0.8, 0.75, 0.85), "high-low": (0.5, 0.45, 0.55), "symbolic-symbolic": (0.6, 0.5, 0.7)}
    f1["none"] = (0.9, 0.85, 0.95)  # the baseline is not a synthetic variant
    e = pick(claims.claim_verdicts({"condition_means": means_table(f1)}), "a")
    assert e["verdict"] == SUPPORTED
    assert e["numbers"]["best_synthetic"] == "symbolic" and e["numbers"]["best_synthetic_f1"] == 0.6
    assert e["numbers"]["real_ci"] == [0.75, 0.85] and e["numbers"]["n_synthetic"] == 2
    assert "seeds" in e["numbers"]["interval"]


def test_a_contradicted_when_a_synthetic_interval_is_above_the_real_one():
    f1 = {"real": (0.5, 0.45, 0.55), "high-low": (0.7, 0.6, 0.8), "low-low": (0.4, 0.3, 0.5)}
    e = pick(claims.claim_verdicts({"condition_means": means_table(f1)}), "a")
    assert e["verdict"] == CONTRADICTED and "high/low" in e["reason"]


def test_a_not_testable_when_intervals_overlap_even_if_the_real_mean_is_higher():
    f1 = {"real": (0.6, 0.5, 0.7), "high-low": (0.55, 0.45, 0.65)}
    e = pick(claims.claim_verdicts({"condition_means": means_table(f1)}), "a")
    assert e["verdict"] == UNTESTABLE and "overlap" in e["reason"]


def test_a_one_seed_uses_the_bootstrap_over_examples():
    f1 = {"real": (0.8, 0.7, 0.9), "high-low": (0.3, 0.2, 0.4)}
    means = means_table({d: (m, NAN, NAN) for d, (m, _, _) in f1.items()}, n_seeds=1)
    e = pick(claims.claim_verdicts({"condition_means": means, "conditions": conditions_table(f1)}), "a")
    assert e["verdict"] == SUPPORTED and "examples" in e["numbers"]["interval"]


def test_a_a_baseline_without_a_seed_interval_does_not_block_the_seed_intervals():
    f1 = {"real": (0.8, 0.75, 0.85), "high-low": (0.5, 0.45, 0.55), "none": (0.2, NAN, NAN)}
    e = pick(claims.claim_verdicts({"condition_means": means_table(f1)}), "a")
    assert e["verdict"] == SUPPORTED and "seeds" in e["numbers"]["interval"]


def test_a_several_seeds_without_a_seed_interval_is_not_testable():
    f1 = {"real": (0.8, 0.7, 0.9), "high-low": (0.3, 0.2, 0.4)}
    means = means_table({d: (m, NAN, NAN) for d, (m, _, _) in f1.items()})
    tables = {"condition_means": means, "conditions": conditions_table(f1, seeds=(0, 1))}
    e = pick(claims.claim_verdicts(tables), "a")
    assert e["verdict"] == UNTESTABLE and "no interval" in e["reason"] and e["numbers"]["real_f1"] == 0.8


def test_a_without_a_synthetic_condition():
    e = pick(claims.claim_verdicts({"condition_means": means_table({"real": (0.8, 0.7, 0.9)})}), "a")
    assert e["verdict"] == UNTESTABLE and "synthetic" in e["reason"]


# ----------------------------------------------------------------------------------------------- (b), (f)


def corr_row(task="mdqa", kind="retrieval", seed="pooled", rho=0.9, lo=0.3, hi=1.0, p=0.01, n=10, **over):
    row = {
        "task": task,
        "model": "m",
        "seed": seed,
        "head_kind": kind,
        "scoring_mode": "teacher_forced",
        "set_rule": "threshold",
        "x": "recall",
        "y": "f1",
        "method": "spearman",
        "n": n,
        "estimate": rho,
        "ci_low": lo,
        "ci_high": hi,
        "p_permutation": p,
    }
    return row | over


def corr_table(*rows) -> pl.DataFrame:
    """Through CSV, as the workflow reads it: seed is a string column ("0", "pooled")."""
    buf = io.StringIO()
    pl.DataFrame([{**r, "seed": str(r["seed"])} for r in rows]).write_csv(buf)
    return pl.read_csv(io.StringIO(buf.getvalue()))


@pytest.mark.parametrize(
    ("row", "verdict", "why"),
    [
        (dict(rho=0.9, lo=0.3, hi=1.0, p=0.01), SUPPORTED, "above 0"),
        (dict(rho=-0.9, lo=-1.0, hi=-0.4, p=0.01), CONTRADICTED, "below 0"),
        (dict(rho=0.5, lo=-0.2, hi=0.9, p=0.2), UNTESTABLE, "crosses 0"),
        (dict(rho=0.7, lo=0.1, hi=0.9, p=0.08), UNTESTABLE, "not below 0.05"),
        (dict(rho=NAN, lo=NAN, hi=NAN, p=NAN, n=2), UNTESTABLE, "Only 2 points"),
        (dict(rho=NAN, lo=NAN, hi=NAN, p=NAN, n=5), UNTESTABLE, "undefined"),
    ],
)
def test_b_verdicts(row, verdict, why):
    table = corr_table(corr_row(**row), corr_row(seed=0, rho=-0.9, lo=-1.0, hi=-0.5, p=0.001))
    e = pick(claims.claim_verdicts({"correlations": table}), "b")
    assert e["verdict"] == verdict and why in e["reason"]
    assert e["numbers"]["seed"] == "pooled", "the pooled row is judged, not a single seed"


def test_b_uses_the_only_seed_when_there_is_no_pooled_row_and_ignores_other_rows():
    rows = [
        corr_row(seed=0),
        corr_row(seed=0, method="pearson", rho=-0.9, lo=-1.0, hi=-0.5),
        corr_row(seed=0, x="cosine", rho=-0.9, lo=-1.0, hi=-0.5),
        corr_row(seed=0, scoring_mode="generate", rho=-0.9, lo=-1.0, hi=-0.5),
    ]
    e = pick(claims.claim_verdicts({"correlations": corr_table(*rows)}), "b")
    assert e["verdict"] == SUPPORTED and e["numbers"]["seed"] == "0"


def test_b_several_seeds_and_no_pooled_row_is_not_testable():
    e = pick(claims.claim_verdicts({"correlations": corr_table(corr_row(seed=0), corr_row(seed=1))}), "b")
    assert e["verdict"] == UNTESTABLE and "no pooled row" in e["reason"]


def test_f_insight_correlation_per_task_with_insight_heads():
    rows = [
        corr_row(task="musique", kind="insight"),
        corr_row(task="summhay", kind="insight", rho=0.2, lo=-0.5, hi=0.8, p=0.6),
    ]
    out = claims.claim_verdicts({"correlations": corr_table(*rows)})
    assert pick(out, "f", task="musique")["verdict"] == SUPPORTED
    assert pick(out, "f", task="summhay")["verdict"] == UNTESTABLE
    assert pick(out, "b", task=None)["verdict"] == UNTESTABLE, "no retrieval rows: one placeholder entry"


# ----------------------------------------------------------------------------------------------- (c), (d)


def ko_row(control, k, draw=0, f1=(0.5, 0.4, 0.6), lp=(-2.0, -2.2, -1.8), cond="real", seed=0, kind="retrieval"):
    return {
        "task": "mdqa",
        "data": cond,
        "model": "m",
        "seed": seed,
        "condition": conditions.parse(cond).label,
        "semantics": "uniform",
        "head_kind": None if control == "none" else kind,
        "control": control,
        "k": k,
        "draw": draw,
        "n_heads": k,
        "n_examples": 50,
        "f1": f1[0],
        "f1_ci_low": f1[1],
        "f1_ci_high": f1[2],
        "gold_logprob": lp[0],
        "gold_logprob_ci_low": lp[1],
        "gold_logprob_ci_high": lp[2],
    }


def ko_table(rows) -> pl.DataFrame:
    table = pl.DataFrame(rows, infer_schema_length=None)
    base = table.filter(pl.col("control") == "none").select(["condition", "seed", pl.col("f1").alias("_b")])
    return (
        table.join(base, on=["condition", "seed"], how="left")
        .with_columns((pl.col("f1") - pl.col("_b")).alias("delta_f1"))
        .drop("_b")
    )


def run_rows(top, rand, k=10, cond="real", seed=0, kind="retrieval", lp_top=None, lp_rand=None):
    """A knockout run: none row, one top row and two matched random draws at k, plus a decoy k=5."""
    lp_top, lp_rand = lp_top or (-2.0, -2.2, -1.8), lp_rand or (-2.0, -2.2, -1.8)
    rows = [ko_row("none", 0, cond=cond, seed=seed)]
    rows.append(ko_row("top", k, f1=top, lp=lp_top, cond=cond, seed=seed, kind=kind))
    for d, r in enumerate(rand):
        rows.append(ko_row("random_matched", k, draw=d, f1=r, lp=lp_rand, cond=cond, seed=seed, kind=kind))
    # at k=5 the opposite holds: choosing k=10 must ignore it
    rows.append(ko_row("top", 5, f1=(0.9, 0.85, 0.95), cond=cond, seed=seed, kind=kind))
    rows.append(ko_row("random_matched", 5, f1=(0.1, 0.05, 0.15), cond=cond, seed=seed, kind=kind))
    return rows


@pytest.mark.parametrize(
    ("ks", "k"), [([5, 10, 20], 10), ([2, 5, 20], 5), ([20.0, 40.0], 40), ([], None), ([None, NAN], None)]
)
def test_choose_k(ks, k):
    assert claims.choose_k(ks) == k


def test_c_supported_when_top_k_interval_is_below_every_random_draw():
    rows = run_rows(top=(0.1, 0.05, 0.15), rand=[(0.5, 0.4, 0.6), (0.55, 0.45, 0.65)], lp_top=(-9, -10, -8))
    out = claims.claim_verdicts({"knockout": ko_table(rows)})
    e = pick(out, "c", metric="f1")
    assert e["verdict"] == SUPPORTED and e["numbers"]["k"] == 10
    assert e["numbers"]["top_mean"] == 0.1 and e["numbers"]["random_matched_mean"] == pytest.approx(0.525)
    assert pick(out, "c", metric="gold_logprob")["verdict"] == SUPPORTED


def test_c_contradicted_when_top_k_interval_is_above_every_random_draw():
    rows = run_rows(top=(0.8, 0.75, 0.85), rand=[(0.4, 0.3, 0.5), (0.45, 0.35, 0.55)])
    out = claims.claim_verdicts({"knockout": ko_table(rows)})
    assert pick(out, "c", metric="f1")["verdict"] == CONTRADICTED
    lp = pick(out, "c", metric="gold_logprob")
    assert lp["verdict"] == UNTESTABLE and "overlap" in lp["reason"], "identical log-prob intervals"


def test_c_one_overlapping_draw_makes_the_run_inconclusive():
    rows = run_rows(top=(0.1, 0.05, 0.15), rand=[(0.5, 0.4, 0.6), (0.2, 0.1, 0.3)])
    assert pick(claims.claim_verdicts({"knockout": ko_table(rows)}), "c", metric="f1")["verdict"] == UNTESTABLE


def test_c_majority_of_runs_with_none_against():
    good = (0.1, 0.05, 0.15), [(0.5, 0.4, 0.6)]
    rows = run_rows(*good, seed=0) + run_rows(*good, seed=1)
    rows += run_rows((0.3, 0.2, 0.5), [(0.5, 0.4, 0.6)], cond="high-low")  # overlaps
    e = pick(claims.claim_verdicts({"knockout": ko_table(rows)}), "c", metric="f1")
    assert e["verdict"] == SUPPORTED and (e["numbers"]["n_runs"], e["numbers"]["n_support"]) == (3, 2)
    rows += run_rows((0.8, 0.75, 0.85), [(0.5, 0.4, 0.6)], cond="low-low")  # one run against: mixed
    e = pick(claims.claim_verdicts({"knockout": ko_table(rows)}), "c", metric="f1")
    assert e["verdict"] == UNTESTABLE and e["numbers"]["n_contradict"] == 1


def test_c_nan_intervals_are_not_testable():
    rows = run_rows(top=(NAN, NAN, NAN), rand=[(NAN, NAN, NAN)])
    e = pick(claims.claim_verdicts({"knockout": ko_table(rows)}), "c", metric="f1")
    assert e["verdict"] == UNTESTABLE and e["numbers"]["n_undefined"] == 1


def test_f_insight_knockout_entries():
    rows = run_rows(top=(0.1, 0.05, 0.15), rand=[(0.5, 0.4, 0.6)], kind="insight")
    out = claims.claim_verdicts({"knockout": ko_table(rows)})
    assert pick(out, "f", metric="f1")["verdict"] == SUPPORTED


def d_rows(rand, none=(0.5, 0.49, 0.51), k=10):
    rows = [ko_row("none", 0, f1=none), ko_row("top", k, f1=(0.1, 0.0, 0.2))]
    for control in ("random_matched", "random_all"):
        rows += [ko_row(control, k, draw=d, f1=r) for d, r in enumerate(rand)]
    return rows


def test_d_supported_when_every_change_interval_is_inside_the_band():
    # change interval per row: [0.49 - 0.51, 0.52 - 0.49] = [-0.02, 0.03]
    e = pick(claims.claim_verdicts({"knockout": ko_table(d_rows([(0.5, 0.49, 0.52)] * 3))}), "d")
    assert e["verdict"] == SUPPORTED and e["numbers"]["n_rows"] == 6 and e["numbers"]["k"] == 10
    assert e["numbers"]["mean_interval_width"] == pytest.approx(0.05)


def test_d_contradicted_when_change_intervals_are_outside_the_band():
    # [0.29 - 0.51, 0.31 - 0.49] = [-0.22, -0.18]
    e = pick(claims.claim_verdicts({"knockout": ko_table(d_rows([(0.3, 0.29, 0.31)] * 2))}), "d")
    assert e["verdict"] == CONTRADICTED and e["numbers"]["mean_delta_f1"] == pytest.approx(-0.2)


def test_d_wide_intervals_are_not_testable_and_paired_intervals_are_used_when_present():
    table = ko_table(d_rows([(0.5, 0.3, 0.7)] * 2))
    e = pick(claims.claim_verdicts({"knockout": table}), "d")
    assert e["verdict"] == UNTESTABLE and "reach across" in e["reason"]
    paired = table.with_columns(pl.lit(-0.01).alias("delta_f1_ci_low"), pl.lit(0.02).alias("delta_f1_ci_high"))
    e = pick(claims.claim_verdicts({"knockout": paired}), "d")
    assert e["verdict"] == SUPPORTED and e["numbers"]["interval"] == "delta_f1 interval"


# ----------------------------------------------------------------------------------------------- (e)


def patch_rows(all_real, random, cond="symbolic-symbolic", seed=0, kind="retrieval", gap=(0.3, 0.8)):
    rows = []
    sets = [("shared", 0, (0.4, 0.2, 0.6)), ("real_only", 0, (0.2, 0.0, 0.4)), ("all_real", 0, all_real)]
    sets += [("random", d, r) for d, r in enumerate(random)]
    for head_set, draw, (m, lo, hi) in sets:
        rows.append(
            {
                "task": "mdqa",
                "data": cond,
                "model": "m",
                "seed": seed,
                "condition": conditions.parse(cond).label,
                "set_rule": "top_k",
                "head_kind": kind,
                "head_set": head_set,
                "draw": draw,
                "n_heads": 8,
                "n_examples": 50,
                "synthetic_f1": gap[0],
                "real_f1": gap[1],
                "synthetic_gold_logprob": -3.0,
                "real_gold_logprob": -1.0,
                "f1_recovery": m,
                "f1_recovery_ci_low": lo,
                "f1_recovery_ci_high": hi,
                "logprob_recovery": m,
                "logprob_recovery_ci_low": lo,
                "logprob_recovery_ci_high": hi,
            }
        )
    return rows


@pytest.mark.parametrize(
    ("all_real", "random", "verdict"),
    [
        ((0.6, 0.4, 0.8), [(0.1, -0.1, 0.2), (0.0, -0.2, 0.3)], SUPPORTED),
        ((-0.3, -0.5, -0.1), [(0.1, -0.1, 0.2)], CONTRADICTED),  # patching real heads makes it worse
        ((0.3, 0.2, 0.4), [(0.8, 0.6, 0.9)], CONTRADICTED),  # random heads recover more
        ((0.6, 0.4, 0.8), [(0.3, 0.1, 0.5)], UNTESTABLE),  # above 0, overlaps random
        ((0.1, -0.1, 0.3), [(-0.5, -0.6, -0.4)], UNTESTABLE),  # above random, crosses 0
    ],
)
def test_e_verdicts(all_real, random, verdict):
    out = claims.claim_verdicts({"patching": pl.DataFrame(patch_rows(all_real, random))})
    e = pick(out, "e", metric="f1")
    assert e["verdict"] == verdict
    assert pick(out, "e", metric="gold_logprob")["verdict"] == verdict
    assert e["numbers"]["all_real_recovery_mean"] == all_real[0]
    assert e["numbers"]["random_recovery_mean"] == pytest.approx(sum(r[0] for r in random) / len(random))
    assert e["numbers"]["shared_recovery_mean"] == 0.4
    assert e["numbers"]["mean_gap_real_minus_synthetic"] == pytest.approx(0.5)


def test_e_undefined_recovery_when_real_equals_synthetic():
    rows = patch_rows((NAN, NAN, NAN), [(NAN, NAN, NAN)], gap=(0.4, 0.4))
    rows += patch_rows((NAN, NAN, NAN), [(NAN, NAN, NAN)], gap=(0.4, 0.4), seed=1)
    e = pick(claims.claim_verdicts({"patching": pl.DataFrame(rows)}), "e", metric="f1")
    assert e["verdict"] == UNTESTABLE and "undefined in all 2 runs" in e["reason"] and "gap 0" in e["reason"]
    assert e["numbers"]["n_undefined"] == 2


def test_f_insight_patching_entries():
    rows = patch_rows((0.6, 0.4, 0.8), [(0.1, -0.1, 0.2)], kind="insight")
    assert pick(claims.claim_verdicts({"patching": pl.DataFrame(rows)}), "f", metric="f1")["verdict"] == SUPPORTED


# ----------------------------------------------------------------------------------------------- empty, RST


@pytest.mark.parametrize("tables", [{}, {k: pl.DataFrame() for k in claims.TABLES}])
def test_empty_tables_give_one_untestable_entry_per_claim(tables):
    out = claims.claim_verdicts(tables)
    assert [e["claim"] for e in out] == ["a", "b", "c", "d", "e", "f"]
    assert {e["verdict"] for e in out} == {UNTESTABLE}
    assert all(e["task"] is None and e["reason"].endswith(".") for e in out)


def test_tables_with_columns_but_no_rows():
    f1 = {"real": (0.8, 0.7, 0.9), "high-low": (0.3, 0.2, 0.4)}
    tables = {
        "condition_means": means_table(f1).head(0),
        "correlations": corr_table(corr_row()).head(0),
        "knockout": ko_table(d_rows([(0.5, 0.4, 0.6)])).head(0),
        "patching": pl.DataFrame(patch_rows((0.1, 0, 0.2), [(0.1, 0, 0.2)])).head(0),
    }
    out = claims.claim_verdicts(tables)
    assert [e["claim"] for e in out] == ["a", "b", "c", "d", "e", "f"]
    assert {e["verdict"] for e in out} == {UNTESTABLE}


def _rst_warnings(text: str) -> str:
    docutils = pytest.importorskip("docutils.core")
    err = io.StringIO()
    docutils.publish_doctree(text, settings_overrides={"warning_stream": err, "report_level": 1})
    return err.getvalue()


def test_claims_rst_is_valid_restructuredtext_and_names_every_verdict():
    rows = run_rows(top=(0.1, 0.05, 0.15), rand=[(0.5, 0.4, 0.6)])
    f1 = {"real": (0.8, 0.75, 0.85), "high-low": (0.5, 0.45, 0.55)}
    tables = {
        "knockout": ko_table(rows),
        "condition_means": means_table(f1),
        "correlations": corr_table(corr_row(rho=-0.9, lo=-1, hi=-0.4, p=0.01)),
    }
    verdicts = claims.claim_verdicts(tables)
    text = claims.claims_rst(verdicts)
    assert _rst_warnings(text) == ""
    assert text.count("\n- **(") == len(verdicts) and text.count("Numbers: ``") >= 3
    assert "**(a) supported**" in text and "**(b) contradicted**" in text and "not testable at this size**" in text
    assert "real_ci = [0.75, 0.85]" in text, "numbers are inline literals, not escaped"
    assert _rst_warnings(claims.claims_rst(claims.claim_verdicts({}))) == ""
    assert "No claims were evaluated" in claims.claims_rst([])


def test_rst_escapes_markup_in_reasons():
    entry = claims.claim_verdicts({})[0] | {"reason": "a *b* `c` |d| e_ f\\g", "task": "x_y"}
    text = claims.claims_rst([entry])
    assert _rst_warnings(text) == ""
    assert "\\*b\\*" in text and "x\\_y" in text


def test_a_seed_intervals_are_widened_by_each_seeds_interval_over_test_examples():
    # The default's MDQA third (stop 19): real F1 0.604 on both seeds, so its Student-t interval over seeds is
    # [0.604, 0.604]; the best synthetic set (low/high) 0.385 [0.253, 0.518] over seeds. Each seed's bootstrap
    # over its 24 test examples: real [0.417, 0.792], low/high as wide as [0.167, 0.583]. Seed intervals alone
    # separate the two; with the test examples' error they overlap.
    seed_level = {"real": (0.604, 0.604, 0.604), "low-high": (0.385, 0.253, 0.518), "low-low": (0.33, 0.30, 0.36)}
    per_seed = {"real": (0.604, 0.417, 0.792), "low-high": (0.385, 0.167, 0.583), "low-low": (0.33, 0.2, 0.45)}
    alone = pick(claims.claim_verdicts({"condition_means": means_table(seed_level)}), "a")
    assert alone["verdict"] == SUPPORTED
    tables = {"condition_means": means_table(seed_level), "conditions": conditions_table(per_seed, seeds=(0, 1))}
    e = pick(claims.claim_verdicts(tables), "a")
    assert e["verdict"] == UNTESTABLE and "overlap" in e["reason"]
    assert e["numbers"]["real_ci"] == [0.417, 0.792] and e["numbers"]["best_synthetic_ci"] == [0.167, 0.583]
    assert "test examples" in e["numbers"]["interval"]


def test_a_the_widened_interval_keeps_a_wide_seed_interval():
    # the envelope never narrows: a seed interval wider than the per-example ones is kept
    seed_level = {"real": (0.8, 0.6, 0.95), "high-low": (0.3, 0.25, 0.35)}
    per_seed = {"real": (0.8, 0.7, 0.9), "high-low": (0.3, 0.2, 0.4)}
    tables = {"condition_means": means_table(seed_level), "conditions": conditions_table(per_seed, seeds=(0, 1))}
    e = pick(claims.claim_verdicts(tables), "a")
    assert e["numbers"]["real_ci"] == [0.6, 0.95] and e["numbers"]["best_synthetic_ci"] == [0.2, 0.4]
    assert e["verdict"] == SUPPORTED
