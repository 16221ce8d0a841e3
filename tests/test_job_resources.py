"""Job sizing while planning (synthctx.plan.job_resources): parameter counts, host memory, wall time.

Expected values are computed by hand in the comments; the parameter count is also checked against the
LlamaForCausalLM that transformers builds from the same architecture (on the meta device: no memory).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from synthctx.plan import job_resources as jr

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 49152,
}
LLAMA_3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}
MISTRAL_7B = {**LLAMA_3_8B, "vocab_size": 32000}


def test_the_module_needs_only_the_standard_library():
    """common.smk imports it while planning: no torch, no third-party package (the plan's own modules)."""
    tree = ast.parse(Path(jr.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "math", "typing", "synthctx"}, imported
    planned = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module.startswith("synthctx")}
    assert all(m.startswith("synthctx.plan.") for m in planned), planned


def test_llama_parameters_by_hand():
    # tiny: embeddings 49152*32 = 1,572,864; per layer q 32*32 + k 32*16 + v 32*16 + o 32*32 = 3,072,
    # MLP 3*32*64 = 6,144, norms 2*32 = 64 -> 9,280; 2 layers 18,560; final norm 32; LM head 1,572,864
    assert jr.llama_parameters(TINY) == 1_572_864 + 18_560 + 32 + 1_572_864 == 3_164_320
    # tied LM head: the head's 1,572,864 drop out
    assert jr.llama_parameters({**TINY, "tie_word_embeddings": True}) == 1_591_456
    # Llama-3-8B: embeddings 128256*4096 = 525,336,576; per layer 4096*4096*2 + 4096*1024*2 = 41,943,040
    # + MLP 3*4096*14336 = 176,160,768 + norms 8,192 = 218,112,000, x32 = 6,979,584,000; + 4,096 + head
    assert jr.llama_parameters(LLAMA_3_8B) == 525_336_576 + 6_979_584_000 + 4_096 + 525_336_576 == 8_030_261_248
    # Mistral-7B: the same layers, vocabulary 32,000: embeddings and head 131,072,000 each
    assert jr.llama_parameters(MISTRAL_7B) == 131_072_000 + 6_979_584_000 + 4_096 + 131_072_000 == 7_241_732_096


@pytest.mark.parametrize(
    "arch",
    [
        TINY,
        {**TINY, "tie_word_embeddings": True},
        {**TINY, "attention_bias": True, "mlp_bias": True},
        {**TINY, "head_dim": 16},
        LLAMA_3_8B,
    ],
)
def test_llama_parameters_match_transformers(arch):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**arch))
    assert jr.llama_parameters(arch) == sum(p.numel() for p in model.parameters())


def test_model_parameters_from_the_spec():
    assert jr.model_parameters({"source": "hub", "repo_id": "x/y", "parameters": 8.03e9}) == 8.03e9
    assert jr.model_parameters({"source": "random_init", "tokenizer": {}, "architecture": TINY}) == 3_164_320
    # a random_init architecture without vocab_size is estimated with Llama-3's vocabulary (128,256):
    # 2 * 128256 * 32 = 8,208,384 for embeddings and head, + 18,560 + 32
    no_vocab = {k: v for k, v in TINY.items() if k != "vocab_size"}
    assert jr.model_parameters({"source": "random_init", "architecture": no_vocab}) == 8_226_976
    assert jr.model_parameters({"source": "gguf_package", "package": "p", "gguf_file": "f"}) is None


def test_host_memory_is_weights_plus_margin_and_grows_with_attempts():
    # 8.03e9 parameters in bf16: 16,060 MB; x 1.25 = 20,075; + 4,000 = 24,075 MB
    assert jr.host_mem_mb(8.03e9, "bfloat16") == 24_075
    assert jr.host_mem_mb(8.03e9, "bfloat16", attempt=2) == 48_150
    # float32 doubles the weights: 32,120 x 1.25 + 4,000 = 44,150
    assert jr.host_mem_mb(8.03e9, "float32") == 44_150
    # Mistral-7B in bf16: 14,480 x 1.25 + 4,000 = 22,100
    assert jr.host_mem_mb(7.24e9, "bfloat16") == 22_100
    # unknown size: the rules' former fixed values
    assert jr.host_mem_mb(None, "bfloat16", attempt=2, kind="train") == 12_000
    assert jr.host_mem_mb(None, "float32", kind="inference") == 4_000


