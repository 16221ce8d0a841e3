"""Claims (c), (d) and (e) from hand-built per-example tables: the verdict, the interval, the p-value and the
MDE each worked out here from the differences the table was built with (not by the code under test)."""

from __future__ import annotations

import itertools
import math

import polars as pl
import pytest
from scipy import stats

from claim_tables import ko_examples, patch_examples
from synthctx.analysis import claims
from synthctx.analysis.claims import CONTRADICTED, HETEROGENEOUS, INCONCLUSIVE, SUPPORTED, UNDEFINED

D6 = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]  # mean -3.5, SD sqrt(3.5), exact sign-flip p = 2/64
SD6 = math.sqrt(3.5)
CI6 = (-3.5 - stats.t.ppf(0.975, 5) * SD6 / math.sqrt(6), -3.5 + stats.t.ppf(0.975, 5) * SD6 / math.sqrt(6))
MDE6 = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * SD6 / math.sqrt(6)


def pick(entries, claim, task="mdqa", **where):
    out = [e for e in entries if e["claim"] == claim and e["task"] == task]
    out = [e for e in out if all(e["numbers"].get(k) == v for k, v in where.items())]
    assert len(out) == 1, f"expected one ({claim}) {task} {where}, got {len(out)}"
    return out[0]


def _enumerated_p(d):
    hits = sum(abs(sum(s * v for s, v in zip(signs, d))) >= abs(sum(d)) - 1e-9
               for signs in itertools.product((1, -1), repeat=len(d)))  # fmt: skip
    return hits / 2 ** len(d)


# ----------------------------------------------------------------------------------------------- (c)


def test_c_top_minus_matched_random_supported_with_hand_numbers():
    rand = [-1.0] * 6
    top = [r + d for r, d in zip(rand, D6)]
    e = pick(claims.claim_verdicts({"knockout_examples": ko_examples(top, rand)}), "c", metric="gold_logprob")
    n = e["numbers"]
    assert e["verdict"] == SUPPORTED
    assert n["n_examples"] == 6 and n["n_models"] == 1 and n["mean"] == pytest.approx(-3.5)
    assert n["sd"] == pytest.approx(SD6) and n["ci"] == pytest.approx(list(CI6))
    assert n["p"] == pytest.approx(_enumerated_p(D6)) == pytest.approx(2 / 64) and n["p_holm"] == n["p"]
    assert n["mde"] == pytest.approx(MDE6) and n["k"] == 10
    assert n["p_method"] == "exact"


def test_c_random_draws_are_averaged_and_runs_pooled_per_example():
    # run A: top - mean(draws) = 2 * D6; run B: top equals the random heads: 0. Averaged per example: D6.
    rand_a = [[0.0] * 6, [-2.0] * 6]  # mean over the two draws: -1
    top_a = [-1.0 + 2 * d for d in D6]
    a = ko_examples(top_a, rand_a, run=("m", "real", 0))
    b = ko_examples([-2.0] * 6, [-2.0] * 6, run=("m", "high-low", 0))
    e = pick(claims.claim_verdicts({"knockout_examples": pl.concat([a, b])}), "c", metric="gold_logprob")
    n = e["numbers"]
    assert n["n_models"] == 2 and n["mean"] == pytest.approx(-3.5) and n["ci"] == pytest.approx(list(CI6))
    assert {r["run"]: r["mean"] for r in n["per_model"]} == pytest.approx({"m/high-low/0": 0.0, "m/real/0": -7.0})
    assert e["verdict"] == SUPPORTED


def test_c_holm_across_tasks_turns_a_lone_significant_test_inconclusive():
    # mdqa p = 2/64, musique (d = -1..-4) p = 2/16: Holm gives 2 * 2/64 = 0.0625 and max(0.0625, 0.125)
    mdqa = ko_examples(D6, [0.0] * 6)
    musique = ko_examples([-1.0, -2.0, -3.0, -4.0], [0.0] * 4, task="musique")
    out = claims.claim_verdicts({"knockout_examples": pl.concat([mdqa, musique])})
    m = pick(out, "c", metric="gold_logprob")
    assert m["numbers"]["p_holm"] == pytest.approx(0.0625) and m["numbers"]["holm_family_size"] == 2
    assert m["verdict"] == INCONCLUSIVE
    assert pick(out, "c", task="musique", metric="gold_logprob")["numbers"]["p_holm"] == pytest.approx(0.125)


def test_c_contradicted_and_heterogeneous():
    out = claims.claim_verdicts({"knockout_examples": ko_examples([-d for d in D6], [0.0] * 6)})
    assert pick(out, "c", metric="gold_logprob")["verdict"] == CONTRADICTED
    a = ko_examples([-10.0, -11.0, -12.0, -10.0, -11.0, -12.0], [0.0] * 6, run=("m", "real", 0))
    b = ko_examples([10.0, 11.0, 12.0, 10.0, 11.0, 12.5], [0.0] * 6, run=("m", "real", 1))
    e = pick(claims.claim_verdicts({"knockout_examples": pl.concat([a, b])}), "c", metric="gold_logprob")
    assert e["verdict"] == HETEROGENEOUS and "1 runs support, 1 contradict" in e["reason"]


def test_c_f1_beside_the_log_probability_and_constant_differences_are_undefined():
    out = claims.claim_verdicts({"knockout_examples": ko_examples(D6, [0.0] * 6)})
    f1 = pick(out, "c", metric="f1")  # F1 0.5 everywhere: no spread to test
    assert f1["verdict"] == UNDEFINED and f1["numbers"]["sd"] == 0


