"""Retrieval and insight scores of every attention head, in teacher-forced or generate mode.

At answer step t the query is the position that predicts y_t; head (l, h) scores a hit when its
argmax key i* lies in the needle span S and input_ids[i*] copies y_t (a copy-paste event): `copy_match:
exact` needs equal token ids (Wu et al.); `normalized` also counts tokens whose decoded text is equal once
leading whitespace is stripped (under a chat template the answer's first token is `White`, the context's
` White`). Example score = hits / |S|; head score = mean over scored examples. Not a share: a head can
score above 1 when there are more answer steps than needle tokens (a generated answer that repeats the
span, or an answer that splits into more tokens without its leading space than inside the context).
Generate mode scores the model's own greedy answer and only examples it answers correctly (ROUGE-1 recall
> 0.5); teacher-forced mode feeds the gold answer and scores every example. Argmax over all causal keys (as
Wu et al.) or the context only.
Insight score (docs/method.md, "Insight score"): same argmax, a hit when i* lies in an insight span
(MuSiQue's bridge entities, SummHay's insight sentences), no token match; normalised by the number of
answer steps (default, a share in [0, 1]) or by the insight span's length (|S| as in the retrieval score,
which can exceed 1 when the answer has more steps than the span has tokens; recorded either way).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import numpy as np
import torch

from synthctx.data.tasks import encode
from synthctx.evaluation.metrics import rouge1_recall
from synthctx.heads.capture import capture_argmax
from synthctx.models.anatomy import ModelAnatomy
from synthctx.plan.settings import HeadSettings

COPY_MATCHES = ("exact", "normalized")
_TOKEN_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def token_classes(tokenizer) -> np.ndarray:
    """classes[id]: one label per token id, equal for two ids exactly when `copy_match: normalized` counts
    them as the same token: `tokenizer.decode([id]).lstrip()` equal. A token that decodes to whitespace only,
    or to a replacement character (a piece of a multi-byte character), keeps a class of its own (exact match
    only), so unrelated byte pieces never match. Built once per tokenizer (one batch decode of the vocabulary)."""
    try:
        return _TOKEN_CLASSES[tokenizer]
    except (KeyError, TypeError):
        pass
    decoded = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    first: dict[str, int] = {}
    classes = np.arange(len(decoded))
    for i, text in enumerate(decoded):
        key = text.lstrip()
        if key and "\ufffd" not in key:
            classes[i] = first.setdefault(key, i)
    try:
        _TOKEN_CLASSES[tokenizer] = classes
    except TypeError:  # not weak-referenceable: rebuilt per call
        pass
    return classes


def _classes_for(tokenizer, vocab_size: int) -> np.ndarray:
    """token_classes, extended so ids the tokenizer does not know (a padded embedding) match only themselves."""
    classes = token_classes(tokenizer)
    if vocab_size > classes.size:
        classes = np.concatenate([classes, np.arange(classes.size, vocab_size)])
    return classes


def retrieval_hits(
    argmax: np.ndarray,
    input_ids: list[int],
    answer_positions: list[int],
    needle_positions: list[int],
    token_class: np.ndarray | None = None,
) -> np.ndarray:
    """Hit counts per (layer, head); argmax[l, h, t] is the key chosen when predicting answer token t.
    Without `token_class` a copy needs equal ids (`exact`); with it (token_classes), equal classes."""
    needle = np.zeros(len(input_ids), dtype=bool)
    needle[needle_positions] = True
    ids = np.asarray(input_ids)
    if token_class is not None:
        ids = token_class[ids]
    targets = ids[answer_positions]  # y_t
    in_span = needle[argmax]  # (L, H, T)
    copied = ids[argmax] == targets[None, None, :]
    return (in_span & copied).sum(axis=-1)


def insight_hits(argmax: np.ndarray, length: int, insight_positions: list[int]) -> np.ndarray:
    """Hit counts per (layer, head) when the argmax key lies in an insight span; no token match."""
    span = np.zeros(length, dtype=bool)
    span[insight_positions] = True
    return span[argmax].sum(axis=-1)


def example_argmax(
    model, input_ids: list[int], answer_positions: list[int], key_range: tuple[int, int] | None
) -> np.ndarray:
    """argmax[l, h, t]: the key each head attends to most when predicting answer token t (one SDPA forward
    that captures only the answer rows)."""
    queries = [p - 1 for p in answer_positions]
    ids = torch.tensor([input_ids], device=model.device)
    return capture_argmax(model, ids, queries, key_range=key_range).cpu().numpy()


COPY_RULES = {
    "exact": "equal token ids (Wu et al.)",
    "normalized": "equal token ids, or equal decoded tokens once leading whitespace is stripped",
}
DEFINITIONS = {
    "retrieval": "Wu et al. 2024: hit when the argmax key is in the answer span S and its token is the one generated "
    "(copy_match {copy_match}: {copy_rule}); example score hits/|S|, which exceeds 1 when there are more answer steps "
    "than |S| (a span copied twice); mean over scored examples; per query head",
    "insight": "hit when the argmax key is in an insight span (bridge entity / insight sentence), no token match; "
    "example score hits/{norm}; mean over scored examples; per query head",
}
INSIGHT_BOUNDS = {
    "answer_steps": "a share in [0, 1]",
    "span_tokens": "exceeds 1 when there are more answer steps than span tokens",
}
INSIGHT_NORMALIZATIONS = ("answer_steps", "span_tokens")


def score_heads(
    model,
    tokenizer,
    records: list[dict[str, Any]],
    predictions: dict[str, dict],
    mode: str,
    argmax_over: str,
    insight_normalization: str = "answer_steps",
    copy_match: str = "normalized",
) -> dict[str, dict[str, Any]]:
    """Head scores (n_layers, n_heads) per head kind, averaged over the scored examples, with which were
    scored. Retrieval scores always; insight scores when every record has insight spans (MuSiQue, SummHay).
    Both kinds come from the same captured argmax, one forward per example. `copy_match` (the retrieval
    score's copy rule, as the config's default): see COPY_RULES."""
    if copy_match not in COPY_MATCHES:
        raise ValueError(f"copy_match must be one of {COPY_MATCHES}, not {copy_match!r}")
    if insight_normalization not in INSIGHT_NORMALIZATIONS:
        raise ValueError(
            f"insight_normalization must be one of {INSIGHT_NORMALIZATIONS}, not {insight_normalization!r}"
        )
    anatomy = ModelAnatomy.of(model)
    n_layers, n_heads = anatomy.n_layers, anatomy.n_heads
    with_insight = [bool(r["spans"].get("insight")) for r in records]
    if any(with_insight) and not all(with_insight):
        missing = next(r["id"] for r, has in zip(records, with_insight) if not has)
        raise ValueError(
            f"record {missing} has no insight span while others of the split have: insight scores "
            f"would average over a different set of examples than retrieval scores"
        )
    vocab = max(len(tokenizer), getattr(model.config, "vocab_size", 0) or 0)
    token_class = _classes_for(tokenizer, vocab) if copy_match == "normalized" else None
    kinds = ["retrieval"] + (["insight"] if records and all(with_insight) else [])
    totals = {k: np.zeros((n_layers, n_heads)) for k in kinds}
    scored: list[str] = []
    start = time.time()
    for i, rec in enumerate(records, 1):
        if mode == "teacher_forced":
            enc = encode(tokenizer, rec, rec["answers"][0])
            input_ids, answer_positions = enc.input_ids, enc.answer_positions
        else:
            pred = predictions[rec["id"]]
            if not pred["generated_ids"] or max(rouge1_recall(pred["prediction"], a) for a in rec["answers"]) <= 0.5:
                continue
            enc = encode(tokenizer, rec, None)
            input_ids = enc.input_ids + list(pred["generated_ids"])
            answer_positions = list(range(enc.prompt_length, len(input_ids)))
        key_range = enc.context_range if argmax_over == "context" else None
        argmax = example_argmax(model, input_ids, answer_positions, key_range)
        needle = enc.span_positions["answer"]
        totals["retrieval"] += retrieval_hits(argmax, input_ids, answer_positions, needle, token_class) / len(needle)
        if "insight" in totals:
            insight = enc.span_positions["insight"]
            norm = len(answer_positions) if insight_normalization == "answer_steps" else len(insight)
            totals["insight"] += insight_hits(argmax, len(input_ids), insight) / norm
        scored.append(rec["id"])
        if i % 10 == 0 or i == len(records):
            print(
                f"{mode}: scored {len(scored)} of {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True
            )
    out = {}
    for kind, total in totals.items():
        scores = total / len(scored) if scored else np.full((n_layers, n_heads), np.nan)
        out[kind] = {
            "mode": mode,
            "scores": scores.tolist(),
            "n_scored": len(scored),
            "n_examples": len(records),
            "scored_ids": scored,
            "argmax_over": argmax_over,
            "copy_match": copy_match,
            "span": "answer" if kind == "retrieval" else "insight",
            "normalization": "answer_span_tokens" if kind == "retrieval" else insight_normalization,
            "success_gate": "rouge1_recall > 0.5" if mode == "generate" else None,
        }
    return out


def scores_file(
    model, tokenizer, records: list[dict[str, Any]], predictions: dict[str, dict], cfg: HeadSettings
) -> dict[str, Any]:
    """The layout of `scores.json`: per head kind, its definition and one score block per scoring mode."""
    norm = cfg.insight_normalization
    by_mode = {
        m: score_heads(model, tokenizer, records, predictions, m, cfg.argmax_over, norm, cfg.copy_match)
        for m in cfg.modes
    }
    kinds = next(iter(by_mode.values()))
    anatomy = ModelAnatomy.of(model)
    return {
        "head_kinds": {
            kind: {
                "definition": DEFINITIONS[kind].format(
                    norm=f"{norm} ({INSIGHT_BOUNDS[norm]})",
                    copy_match=cfg.copy_match,
                    copy_rule=COPY_RULES[cfg.copy_match],
                ),
                "modes": {m: res[kind] for m, res in by_mode.items()},
            }
            for kind in kinds
        },
        "n_layers": anatomy.n_layers,
        "n_heads": anatomy.n_heads,
    }


def snapshot_scores(
    load_model, tokenizer, snapshots: list[tuple[int, Any]], records: list[dict[str, Any]], cfg: HeadSettings
) -> list[dict[str, Any]]:
    """Teacher-forced head scores of each training snapshot (step, weights folder) on the first
    `cfg.snapshot_examples` test examples: when the heads appear during fine-tuning. `load_model(weights)`
    gives the base model with those weights applied."""
    subset = records if cfg.snapshot_examples is None else records[: cfg.snapshot_examples]
    out = []
    for step, weights in snapshots:
        scored = score_heads(
            load_model(weights), tokenizer, subset, {}, "teacher_forced", cfg.argmax_over,
            cfg.insight_normalization, cfg.copy_match,
        )  # fmt: skip
        out.append(
            {
                "step": step,
                "n_examples": len(subset),
                "head_kinds": {
                    kind: {"scores": block["scores"], "n_scored": block["n_scored"]} for kind, block in scored.items()
                },
            }
        )
    return out
