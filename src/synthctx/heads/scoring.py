"""Retrieval score of every attention head (Wu et al. 2024), in teacher-forced or generate mode.

At answer step t the query is the position that predicts y_t; head (l, h) scores a hit when its
argmax key i* lies in the needle span S and input_ids[i*] == y_t (a copy-paste event). Example score
= hits / |S|; head score = mean over scored examples. Generate mode scores the model's own greedy
answer and only examples it answers correctly (ROUGE-1 recall > 0.5); teacher-forced mode feeds the
gold answer and scores every example. Argmax over all causal keys (as Wu et al.) or the context only.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from synthctx.heads.capture import capture_argmax
from synthctx.metrics import rouge1_recall
from synthctx.prompting import encode

MODES = ("teacher_forced", "generate")


def retrieval_hits(argmax: np.ndarray, input_ids: list[int], answer_positions: list[int],
                   needle_positions: list[int]) -> np.ndarray:
    """Hit counts per (layer, head); argmax[l, h, t] is the key chosen when predicting answer token t."""
    needle = np.zeros(len(input_ids), dtype=bool)
    needle[needle_positions] = True
    ids = np.asarray(input_ids)
    targets = ids[answer_positions]                         # y_t
    in_span = needle[argmax]                               # (L, H, T)
    copied = ids[argmax] == targets[None, None, :]
    return (in_span & copied).sum(axis=-1)


def score_example(model, input_ids: list[int], answer_positions: list[int], needle_positions: list[int],
                  key_range: tuple[int, int] | None) -> np.ndarray:
    """hits / |S| for every head, from one SDPA forward that captures only the answer rows."""
    queries = [p - 1 for p in answer_positions]
    ids = torch.tensor([input_ids], device=model.device)
    argmax = capture_argmax(model, ids, queries, key_range=key_range).cpu().numpy()
    return retrieval_hits(argmax, input_ids, answer_positions, needle_positions) / len(needle_positions)


def score_heads(model, tokenizer, records: list[dict[str, Any]], predictions: dict[str, dict], mode: str,
                argmax_over: str, span_role: str = "answer") -> dict[str, Any]:
    """Head scores (n_layers, n_heads) averaged over the scored examples, with which were scored."""
    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    total = np.zeros((n_layers, n_heads))
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
        needle = enc.span_positions[span_role]
        key_range = enc.context_range if argmax_over == "context" else None
        total += score_example(model, input_ids, answer_positions, needle, key_range)
        scored.append(rec["id"])
        if i % 10 == 0 or i == len(records):
            print(f"{mode}: scored {len(scored)} of {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True)
    scores = total / len(scored) if scored else np.full((n_layers, n_heads), np.nan)
    return {"mode": mode, "scores": scores.tolist(), "n_scored": len(scored), "n_examples": len(records),
            "scored_ids": scored, "argmax_over": argmax_over, "span": span_role,
            "success_gate": "rouge1_recall > 0.5" if mode == "generate" else None}
