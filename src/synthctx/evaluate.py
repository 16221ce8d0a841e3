"""Greedy answers on the real test split, scored with each task's metric (STUDY.md): token F1 and
substring exact match for MDQA and MuSiQue, citation precision/recall/F1 for SummHay."""

from __future__ import annotations

import time
from typing import Any

import torch

from synthctx import tasks
from synthctx.correlation import mean_ci
from synthctx.prompting import encode


@torch.no_grad()
def generate_answer(model, tokenizer, record: dict[str, Any], max_new_tokens: int) -> tuple[str, list[int]]:
    enc = encode(tokenizer, record, None)
    ids = torch.tensor([enc.input_ids], device=model.device)
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    generated = out[0, ids.shape[1] :].tolist()
    if tokenizer.eos_token_id in generated:
        generated = generated[: generated.index(tokenizer.eos_token_id)]
    return tokenizer.decode(generated, skip_special_tokens=True).strip(), generated


def summarise(task: str, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of every metric over the predictions that have it (support F1: only those that cite), each with
    `<metric>_ci_low` / `<metric>_ci_high`: the 95 % percentile bootstrap interval of that mean over the test
    examples (scipy.stats.bootstrap, 2000 resamples, seed 0), so one run's F1 carries its sampling error.
    The interval is NaN with fewer than 2 values (no spread to estimate); when all values are equal it is
    low = high = the mean. `ci_method` says this in words."""
    ci = {"n_resamples": 2000, "confidence": 0.95, "seed": 0}
    keys = sorted({k for p in predictions for k in p["metrics"]})
    summary: dict[str, Any] = {"n_examples": len(predictions), "metric": tasks.get(task).metric}
    for k in keys:
        values = [p["metrics"][k] for p in predictions if k in p["metrics"]]
        summary[k] = sum(values) / len(values)
        summary[f"n_{k}"] = len(values)
        if len(values) >= 2 and min(values) == max(values):
            summary[f"{k}_ci_low"] = summary[f"{k}_ci_high"] = summary[k]
        else:
            summary[f"{k}_ci_low"], summary[f"{k}_ci_high"] = mean_ci(values, **ci)
    summary["ci_method"] = (
        f"{ci['confidence']:.0%} percentile bootstrap of the mean over test examples "
        f"(scipy.stats.bootstrap, {ci['n_resamples']} resamples, seed {ci['seed']}); "
        "NaN with fewer than 2 values; low = high = the mean when all values are equal"
    )
    return summary


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
        text, ids = generate_answer(model, tokenizer, rec, max_new_tokens)
        metrics = score(rec, text)
        predictions.append(
            {"id": rec["id"], "prediction": text, "generated_ids": ids, "answers": rec["answers"], "metrics": metrics}
        )
        if i % 10 == 0 or i == len(records):
            print(f"evaluated {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True)
    summary = {**summarise(task, predictions), "max_new_tokens": max_new_tokens, "decoding": "greedy"}
    return predictions, summary