def test_wall_time_from_the_work():
    # training 1e6 tokens of a 1e9 model in bf16: 8 * 1e9 * 1e6 = 8e15 FLOPs / 1e14 FLOP/s = 80 s;
    # x 1.5 = 120 s = 2 min; + 10 min start-up = 12
    assert jr.train_minutes(1e9, "bfloat16", 1e6) == 12
    assert jr.train_minutes(1e9, "bfloat16", 1e6, attempt=3) == 36
    # float32: 8e15 / 1.5e13 = 533.3 s x 1.5 = 13.33 min + 10 -> 24 (rounded up)
    assert jr.train_minutes(1e9, "float32", 1e6) == 24
    # inference: forward over 5e6 tokens 2 * 1e9 * 5e6 / 1e14 = 100 s, 1,000 decoded tokens each streaming
    # 2e9 bytes at 1e12 B/s = 2 s; 102 s x 1.5 = 2.55 min + 10 = 12.55 -> 13; attempt 2: 25.1 -> 26
    assert jr.inference_minutes(1e9, "bfloat16", 5e6, 1000) == 13
    assert jr.inference_minutes(1e9, "bfloat16", 5e6, 1000, attempt=2) == 26
    assert jr.train_minutes(None, "bfloat16", 1e9, attempt=2) == 120
    assert jr.inference_minutes(None, "bfloat16", 1e9, 0) == 30


def _intervention_config(semantics: str) -> dict:
    return {
        "tasks": {"mdqa": {"n_test": 20, "target_tokens": 9990, "max_new_tokens": 10}},
        "models": {"m": {"parameters": 1e11}},
        "interventions": {
            "dtype": "bfloat16", "head_kinds": ["retrieval"], "ranking_examples": 8, "n_examples": 8,
            "knockout": {"k": [10], "random_draws": 3, "scope": "all", "semantics": semantics,
                         "calibration_examples": 4},
            "patching": {"random_draws": 3},
        },
    }  # fmt: skip


def test_intervention_time_counts_the_ranking_and_calibration_forwards():
    """MDQA (retrieval heads only), prompt + answer 10,000 tokens, 1e11 parameters in bf16, 8 measured examples.
    Knockout, scope all: 1 + (top, bottom, 2 x 3 random) = 9 configurations; forwards 8 x 9 x 10,000 = 720,000
    tokens plus the ranking part's 8 x 10,000 = 80,000: 2e11 x 8e5 / 1e14 = 1,600 s; decoding 8 x 9 x 10 = 720
    steps x 2e11 bytes / 1e12 = 144 s; 1,744 s x 1.5 = 43.6 min + 10 -> 54 (without the ranking part: 50).
    Semantics mean adds the calibration part's 4 prompts of 9,990 tokens: 79.92 s more -> 45.6 + 10 -> 56.
    Patching: 2 + (3 + 3) = 8 configurations, both models each: 16 runs; 8 x 16 x 10,000 = 1,280,000 tokens
    plus both models' ranking forwards 2 x 80,000: 2,880 s; 1,280 steps: 256 s; 3,136 s x 1.5 = 78.4 + 10 -> 89,
    under either semantics (patching calibrates nothing)."""
    assert jr.knockout_runtime(_intervention_config("uniform"), "mdqa", "m", 1) == 54
    assert jr.knockout_runtime(_intervention_config("mean"), "mdqa", "m", 1) == 56
    assert jr.patching_runtime(_intervention_config("uniform"), "mdqa", "m", 1) == 89
    assert jr.patching_runtime(_intervention_config("mean"), "mdqa", "m", 1) == 89


def test_parameters_key_in_the_schema(tmp_path):
    """`parameters` is accepted for every model source; 8.03e9 without the exponent's sign is a YAML string,
    refused with the key, file and line."""
    import yaml

    from synthctx.plan.config import ConfigError, validate_config

    repo = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    default = (repo / "config/config.yaml").read_text()
    assert "parameters: 1.345e+8" in default
    path = tmp_path / "config.yaml"
    path.write_text(default.replace("parameters: 1.345e+8", "parameters: 1.345e8"))
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: key 'models.smollm2-135m.parameters': '1.345e8' is not"):
        validate_config(yaml.safe_load(path.read_text()), schema, [path])
    cfg = yaml.safe_load(default)
    cfg["models"]["hubby"] = {"source": "hub", "repo_id": "x/y", "revision": "abc123", "parameters": 8.03e9}
    tokenizer = {"path": "a/tokenizer"}
    cfg["models"]["rand"] = {"source": "random_init", "tokenizer": tokenizer, "architecture": TINY, "parameters": 3.2e6}
    validate_config(cfg, schema, [path])
