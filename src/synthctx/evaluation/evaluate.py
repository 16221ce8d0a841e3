"""Greedy answers on the real test split, scored with each task's metric (STUDY.md): token F1 and
substring exact match for MDQA and MuSiQue, citation precision/recall/F1 for SummHay."""

from __future__ import annotations

import time
from typing import Any

import torch

from synthctx.data import tasks
from synthctx.data.prompting import encode
from synthctx.evaluation.evaluation_summary import summarise


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
