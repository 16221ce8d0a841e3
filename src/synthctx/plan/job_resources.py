"""What each job asks the scheduler for, computed while the workflow is planned.

Standard library only (and the plan): workflow/rules/common.smk imports this before any job runs, so it must
not load torch.
The model stages' host memory follows from the parameter count and the dtype the weights are loaded in
(they are read into host memory before they move to the GPU); their wall time from a rough cost model of
the work (tokens x parameters at an assumed sustained GPU throughput). Every estimate grows linearly with
Snakemake's `attempt`, so a retried job gets more. Units are Snakemake's: `mem_mb` in MB (10^6 bytes),
`runtime` in minutes. Where the parameter count is unknown, the rules' former fixed values are used.
"""

from __future__ import annotations

import math
from typing import Any

from synthctx.plan.grid import n_head_kinds
from synthctx.plan.settings import intervention_parts
from synthctx.plan.slices import calibration_reserved, writer_slice

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
MB = 1_000_000

# Host memory: the weights once at the loading dtype, plus a share for what loading holds besides (the shard
# being read, allocator slack), plus a fixed part for the interpreter, torch and CUDA libraries, tokenizer and
# records.
WEIGHT_MARGIN = 0.25
HOST_OVERHEAD_MB = 4000

# Wall time. Assumed sustained throughput of one GPU (A100-class, about a third of its bf16 peak; fp32 runs
# without tensor cores) and the weight-streaming rate that bounds token-by-token decoding; a safety factor on
# the computed time, plus a fixed part for starting up and loading the weights from shared storage.
SUSTAINED_FLOPS = {"bfloat16": 1.0e14, "float16": 1.0e14, "float32": 1.5e13}
WEIGHT_BYTES_PER_SECOND = 1.0e12
TRAIN_FLOPS_PER_TOKEN_PER_PARAMETER = 8  # forward 2, recomputation under gradient checkpointing 2, backward 4
FORWARD_FLOPS_PER_TOKEN_PER_PARAMETER = 2
SAFETY = 1.5
STARTUP_MINUTES = 10

# Where the parameter count is unknown (a model spec without `parameters` that is not random_init).
FALLBACK_MEM_MB = {"train": 6000, "inference": 4000}
FALLBACK_MINUTES = {"train": 60, "inference": 30}

# random_init architectures that leave vocab_size to the tokenizer: estimated with Llama-3's vocabulary,
# larger than that of most tokenizers, so the estimate errs high.
DEFAULT_VOCAB_SIZE = 128_256


def llama_parameters(arch: dict[str, Any]) -> int:
    """Parameters of a LlamaForCausalLM built from `arch` (LlamaConfig keyword arguments): embeddings, per
    layer the q/k/v/o projections (grouped-query k/v), the gated MLP's three matrices and two RMSNorm
    weights, the final norm, and the LM head unless tied to the embeddings."""
    hidden, inter, layers = arch["hidden_size"], arch["intermediate_size"], arch["num_hidden_layers"]
    heads, kv_heads = arch["num_attention_heads"], arch["num_key_value_heads"]
    head_dim = arch.get("head_dim") or hidden // heads
    vocab = arch.get("vocab_size") or DEFAULT_VOCAB_SIZE
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = hidden * q + 2 * hidden * kv + q * hidden
    if arch.get("attention_bias"):
        attention += q + 2 * kv + hidden
    mlp = 3 * hidden * inter + ((2 * inter + hidden) if arch.get("mlp_bias") else 0)
    per_layer = attention + mlp + 2 * hidden
    embeddings = vocab * hidden
    head = 0 if arch.get("tie_word_embeddings") else vocab * hidden
    return embeddings + layers * per_layer + hidden + head


def model_parameters(spec: dict[str, Any]) -> float | None:
    """A model spec's parameter count: its `parameters` key, else an estimate from a random_init
    architecture, else None (unknown)."""
    if spec.get("parameters"):
        return float(spec["parameters"])
    if spec.get("source") == "random_init":
        return float(llama_parameters(spec["architecture"]))
    return None


def host_mem_mb(parameters: float | None, dtype: str, attempt: int = 1, kind: str = "inference") -> int:
    """Host memory (MB) of a job that loads the model at `dtype`: weights x (1 + WEIGHT_MARGIN) +
    HOST_OVERHEAD_MB, times `attempt`. `kind` (train or inference) picks the fallback for an unknown count."""
    if parameters is None:
        return FALLBACK_MEM_MB[kind] * attempt
    weights = parameters * BYTES_PER_PARAMETER[dtype] / MB
    return math.ceil((weights * (1 + WEIGHT_MARGIN) + HOST_OVERHEAD_MB) * attempt)


def _minutes(seconds: float, attempt: int) -> int:
    return math.ceil((STARTUP_MINUTES + SAFETY * seconds / 60) * attempt)


def train_minutes(parameters: float | None, dtype: str, tokens: float, attempt: int = 1) -> int:
    """Wall time (minutes) of fine-tuning on `tokens` tokens in all (steps x sequences per step x length)."""
    if parameters is None:
        return FALLBACK_MINUTES["train"] * attempt
    flops = TRAIN_FLOPS_PER_TOKEN_PER_PARAMETER * parameters * tokens
    return _minutes(flops / SUSTAINED_FLOPS[dtype], attempt)


