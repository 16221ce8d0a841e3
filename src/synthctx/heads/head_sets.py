"""Select attention heads from (n_layers, n_heads) score matrices and compare sets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Head = tuple[int, int]


def _as_score_matrix(scores: np.ndarray) -> np.ndarray:
    """Validate that scores is a 2-D (n_layers, n_heads) float array."""
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_layers, n_heads), got shape {arr.shape}")
    return arr


def heads_above(scores: np.ndarray, threshold: float) -> set[Head]:
    """Heads whose score is strictly above threshold (Wu et al.'s retrieval-head
    cut-off); NaN scores are never selected."""
    arr = _as_score_matrix(scores)
    layers, heads = np.nonzero(arr > threshold)
    return {(int(layer), int(head)) for layer, head in zip(layers, heads)}


def top_k_heads(scores: np.ndarray, k: int) -> set[Head]:
    """The k highest-scoring heads, ties broken by (layer, head) ascending. Heads scoring 0 (never a hit)
    or NaN are skipped, so fewer than k may be returned: otherwise a kind with almost no hits would fill
    its top k with the first zero-score heads in (layer, head) order, the same for every model."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    arr = _as_score_matrix(scores)
    flat = arr.ravel()  # C order: index = layer * n_heads + head
    order = np.argsort(-flat, kind="stable")
    order = order[flat[order] > 0][:k]
    n_heads = arr.shape[1]
    return {(int(i // n_heads), int(i % n_heads)) for i in order}


def _ratio(num: int, den: int) -> float:
    """num / den, NaN when den is 0 (undefined rather than zero overlap)."""
    return num / den if den else math.nan


def compare_head_sets(candidate: set[Head], reference: set[Head]) -> dict[str, float | int]:
    """Overlap of a candidate head set with a reference set (recall, precision,
    Jaccard, sizes); ratios with an empty denominator are NaN."""
    shared = len(candidate & reference)
    union = len(candidate | reference)
    return {
        "recall": _ratio(shared, len(reference)),
        "precision": _ratio(shared, len(candidate)),
        "jaccard": _ratio(shared, union),
        "n_candidate": len(candidate),
        "n_reference": len(reference),
        "n_shared": shared,
    }


def score_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two flattened score matrices, a threshold-free
    agreement measure; NaN if either is all-zero."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"score shapes differ: {a_arr.shape} vs {b_arr.shape}")
    a_flat, b_flat = a_arr.ravel(), b_arr.ravel()
    norm_a, norm_b = float(np.linalg.norm(a_flat)), float(np.linalg.norm(b_flat))
    if norm_a == 0.0 or norm_b == 0.0:
        return math.nan
    return float(np.dot(a_flat, b_flat) / (norm_a * norm_b))


def head_list(heads: set[Head], scores: np.ndarray) -> list[list[float | int]]:
    """[layer, head, score] of each head, best first (ties by layer, head): what the head-set stage writes."""
    ranked = sorted(heads, key=lambda h: (-scores[h], h))
    return [[layer, head, float(scores[layer, head])] for layer, head in ranked]


def select_heads(scores: np.ndarray, rule: str, threshold: float, top_k: int) -> set[Head]:
    """The head set of one selection rule: `threshold` (score above it) or `top_k`."""
    if rule == "threshold":
        return heads_above(scores, threshold)
    if rule == "top_k":
        return top_k_heads(scores, top_k)
    raise ValueError(f"unknown head-set rule {rule!r}: threshold or top_k")


SET_RULES = ("threshold", "top_k")


def head_set_comparison(
    candidate_scores: np.ndarray,
    reference_scores: np.ndarray,
    threshold: float,
    top_k: int,
) -> dict[str, object]:
    """Compare candidate vs reference heads by threshold set, top-k set and whole-matrix cosine; each rule's
    entry lists the heads themselves (with scores) beside the counts."""
    cand = _as_score_matrix(candidate_scores)
    ref = _as_score_matrix(reference_scores)
    if cand.shape != ref.shape:
        raise ValueError(f"score shapes differ: {cand.shape} vs {ref.shape}")
    out: dict[str, object] = {}
    for rule, setting in (("threshold", {"threshold": threshold}), ("top_k", {"k": top_k})):
        c, r = select_heads(cand, rule, threshold, top_k), select_heads(ref, rule, threshold, top_k)
        out[rule] = {
            **compare_head_sets(c, r),
            **setting,
            "candidate_heads": head_list(c, cand),
            "reference_heads": head_list(r, ref),
            "shared_heads": [list(h) for h in sorted(c & r)],
        }
    out["cosine"] = score_cosine(cand, ref)
    return out


def compare_scores(
    candidate: dict[str, Any], reference: dict[str, Any], threshold: float, top_k: int
) -> dict[str, Any]:
    """Head sets of a condition's `scores.json` against the reference's, per head kind and scoring mode.

    A mode in which either model scored no example has undefined head sets: every ratio is NaN there,
    not 0 (an empty set is not a set of heads that failed to match)."""
    if set(candidate["head_kinds"]) != set(reference["head_kinds"]):
        raise ValueError(
            f"head kinds differ: {sorted(candidate['head_kinds'])} vs the reference's {sorted(reference['head_kinds'])}"
        )
    kinds = {}
    for kind, c_kind in candidate["head_kinds"].items():
        modes = {}
        for mode, c in c_kind["modes"].items():
            r = reference["head_kinds"][kind]["modes"][mode]
            for rule in ("argmax_over", "copy_match", "normalization"):
                if c.get(rule) != r.get(rule):
                    raise ValueError(
                        f"{kind} heads ({mode}) were scored with {rule}={c.get(rule)!r}, the reference "
                        f"with {r.get(rule)!r}: rescore both with the same heads settings"
                    )
            comp = head_set_comparison(
                np.asarray(c["scores"], dtype=float), np.asarray(r["scores"], dtype=float), threshold, top_k
            )
            if not c["n_scored"] or not r["n_scored"]:
                for rule in ("threshold", "top_k"):
                    comp[rule].update(recall=math.nan, precision=math.nan, jaccard=math.nan)
                comp["cosine"] = math.nan
            modes[mode] = {**comp, "n_scored": c["n_scored"], "reference_n_scored": r["n_scored"]}
        kinds[kind] = {"modes": modes}
    return {
        "condition": candidate["condition"],
        "reference": reference["condition"],
        "head_kinds": kinds,
        "is_reference": candidate["condition"] == reference["condition"],
        "n_layers": candidate.get("n_layers"),
        "n_heads": candidate.get("n_heads"),
    }


def recall_by_step(
    by_step: dict[str, Any], reference: dict[str, Any], threshold: float, top_k: int
) -> list[dict[str, Any]]:
    """Recall of each training snapshot's teacher-forced heads against the reference's final heads (same
    mode): when, during fine-tuning, the real model's heads appear. Undefined (NaN) where nothing was scored."""
    out = []
    for snapshot in by_step["steps"]:
        kinds = {}
        for kind, block in snapshot["head_kinds"].items():
            ref_block = reference["head_kinds"][kind]["modes"]["teacher_forced"]
            cand, ref = np.asarray(block["scores"], dtype=float), np.asarray(ref_block["scores"], dtype=float)
            rules = {}
            for rule in SET_RULES:
                comp = compare_head_sets(
                    select_heads(cand, rule, threshold, top_k), select_heads(ref, rule, threshold, top_k)
                )
                if not ref_block["n_scored"] or not block.get("n_scored", 1):
                    comp["recall"] = math.nan
                rules[rule] = {
                    "recall": comp["recall"],
                    "n_candidate": comp["n_candidate"],
                    "n_shared": comp["n_shared"],
                }
            kinds[kind] = rules
        out.append({"step": snapshot["step"], "n_examples": snapshot["n_examples"], "head_kinds": kinds})
    return out
