"""Claim verdicts from hand-built aggregate tables (columns as in /tmp/spec/formats.md): each claim kind
can come out supported, contradicted, inconclusive or undefined, and empty tables give "undefined", never a crash."""

from __future__ import annotations

import io
import math

import polars as pl
import pytest

from claim_tables import eval_examples, ko_examples, patch_examples
from synthctx.analysis import claims
from synthctx.analysis.claims import CONTRADICTED, INCONCLUSIVE, SUPPORTED, UNDEFINED

NAN = math.nan


def pick(entries, claim, task="mdqa", **where):
    out = [e for e in entries if e["claim"] == claim and e["task"] == task]
    out = [e for e in out if all(e["numbers"].get(k) == v or e.get(k) == v for k, v in where.items())]
    assert len(out) == 1, f"expected one entry for ({claim}) {task} {where}, got {len(out)}"
    return out[0]


# (a): the paired tests are in tests/test_claims_ab.py


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
        (dict(rho=0.5, lo=-0.2, hi=0.9, p=0.2), INCONCLUSIVE, "crosses 0"),
        (dict(rho=0.7, lo=0.1, hi=0.9, p=0.08), INCONCLUSIVE, "not below 0.05"),
        (dict(rho=NAN, lo=NAN, hi=NAN, p=NAN, n=2), UNDEFINED, "Only 2 points"),
        (dict(rho=NAN, lo=NAN, hi=NAN, p=NAN, n=5), UNDEFINED, "undefined"),
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
    assert e["verdict"] == UNDEFINED and "no pooled row" in e["reason"]


def test_f_insight_correlation_per_task_with_insight_heads():
    rows = [
        corr_row(task="musique", kind="insight"),
        corr_row(task="summhay", kind="insight", rho=0.2, lo=-0.5, hi=0.8, p=0.6),
    ]
    out = claims.claim_verdicts({"correlations": corr_table(*rows)})
    assert pick(out, "f", task="musique")["verdict"] == SUPPORTED
    assert pick(out, "f", task="summhay")["verdict"] == INCONCLUSIVE
    assert pick(out, "b", task=None)["verdict"] == UNDEFINED, "no retrieval rows: one placeholder entry"


# ----------------------------------------------------------------------------------------------- empty, RST


@pytest.mark.parametrize("tables", [{}, {k: pl.DataFrame() for k in claims.TABLES}])
def test_empty_tables_give_one_undefined_entry_per_claim(tables):
    out = claims.claim_verdicts(tables)
    assert [e["claim"] for e in out] == ["a", "b", "c", "d", "e", "f"]
    assert {e["verdict"] for e in out} == {UNDEFINED}
    assert all(e["task"] is None and e["reason"].endswith(".") for e in out)


def test_tables_with_columns_but_no_rows():
    tables = {
        "examples": eval_examples({"real": [0.8], "high-low": [0.3]}).head(0),
        "correlations": corr_table(corr_row()).head(0),
        "knockout_examples": ko_examples(top=[-3.0, -4.0], rand=[-1.0, -1.5]).head(0),
        "patching_examples": patch_examples([0.5, 0.6], [0.1, 0.2]).head(0),
    }
    out = claims.claim_verdicts(tables)
    assert [e["claim"] for e in out] == ["a", "b", "c", "d", "e", "f"]
    assert {e["verdict"] for e in out} == {UNDEFINED}


def _rst_warnings(text: str) -> str:
    docutils = pytest.importorskip("docutils.core")
    err = io.StringIO()
    docutils.publish_doctree(text, settings_overrides={"warning_stream": err, "report_level": 1})
    return err.getvalue()


def test_claims_rst_is_valid_restructuredtext_and_names_every_verdict():
    tables = {
        "knockout_examples": ko_examples(top=[-3.0, -4.0, -3.5], rand=[-1.0, -1.5, -1.0]),
        "examples": eval_examples({"real": [1.0] * 6, "high-low": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]}),
        "correlations": corr_table(corr_row(rho=-0.9, lo=-1, hi=-0.4, p=0.01)),
    }
    verdicts = claims.claim_verdicts(tables)
    text = claims.claims_rst(verdicts)
    assert _rst_warnings(text) == ""
    assert text.count("\n- **(") == len(verdicts) and text.count("Numbers: ``") >= 3
    assert "**(a) supported**" in text and "**(b) contradicted**" in text and "inconclusive**" in text
    assert "weakest = high/low" in text, "numbers are inline literals, not escaped"
    assert _rst_warnings(claims.claims_rst(claims.claim_verdicts({}))) == ""
    assert "No claims were evaluated" in claims.claims_rst([])


def test_rst_escapes_markup_in_reasons():
    entry = claims.claim_verdicts({})[0] | {"reason": "a *b* `c` |d| e_ f\\g", "task": "x_y"}
    text = claims.claims_rst([entry])
    assert _rst_warnings(text) == ""
    assert "\\*b\\*" in text and "x\\_y" in text
