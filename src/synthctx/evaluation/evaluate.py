"""Greedy answers on the real test split, scored with each task's metric (docs/method.md, "Task metrics"): token F1 and
substring exact match for MDQA and MuSiQue, citation precision/recall/F1 for SummHay."""

from __future__ import annotations

import time
from typing import Any

from synthctx.data import tasks
from synthctx.evaluation.evaluation_summary import summarise
from synthctx.models.decoding import answer_and_gold_logprob


def evaluate(model, tokenizer, records: list[dict[str, Any]], max_new_tokens: int) -> tuple[list[dict], dict]:
    """Per-example predictions and the summary (mean of each metric)."""
    predictions = []
    start = time.time()
    names = {r["task"] for r in records}
    if len(names) != 1:
        raise ValueError(f"test records of more than one task: {sorted(names)}")
    task = names.pop()
    score = tasks.get(task).score
    for i, rec in enumerate(records, 1):
        text, ids, gold_logprob = answer_and_gold_logprob(model, tokenizer, rec, max_new_tokens)
        metrics = {**score(rec, text), "gold_logprob": gold_logprob}
        predictions.append(
            {"id": rec["id"], "prediction": text, "generated_ids": ids, "answers": rec["answers"], "metrics": metrics}
        )
        if i % 10 == 0 or i == len(records):
            print(f"evaluated {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True)
    summary = {**summarise(task, predictions), "max_new_tokens": max_new_tokens, "decoding": "greedy"}
    return predictions, summary
