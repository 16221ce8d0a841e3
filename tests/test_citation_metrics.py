"""Citation parsing and set precision / recall / F1 (SummHay citations, MuSiQue supporting paragraphs)."""

from __future__ import annotations

import pytest

from synthctx.evaluation.metrics import citation_prf, parse_citations


@pytest.mark.parametrize(
    "text,expected",
    [
        ("D3, D12", ["D3", "D12"]),
        ("D12,D3", ["D12", "D3"]),
        ("[D3][D12].", ["D3", "D12"]),
        ("Documents D3 and D12 (also d5; D03)", ["D3", "D12", "D5"]),
        ("D3, D3, D12, D3", ["D3", "D12"]),
        ("D0 and D00", ["D0"]),
        ("No document mentions it.", []),
        ("", []),
        ("ID12, AD1990, D12a, D 4, 1990", []),
    ],
)
def test_parse_citations(text, expected):
    assert parse_citations(text) == expected


def test_parse_citations_drops_unknown_labels_when_told_which_exist():
    assert parse_citations("D9, D3, X1, D12", valid_labels={"D3", "D12"}) == ["D3", "D12"]
    assert parse_citations("D9", valid_labels=[]) == []


def test_citation_prf():
    assert citation_prf(["D3", "D12"], ["D12", "D3"]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    half = citation_prf(["D3", "D7"], ["D3", "D12"])
    assert half == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    partial = citation_prf(["D3"], ["D3", "D12", "D5"])
    assert partial["precision"] == 1.0 and partial["recall"] == pytest.approx(1 / 3)
    assert partial["f1"] == pytest.approx(0.5)
    assert citation_prf(["D3", "D3", "D3", "D9"], ["D3"]) == citation_prf(["D3", "D9"], ["D3"])
    assert citation_prf(["D3", "D9"], ["D3"])["precision"] == 0.5


def test_citation_prf_empty_sides():
    assert citation_prf([], ["D3"]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert citation_prf(["D3"], []) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert citation_prf([], []) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert citation_prf(iter(()), iter(["D1"]))["f1"] == 0.0  # any iterable, consumed once


def test_parsed_prediction_scores_against_gold():
    gold = ["D3", "D12"]
    pred = parse_citations("The insight is in [D12] and D3, maybe D40.", valid_labels={"D3", "D12", "D40", "D7"})
    assert citation_prf(pred, gold) == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})