def test_c_inconclusive_without_a_known_paper_effect_is_not_called_informative():
    d = [-1.0, 1.0, -2.0, 2.0, -0.5, 0.4]
    e = pick(claims.claim_verdicts({"knockout_examples": ko_examples(d, [0.0] * 6)}), "c", metric="gold_logprob")
    assert e["verdict"] == INCONCLUSIVE and "Informative" not in e["reason"]


# ----------------------------------------------------------------------------------------------- (d)


def _d_table(change, top_change):
    none_f1 = [1.0] * len(change)
    f1 = {"none": none_f1, "rand": [1 + c for c in change], "top": [1 + c for c in top_change]}
    return ko_examples([-1.0] * len(change), [-1.0] * len(change), f1=f1, control="random_all")


def test_d_supported_inside_the_band_with_the_ratio_to_the_top_heads_harm():
    change = [0.0, 0.01, -0.01, 0.02, 0.0, -0.02]
    top_change = [-0.5, -0.6, -0.4, -0.5, -0.7, -0.3]
    e = pick(claims.claim_verdicts({"knockout_examples": _d_table(change, top_change)}), "d")
    n = e["numbers"]
    sd = math.sqrt(sum(c * c for c in change) / 5)  # mean 0
    half = stats.t.ppf(0.975, 5) * sd / math.sqrt(6)
    assert n["ci"] == pytest.approx([-half, half]) and n["sd"] == pytest.approx(sd)
    assert e["verdict"] == SUPPORTED and n["control"] == "random_all" and n["bound"] == 0.05
    assert n["p"] == pytest.approx(_enumerated_p(change))
    assert n["ratio_to_top_f1"] == pytest.approx(0.0 / -0.5, abs=1e-12)


def test_d_contradicted_wholly_outside_the_band():
    change = [-0.3, -0.4, -0.5, -0.3, -0.4, -0.5]
    top_change = [-0.6, -0.8, -1.0, -0.6, -0.8, -0.9]
    e = pick(claims.claim_verdicts({"knockout_examples": _d_table(change, top_change)}), "d")
    assert e["verdict"] == CONTRADICTED and e["numbers"]["p"] == pytest.approx(2 / 64)
    assert e["numbers"]["ratio_to_top_f1"] == pytest.approx(-0.4 / (-4.7 / 6))


def test_d_inconclusive_when_the_interval_reaches_across_the_band():
    change = [0.1, -0.1, 0.2, -0.2, 0.0, 0.05]
    e = pick(claims.claim_verdicts({"knockout_examples": _d_table(change, [-0.5] * 6)}), "d")
    assert e["verdict"] == INCONCLUSIVE


# ----------------------------------------------------------------------------------------------- (e)

E6 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_e_numerator_supported_and_recovery_once_the_gap_is_shown():
    patched = [0.5 + d for d in E6]  # random gives 0.5: patched - random = E6
    real = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # synthetic 0: gap mean 4.5
    table = patch_examples(patched, [0.5] * 6, [0.0] * 6, real)
    e = pick(claims.claim_verdicts({"patching_examples": table}), "e", metric="gold_logprob")
    n = e["numbers"]
    assert e["verdict"] == SUPPORTED and n["head_set"] == "all_real"
    assert n["mean"] == pytest.approx(3.5) and n["ci"] == pytest.approx([-CI6[1], -CI6[0]])
    assert n["p"] == pytest.approx(2 / 64) and n["mde"] == pytest.approx(MDE6)
    assert n["gap_shown_positive"] and n["gap_mean"] == pytest.approx(4.5)
    assert n["recovery"] == pytest.approx(4.0 / 4.5)
    f1 = pick(claims.claim_verdicts({"patching_examples": table}), "e", metric="f1")
    assert f1["numbers"]["paper_effect"] == 0.25  # MDQA shared heads: 0.48 -> 0.73 F1


def test_e_a_negative_gap_is_never_support():
    patched = [0.5 + d for d in E6]
    real = [-1.0, -2.0, -1.5, -1.0, -2.0, -1.5]  # the synthetic model beats the real one
    table = patch_examples(patched, [0.5] * 6, [0.0] * 6, real)
    e = pick(claims.claim_verdicts({"patching_examples": table}), "e", metric="gold_logprob")
    assert e["verdict"] == UNDEFINED and "nothing to recover" in e["reason"]
    assert math.isnan(e["numbers"]["recovery"])


def test_e_a_gap_not_shown_positive_leaves_the_numerator_inconclusive():
    patched = [0.5 + d for d in E6]
    real = [2.0, -1.0, 1.5, -1.0, 2.0, -1.0]  # mean 0.25 > 0, interval across 0
    table = patch_examples(patched, [0.5] * 6, [0.0] * 6, real)
    e = pick(claims.claim_verdicts({"patching_examples": table}), "e", metric="gold_logprob")
    assert e["verdict"] == INCONCLUSIVE and "not shown positive" in e["reason"]


def test_e_shared_and_real_only_sets_are_judged_in_one_family():
    real = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    shared = patch_examples([0.5 + d for d in E6], [0.5] * 6, [0.0] * 6, real, head_set="shared")
    only = patch_examples([0.5 + d for d in E6], [0.5] * 6, [0.0] * 6, real, head_set="real_only")
    out = claims.claim_verdicts({"patching_examples": pl.concat([shared, only.filter(pl.col("head_set") != "random")])})
    for head_set in ("shared", "real_only"):
        e = pick(out, "e", metric="gold_logprob", head_set=head_set)
        assert e["numbers"]["holm_family_size"] == 2 and e["numbers"]["p_holm"] == pytest.approx(2 * 2 / 64)
        assert e["verdict"] == INCONCLUSIVE  # 0.0625 after Holm
