"""Greedy answers on the real test split, scored with token F1 (SQuAD) and substring exact match."""
from __future__ import annotations

import time
from typing import Any

import torch

from synthctx.metrics import max_token_f1, substring_exact_match
from synthctx.prompting import encode


@torch.no_grad()
def generate_answer(model, tokenizer, record: dict[str, Any], max_new_tokens: int) -> tuple[str, list[int]]:
    enc = encode(tokenizer, record, None)
    ids = torch.tensor([enc.input_ids], device=model.device)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    generated = out[0, ids.shape[1]:].tolist()
    if tokenizer.eos_token_id in generated:
        generated = generated[:generated.index(tokenizer.eos_token_id)]
    return tokenizer.decode(generated, skip_special_tokens=True).strip(), generated


def evaluate(model, tokenizer, records: list[dict[str, Any]], max_new_tokens: int) -> tuple[list[dict], dict]:
    """Per-example predictions and the summary (mean F1 and EM)."""
    predictions = []
    start = time.time()
    for i, rec in enumerate(records, 1):
        text, ids = generate_answer(model, tokenizer, rec, max_new_tokens)
        predictions.append({"id": rec["id"], "prediction": text, "generated_ids": ids, "answers": rec["answers"],
                            "f1": max_token_f1(text, rec["answers"]),
                            "substring_em": substring_exact_match(text, rec["answers"])})
        if i % 10 == 0 or i == len(records):
            print(f"evaluated {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True)
    n = len(predictions)
    summary = {"n_examples": n, "f1": sum(p["f1"] for p in predictions) / n,
               "substring_em": sum(p["substring_em"] for p in predictions) / n, "max_new_tokens": max_new_tokens,
               "decoding": "greedy"}
    return predictions, summary
