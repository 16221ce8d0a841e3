"""Greedy answers on the real test split, scored with each task's metric (STUDY.md): token F1 and
substring exact match for MDQA and MuSiQue, citation precision/recall/F1 for SummHay."""
from __future__ import annotations

import re
import time
from typing import Any

import torch

from synthctx.metrics import citation_prf, max_token_f1, parse_citations, substring_exact_match
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


TASK_METRIC = {
    "mdqa": "token F1 (SQuAD normalisation), max over gold answers; substring exact match",
    "musique": "answer token F1 (SQuAD normalisation), max over answer + aliases; substring exact match; "
               "support F1 over the documents cited as 'Document [i]' when a prediction cites any",
    "summhay": "citation precision, recall and F1 of the cited labels against the gold documents' labels",
}
_DOCUMENT_CITATION = re.compile(r"Document\s*\[?\s*(\d+)\s*\]?", re.IGNORECASE)


def cited_documents(text: str) -> list[str]:
    """1-based document numbers cited as "Document [i]" (how the context numbers its documents)."""
    return list(dict.fromkeys(m.group(1).lstrip("0") or "0" for m in _DOCUMENT_CITATION.finditer(text)))


def score_prediction(record: dict[str, Any], text: str) -> dict[str, float]:
    """The task's metrics for one answer; `f1` is always the task's headline metric."""
    task = record["task"]
    if task == "summhay":
        cited = parse_citations(text, valid_labels=record["citation_ids"])
        prf = citation_prf(cited, record["gold_citation_ids"])
        return {"f1": prf["f1"], "citation_precision": prf["precision"], "citation_recall": prf["recall"]}
    out = {"f1": max_token_f1(text, record["answers"]), "substring_em": substring_exact_match(text, record["answers"])}
    if task == "musique":
        cited = cited_documents(text)
        if cited:
            gold = [str(i + 1) for i, d in enumerate(record["documents"]) if d["doc_id"] in record["gold_doc_ids"]]
            out["support_f1"] = citation_prf(cited, gold)["f1"]
    return out


def summarise(task: str, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of every metric over the predictions that have it (support F1: only those that cite)."""
    keys = sorted({k for p in predictions for k in p["metrics"]})
    summary: dict[str, Any] = {"n_examples": len(predictions), "metric": TASK_METRIC[task]}
    for k in keys:
        values = [p["metrics"][k] for p in predictions if k in p["metrics"]]
        summary[k] = sum(values) / len(values)
        summary[f"n_{k}"] = len(values)
    return summary


def evaluate(model, tokenizer, records: list[dict[str, Any]], max_new_tokens: int) -> tuple[list[dict], dict]:
    """Per-example predictions and the summary (mean of each metric)."""
    predictions = []
    start = time.time()
    tasks = {r["task"] for r in records}
    if len(tasks) != 1:
        raise ValueError(f"test records of more than one task: {sorted(tasks)}")
    for i, rec in enumerate(records, 1):
        text, ids = generate_answer(model, tokenizer, rec, max_new_tokens)
        metrics = score_prediction(rec, text)
        predictions.append({"id": rec["id"], "prediction": text, "generated_ids": ids, "answers": rec["answers"],
                            "metrics": metrics})
        if i % 10 == 0 or i == len(records):
            print(f"evaluated {i}/{len(records)} examples ({time.time() - start:.0f} s)", flush=True)
    summary = {**summarise(tasks.pop(), predictions), "max_new_tokens": max_new_tokens, "decoding": "greedy"}
    return predictions, summary
