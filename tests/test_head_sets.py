import math

import numpy as np
import pytest

from synthctx.heads.head_sets import (
    compare_head_sets,
    head_set_comparison,
    heads_above,
    score_cosine,
    top_k_heads,
)

SCORES = np.array(
    [
        [0.10, 0.50, 0.20],
        [0.50, 0.05, 0.90],
    ]
)


def test_heads_above_is_strict() -> None:
    assert heads_above(SCORES, 0.2) == {(0, 1), (1, 0), (1, 2)}
    assert heads_above(SCORES, 0.5) == {(1, 2)}
    assert heads_above(SCORES, 0.9) == set()


def test_heads_above_returns_python_ints_and_skips_nan() -> None:
    scores = np.array([[np.nan, 1.0]])
    result = heads_above(scores, 0.0)
    assert result == {(0, 1)}
    layer, head = next(iter(result))
    assert type(layer) is int and type(head) is int


def test_heads_above_rejects_non_2d() -> None:
    with pytest.raises(ValueError):
        heads_above(np.zeros(3), 0.1)


def test_top_k_heads_basic() -> None:
    assert top_k_heads(SCORES, 1) == {(1, 2)}
    assert top_k_heads(SCORES, 0) == set()
    assert top_k_heads(SCORES, 100) == {(i, j) for i in range(2) for j in range(3)}


def test_top_k_heads_tie_break_by_layer_then_head() -> None:
    # (0,1) and (1,0) tie at 0.5: k=2 takes the earlier (layer, head) = (0,1)
    assert top_k_heads(SCORES, 2) == {(1, 2), (0, 1)}
    # all tied: the first k in (layer, head) order
    flat = np.ones((2, 3))
    assert top_k_heads(flat, 4) == {(0, 0), (0, 1), (0, 2), (1, 0)}
    ties_in_one_layer = np.array([[0.0, 0.3, 0.3, 0.3]])
    assert top_k_heads(ties_in_one_layer, 2) == {(0, 1), (0, 2)}


def test_top_k_heads_never_selects_a_head_without_hits() -> None:
    """Zero-score heads would otherwise fill the set in (layer, head) order, identically for every model."""
    mostly_zero = np.array([[0.0, 0.0, 0.02], [0.0, 0.01, 0.0]])
    assert top_k_heads(mostly_zero, 4) == {(0, 2), (1, 1)}
    assert top_k_heads(np.zeros((2, 3)), 3) == set()


def test_top_k_heads_never_selects_nan() -> None:
    scores = np.array([[np.nan, 0.1], [np.nan, 0.05]])
    assert top_k_heads(scores, 1) == {(0, 1)}
    assert top_k_heads(scores, 5) == {(0, 1), (1, 1)}


def test_top_k_heads_negative_k_raises() -> None:
    with pytest.raises(ValueError):
        top_k_heads(SCORES, -1)


def test_compare_head_sets_hand_computed() -> None:
    candidate = {(0, 0), (0, 1), (1, 1), (2, 0)}
    reference = {(0, 1), (1, 1), (3, 3)}
    out = compare_head_sets(candidate, reference)
    assert out["n_candidate"] == 4
    assert out["n_reference"] == 3
    assert out["n_shared"] == 2
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["precision"] == pytest.approx(2 / 4)
    assert out["jaccard"] == pytest.approx(2 / 5)


def test_compare_head_sets_nan_denominators() -> None:
    empty_ref = compare_head_sets({(0, 0)}, set())
    assert math.isnan(empty_ref["recall"])
    assert empty_ref["precision"] == 0.0
    assert empty_ref["jaccard"] == 0.0

    empty_cand = compare_head_sets(set(), {(0, 0)})
    assert math.isnan(empty_cand["precision"])
    assert empty_cand["recall"] == 0.0

    both = compare_head_sets(set(), set())
    assert all(math.isnan(both[k]) for k in ("recall", "precision", "jaccard"))
    assert both["n_shared"] == 0


def test_score_cosine() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0]])
    b = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert score_cosine(a, b) == pytest.approx(1 / math.sqrt(2))
    assert score_cosine(a, a) == pytest.approx(1.0)
    assert score_cosine(a, -a) == pytest.approx(-1.0)
    assert score_cosine(SCORES, 3.0 * SCORES) == pytest.approx(1.0)


def test_score_cosine_zero_is_nan() -> None:
    assert math.isnan(score_cosine(np.zeros((2, 2)), np.ones((2, 2))))
    assert math.isnan(score_cosine(np.ones((2, 2)), np.zeros((2, 2))))


def test_score_cosine_shape_mismatch_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        score_cosine(np.ones((2, 3)), np.ones((3, 2)))


def test_head_set_comparison() -> None:
    candidate = np.array([[0.0, 0.6, 0.2], [0.7, 0.0, 0.1]])
    out = head_set_comparison(candidate, SCORES, threshold=0.3, top_k=2)
    # candidate above 0.3: {(0,1),(1,0)}; reference above 0.3: {(0,1),(1,0),(1,2)}
    assert out["threshold"]["threshold"] == 0.3
    assert out["threshold"]["n_shared"] == 2
    assert out["threshold"]["recall"] == pytest.approx(2 / 3)
    assert out["threshold"]["precision"] == 1.0
    # top-2 candidate: {(1,0),(0,1)}; reference: {(1,2),(0,1)}
    assert out["top_k"]["k"] == 2
    assert out["top_k"]["n_shared"] == 1
    assert out["top_k"]["jaccard"] == pytest.approx(1 / 3)
    expected_cos = float(
        np.dot(candidate.ravel(), SCORES.ravel()) / (np.linalg.norm(candidate) * np.linalg.norm(SCORES))
    )
    assert out["cosine"] == pytest.approx(expected_cos)


def test_head_set_comparison_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        head_set_comparison(np.ones((2, 3)), np.ones((2, 4)), threshold=0.1, top_k=1)


def _scores_file(condition: dict, copy_match: str, n_scored: int = 3) -> dict:
    block = {"scores": [[0.5, 0.0], [0.2, 0.3]], "n_scored": n_scored, "argmax_over": "all",
             "copy_match": copy_match, "normalization": "answer_span_tokens"}  # fmt: skip
    return {"condition": condition, "head_kinds": {"retrieval": {"modes": {"teacher_forced": block}}}}


def test_compare_scores_refuses_differently_scored_files_and_marks_undefined_sets() -> None:
    from synthctx.heads.head_sets import compare_scores

    ref = _scores_file({"data": "real"}, "normalized")
    same = compare_scores(_scores_file({"data": "high-low"}, "normalized"), ref, threshold=0.1, top_k=2)
    rule = same["head_kinds"]["retrieval"]["modes"]["teacher_forced"]["threshold"]
    assert rule["recall"] == 1.0 and rule["n_reference"] == 3  # heads (0,0), (1,0), (1,1) above 0.1 in both
    with pytest.raises(ValueError, match="copy_match='exact', the reference with 'normalized'"):
        compare_scores(_scores_file({"data": "high-low"}, "exact"), ref, threshold=0.1, top_k=2)
    empty = compare_scores(_scores_file({"data": "none"}, "normalized", n_scored=0), ref, threshold=0.1, top_k=2)
    assert math.isnan(empty["head_kinds"]["retrieval"]["modes"]["teacher_forced"]["threshold"]["recall"])