def inference_minutes(
    parameters: float | None, dtype: str, forward_tokens: float, decode_steps: float, attempt: int = 1
) -> int:
    """Wall time (minutes) of forward passes over `forward_tokens` tokens in all (compute-bound) plus
    `decode_steps` generated tokens, each streaming the weights once (memory-bound)."""
    if parameters is None:
        return FALLBACK_MINUTES["inference"] * attempt
    forward = FORWARD_FLOPS_PER_TOKEN_PER_PARAMETER * parameters * forward_tokens / SUSTAINED_FLOPS[dtype]
    decode = decode_steps * parameters * BYTES_PER_PARAMETER[dtype] / WEIGHT_BYTES_PER_SECOND
    return _minutes(forward + decode, attempt)


# --- each rule's request, from the validated config and the job's wildcards ---


def sequence_tokens(config: dict[str, Any], task: str) -> int:
    """Tokens of one prompt with its answer: the task's target length plus the answer allowance."""
    block = config["tasks"][task]
    return block["target_tokens"] + block["max_new_tokens"]


def stage_mem_mb(config: dict[str, Any], stage: str, model: str, attempt: int, models: int = 1) -> int:
    """Host memory of a job that loads the model (`models` copies of it) at config[stage]["dtype"] (resolved
    from `auto`), as the weights pass through host memory on their way to the GPU."""
    kind = "train" if stage == "train" else "inference"
    parameters = model_parameters(config["models"][model])
    return models * host_mem_mb(parameters, config[stage]["dtype"], attempt, kind)


def train_runtime(config: dict[str, Any], task: str, model: str, attempt: int) -> int:
    t = config["train"]
    tokens = t["max_steps"] * t["batch_size"] * t["gradient_accumulation_steps"]
    tokens *= min(t["max_length"], sequence_tokens(config, task))
    return train_minutes(model_parameters(config["models"][model]), t["dtype"], tokens, attempt)


def evaluate_runtime(config: dict[str, Any], task: str, model: str, attempt: int) -> int:
    block = config["tasks"][task]
    n = block["n_test"]
    parameters = model_parameters(config["models"][model])
    dtype = config["evaluate"]["dtype"]
    return inference_minutes(parameters, dtype, n * block["target_tokens"], n * block["max_new_tokens"], attempt)


def score_heads_runtime(config: dict[str, Any], task: str, model: str, attempt: int) -> int:
    """One forward per test example and scoring mode (teacher-forced and generated answers)."""
    passes = config["tasks"][task]["n_test"] * len(config["heads"]["modes"])
    parameters = model_parameters(config["models"][model])
    return inference_minutes(parameters, config["heads"]["dtype"], passes * sequence_tokens(config, task), 0, attempt)


def synthetic_runtime(config: dict[str, Any], task: str, data: str, attempt: int) -> int:
    """An LLM writer (a backend other than none) writes this variant's text: allow it more time."""
    return (240 if writer_slice(config, task, data) else 60) * attempt


def _intervention_minutes(
    config: dict[str, Any], task: str, model: str, runs: int, attempt: int, clean_prefill: bool = False, models: int = 1
) -> int:
    """`runs` prefill-and-decode passes over each measured example; with `clean_prefill`, one prefill per
    example that every run continues with the answer (teacher-forced, then decoded) only. Before them, each
    of the `models` ranks the heads with one forward per ranking example (prompt and answer), and mean
    knockout (one model) reads the calibration examples' prompts once."""
    block, iv = config["tasks"][task], config["interventions"]
    calibration = calibration_reserved(config)
    parts = intervention_parts(block["n_test"], iv["ranking_examples"], iv["n_examples"], calibration)
    n, answer, sequence = len(parts.measured), block["max_new_tokens"], sequence_tokens(config, task)
    parameters = model_parameters(config["models"][model])
    if clean_prefill:
        forward, steps = n * (sequence + runs * (1 + answer)), n * runs * (1 + answer)
    else:
        forward, steps = n * runs * sequence, n * runs * answer
    forward += models * len(parts.ranking) * sequence
    if models == 1:  # knockout: the calibration part (empty unless semantics mean)
        forward += len(parts.calibration) * block["target_tokens"]
    return inference_minutes(parameters, iv["dtype"], forward, steps, attempt)


def knockout_runtime(config: dict[str, Any], task: str, model: str, attempt: int) -> int:
    """Per example and configuration (the unmodified model, then per head kind and k: top, bottom and two
    random controls of `random_draws` draws each; each k item counted, though items giving the same count run
    once): scope all, a prefill and a greedy decode; scope answer, one clean prefill per example, then per
    configuration the answer teacher-forced (a forward step) and decoded."""
    ko = config["interventions"]["knockout"]
    configs = 1 + n_head_kinds(config, task) * len(ko["k"]) * (2 + 2 * ko["random_draws"])
    return _intervention_minutes(config, task, model, configs, attempt, clean_prefill=ko["scope"] == "answer")


def patching_runtime(config: dict[str, Any], task: str, model: str, attempt: int) -> int:
    """Both models run in every patched configuration (the donor gives the contributions)."""
    configs = 2 + n_head_kinds(config, task) * (3 + config["interventions"]["patching"]["random_draws"])
    return _intervention_minutes(config, task, model, 2 * configs, attempt, models=2)
