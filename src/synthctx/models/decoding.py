"""Greedy answers and the gold answer's log-probability, defined once for evaluation and the interventions.

Every greedy answer is decoded by :func:`greedy_continue`, one token at a time over a key-value cache: the
interventions feed it through runners that patch or knock out heads (one prefill serving both measures),
evaluation through the plain model (:func:`answer_and_gold_logprob`), which also takes the gold answer's
log-probability from the same prefill. Both stop at the end-of-text token and turn the
answer's ids into text with :func:`answer_text`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache

from synthctx.data.tasks import encode

__all__ = ["answer_and_gold_logprob", "answer_logprob", "answer_text", "gold_logprob", "greedy_continue"]


def answer_logprob(logits: torch.Tensor, ids: torch.Tensor, answer_positions: list[int], first: int = 0) -> float:
    """Log-probability of the answer tokens ``ids[0, answer_positions]`` (summed) under teacher forcing.

    `logits` are float rows of one sequence, row i predicting the token after position ``first + i`` (a forward
    may keep only the rows from the position that predicts the answer's first token on).
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    pos = torch.tensor(answer_positions, device=logits.device)
    return float(log_probs[pos - 1 - first, ids[0, pos]].sum())


def gold_logprob(model: torch.nn.Module, tokenizer: Any, record: dict[str, Any], answer: str | None = None) -> float:
    """Log-probability of the gold answer (``answer`` defaults to ``record["answers"][0]``) from one cache-free
    forward of prompt + answer; inside a knockout or patching block it scores the intervened model."""
    answer = record["answers"][0] if answer is None else answer
    encoded = encode(tokenizer, record, answer)
    positions = encoded.answer_positions
    if not positions or positions[0] == 0:
        raise ValueError(f"record {record.get('id')}: no scorable answer tokens")
    device = next(model.parameters()).device
    ids = torch.tensor([encoded.input_ids], dtype=torch.long, device=device)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0].float()
    return answer_logprob(logits, ids, positions)


def greedy_continue(
    next_logits: Callable[[int], torch.Tensor], first_token: int, eos_token_id: int | None, max_new_tokens: int
) -> list[int]:
    """Greedy answer ids from its first token on: `next_logits(token)` feeds one token to a cached model and
    returns the logits that predict the next one. Stops before the end-of-text token or at `max_new_tokens`."""
    generated: list[int] = []
    token = first_token
    while token != eos_token_id:
        generated.append(token)
        if len(generated) == max_new_tokens:
            break
        token = int(next_logits(token).argmax())
    return generated


def answer_text(tokenizer: Any, generated: list[int]) -> str:
    """The answer as text: special tokens dropped, surrounding whitespace stripped."""
    return tokenizer.decode(generated, skip_special_tokens=True).strip()


@torch.no_grad()
def answer_and_gold_logprob(
    model, tokenizer, record: dict[str, Any], max_new_tokens: int
) -> tuple[str, list[int], float]:
    """Evaluation's measures of one record from one prefill: the greedy answer's text and token ids (end-of-text
    cut off) and the gold answer's teacher-forced log-probability. One forward of prompt + gold answer fills the
    key-value cache and gives both the gold log-probability and, at the prompt's last position, the first greedy
    token; the cache is cut back to the prompt and :func:`greedy_continue`, the interventions' decoder, goes on
    from there. Plain greedy decoding as the study defines it: a model's own generation config (a repetition
    penalty, say) is not applied."""
    gold = encode(tokenizer, record, record["answers"][0])
    if gold.input_ids[: gold.prompt_length] != encode(tokenizer, record, None).input_ids:
        raise ValueError(f"record {record['id']}: the answered prompt does not start with the generation prompt")
    ids = torch.tensor([gold.input_ids], device=model.device)
    cache = DynamicCache()
    first = gold.prompt_length - 1  # the position that predicts the answer's first token
    logits = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=ids.shape[1] - first).logits[0].float()
    logprob = answer_logprob(logits, ids, gold.answer_positions, first)
    if len(gold.input_ids) > gold.prompt_length:  # cut the cache back to the prompt (crop takes a negative count)
        cache.crop(gold.prompt_length - len(gold.input_ids))

    def next_logits(token: int) -> torch.Tensor:
        step = torch.tensor([[token]], device=ids.device)
        return model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]

    generated = greedy_continue(next_logits, int(logits[0].argmax()), tokenizer.eos_token_id, max_new_tokens)
    return answer_text(tokenizer, generated), generated, logprob
