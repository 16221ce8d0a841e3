"""Chat-template prompts and the token positions of every stored span.

Spans are character offsets into the record's context; they are mapped to tokens through the
tokenizer's offset mapping *after* the chat template is applied. A span no token covers is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The instruction of short-answer tasks; a task's spec names its own (SummHay's asks for labels).
ANSWER_INSTRUCTION = (
    "Answer the question using the documents below. Reply with the answer only: "
    "a short phrase taken from the documents."
)


def user_message(instruction: str, context: str, question: str) -> str:
    """The user turn: the task's instruction, the documents, the question."""
    return f"{instruction}\n\n{context}\n\nQuestion: {question}"


def prompt_text(tokenizer, instruction: str, context: str, question: str) -> str:
    """The user turn in the tokenizer's chat template, up to where the assistant's answer starts."""
    messages = [{"role": "user", "content": user_message(instruction, context, question)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def template_overhead(tokenizer, instruction: str) -> int:
    """Tokens of the prompt without documents or question: what length fitting adds to theirs."""
    return count_tokens(tokenizer, prompt_text(tokenizer, instruction, "", ""))


@dataclass
class Encoded:
    input_ids: list[int]
    prompt_length: int  # tokens before the first answer token
    answer_positions: list[int]  # positions of the answer's tokens (end-of-turn excluded)
    span_positions: dict[str, list[int]]  # span role -> token positions in input_ids
    context_range: tuple[int, int]  # [first, last + 1) token positions of the documents


def _tokens_covering(offsets: list[tuple[int, int]], start: int, end: int) -> list[int]:
    return [i for i, (s, e) in enumerate(offsets) if s < end and e > start and e > s]


def encode(tokenizer, record: dict[str, Any], answer: str | None, instruction: str) -> Encoded:
    """Prompt (+ answer and end-of-turn when given) as token ids, with span and answer positions.

    `instruction` is the record's task's (its spec's `instruction`): `synthctx.data.tasks.encode` passes it,
    so this module never imports the task registry (the tasks import it)."""
    user = user_message(instruction, record["context"], record["question"])
    prompt = prompt_text(tokenizer, instruction, record["context"], record["question"])
    text = prompt
    if answer is not None:
        full = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
            tokenize=False,
        )
        if not full.startswith(prompt):
            raise ValueError(f"record {record['id']}: chat template does not extend the prompt with the answer")
        text = full.rstrip("\n")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]
    prompt_length = sum(1 for s, e in offsets if e <= len(prompt))
    if prompt_length < len(ids) and offsets[prompt_length][0] < len(prompt):
        raise ValueError(f"record {record['id']}: a token crosses the prompt/answer boundary")
    answer_positions: list[int] = []
    if answer is not None:
        answer_positions = _tokens_covering(offsets, len(prompt), len(prompt) + len(answer))
        if answer and not answer_positions:
            raise ValueError(f"record {record['id']}: answer {answer!r} covers no token")
    context_start = prompt.find(record["context"])
    if context_start < 0 or prompt.find(record["context"], context_start + 1) >= 0:
        raise ValueError(f"record {record['id']}: context not found exactly once in the templated prompt")
    covered_context = _tokens_covering(offsets, context_start, context_start + len(record["context"]))
    context_range = (covered_context[0], covered_context[-1] + 1)
    span_positions: dict[str, list[int]] = {}
    for role, spans in record["spans"].items():
        positions: list[int] = []
        for s, e in spans:
            if not 0 <= s < e <= len(record["context"]):
                raise ValueError(f"record {record['id']}: span {role} [{s}, {e}) lies outside the context")
            covered = _tokens_covering(offsets, context_start + s, context_start + e)
            if not covered:
                raise ValueError(f"record {record['id']}: span {role} [{s}, {e}) covers no token")
            positions.extend(covered)
        span_positions[role] = sorted(set(positions))
    return Encoded(list(ids), prompt_length, answer_positions, span_positions, context_range)


def count_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
