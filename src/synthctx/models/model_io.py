"""Load, convert and merge the models the study fine-tunes and scores.

Every later stage loads a *prepared* model folder (plain safetensors + tokenizer), so the slow
GGUF de-quantisation or hub download happens once, in its own rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from synthctx.data.installed import package_dir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _load_gguf_tokenizer(spec: dict[str, Any]):
    from transformers import AutoTokenizer

    folder = package_dir(spec["package"])
    return AutoTokenizer.from_pretrained(folder, gguf_file=spec["gguf_file"])


def prepare_model(spec: dict[str, Any], out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Materialise a model spec from config as a plain folder; returns facts for provenance. A hub model is
    downloaded first (raising synthctx.data.hub.HubError when that fails), at its revision resolved to a commit."""
    source = spec["source"]
    origin: dict[str, Any] = {}
    trust = bool(spec.get("trust_remote_code", False))
    if source == "hub":
        from synthctx.data.hub import download_model

        # The token comes from the environment (HF_TOKEN), never from config.
        path, sha = download_model(spec["repo_id"], spec.get("revision"))
        origin = {
            "repo_id": spec["repo_id"],
            "revision": spec.get("revision"),
            "resolved_revision": sha,
            "trust_remote_code": trust,
        }
        code = custom_code_files(Path(path))
        if code and not trust:
            raise RemoteCodeRefused(
                f"{spec['repo_id']} (commit {sha}) ships its own model code ({', '.join(code)}), which would run in "
                f"every job that loads the model; it is not run unless the model's trust_remote_code is true. Read "
                f"that code at this commit, pin revision: {sha}, then set trust_remote_code: true"
            )
        if not spec.get("revision"):
            print(
                f"WARNING: no revision given for {spec['repo_id']}: took the hub's current main, commit {sha}; "
                f"set the model's `revision: {sha}` in config to pin it",
                flush=True,
            )
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if source == "gguf_package":
        folder = package_dir(spec["package"])
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=spec["gguf_file"], dtype=torch.float32)
        tokenizer = _load_gguf_tokenizer(spec)
        # The GGUF loader leaves a quantizer marker that blocks save_pretrained; the weights are plain floats.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    elif source == "random_init":
        tokenizer = (
            _load_gguf_tokenizer(spec["tokenizer"])
            if spec["tokenizer"].get("gguf_file")
            else AutoTokenizer.from_pretrained(spec["tokenizer"]["path"])
        )
        arch = dict(spec["architecture"])
        arch.setdefault("vocab_size", len(tokenizer))
        arch.setdefault("bos_token_id", tokenizer.bos_token_id)
        arch.setdefault("eos_token_id", tokenizer.eos_token_id)
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**arch))
    elif source == "hub":
        require_safetensors(Path(path), f"the hub model {spec.get('repo_id', path)}")
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.bfloat16, use_safetensors=True, trust_remote_code=trust
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    else:  # the schema forbids this; kept for direct callers
        raise ValueError(f"models.*.source: unknown source {source!r}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if trust and source == "hub":
        (out_dir / REMOTE_CODE_MARK).write_text(json.dumps(origin, indent=2, sort_keys=True) + "\n")
    cfg = model.config
    return {
        "source": source,
        "n_layers": cfg.num_hidden_layers,
        "n_heads": cfg.num_attention_heads,
        "n_kv_heads": getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "rope_theta": _rope_theta(cfg),
        **origin,
    }


class RemoteCodeRefused(ValueError):
    """A hub model ships Python code of its own and config did not allow running it."""


# Written into a prepared model folder only when config set the model's trust_remote_code: the later jobs
# that load the folder pass trust_remote_code from it, so the switch is set in one place and a change of it
# re-runs prepare_model (it is part of that rule's config slice).
REMOTE_CODE_MARK = "synthctx-trust-remote-code.json"


def custom_code_files(folder: Path) -> list[str]:
    """Python files a model folder asks transformers to import (`auto_map` of its config or tokenizer config)."""
    found: set[str] = set()
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        auto_map = json.loads(path.read_text(encoding="utf-8")).get("auto_map") or {}
        for ref in auto_map.values():
            for item in ref if isinstance(ref, list) else [ref]:
                if item:
                    module = item.split("--")[-1].rsplit(".", 1)[0]
                    found.add(f"{module}.py")
    return sorted(found)


def trusts_remote_code(model_dir: Path) -> bool:
    """Whether config allowed the prepared model in `model_dir` to run its own code (see REMOTE_CODE_MARK)."""
    return (Path(model_dir) / REMOTE_CODE_MARK).is_file()


def _rope_theta(cfg) -> float | None:
    rope = getattr(cfg, "rope_parameters", None) or {}
    return rope.get("rope_theta", getattr(cfg, "rope_theta", None))


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def require_safetensors(folder: Path, what: str) -> None:
    """Weights are loaded from safetensors only: a pickle can run code when it is loaded."""
    folder = Path(folder)
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(
            f"{folder}: {what} holds pickle files ({', '.join(pickles[:3])}); only safetensors weights are loaded, "
            f"since a pickle can run code when loaded. Convert them (save_pretrained(..., safe_serialization=True)) "
            f"or choose a repository that ships .safetensors"
        )
    if not any(p.suffix == ".safetensors" for p in folder.iterdir()):
        raise ValueError(f"{folder}: {what} holds no .safetensors weights")


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trusts_remote_code(model_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def apply_context_extension(config, extension: dict[str, Any]) -> None:
    """Raise RoPE's base θ (and the position limit) so the model is fine-tuned for longer contexts."""
    if "rope_theta" in extension:
        rope = dict(getattr(config, "rope_parameters", None) or {"rope_type": "default"})
        rope["rope_theta"] = float(extension["rope_theta"])
        config.rope_parameters = rope
        if hasattr(config, "rope_theta"):
            config.rope_theta = float(extension["rope_theta"])
    if "max_position_embeddings" in extension:
        config.max_position_embeddings = int(extension["max_position_embeddings"])


def describe_weights(weights_dir: Path | None, dtype: str) -> str:
    """What a scored or evaluated model is, for its outputs: base, fully fine-tuned, or a LoRA adapter."""
    if weights_dir is None:
        return "base model"
    if (weights_dir / "config.json").is_file():
        return "fully fine-tuned weights"
    return f"LoRA {adapter_handling(dtype)}"


def warn_if_emulated(dtype: str) -> None:
    """bf16 on a CPU without native bf16 runs ~30x slower than fp32: say so in the job's log."""
    if dtype == "bfloat16" and not torch.cuda.is_available():
        from synthctx.plan.hardware import native_bf16

        native, why = native_bf16(gpus=[])
        if not native:
            print(
                f"WARNING: dtype bfloat16 on a {why}: torch emulates it, far slower than float32; "
                f"set dtype: auto (or float32) in config",
                flush=True,
            )


def adapter_handling(dtype: str) -> str:
    """Merging a small LoRA update into bf16/fp16 weights rounds most of it away, so only fp32 merges."""
    return "merged into float32 weights" if dtype == "float32" else f"unmerged (float32 adapter over {dtype} base)"


def inference_device() -> torch.device:
    """Where evaluation, scoring and the interventions run: the job's GPU when it has one (a SLURM GPU job
    sees only its own), else the CPU. Training is placed by the HF Trainer itself."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def load_model(model_dir: Path, dtype: str, weights_dir: Path | None = None, attn_implementation: str = "sdpa"):
    """The base model at `dtype` (never 4-bit), with fine-tuned weights from `weights_dir` if given:
    a LoRA adapter applied as `adapter_handling(dtype)` says, or a fully fine-tuned model; and the
    context extension (RoPE θ) the weights were trained with; on `inference_device()`."""
    from synthctx.jobs.timing import loading

    with loading():
        return _load_model(model_dir, dtype, weights_dir, attn_implementation).to(inference_device())


def load_weights(
    model_dir: Path,
    dtype: str,
    attn_implementation: str,
    *,
    source: Path | None = None,
    extension: dict[str, Any] | None = None,
    quantization_config: Any = None,
):
    """The one place model weights are read from disk, for training and inference alike: safetensors only,
    the prepared folder's trust_remote_code mark, and the context extension set on the config before the
    weights load. `source` is a fully fine-tuned model's folder (default: the prepared base model)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    warn_if_emulated(dtype)
    source = Path(source or model_dir)
    require_safetensors(source, "the model")
    trust = trusts_remote_code(model_dir)
    config = AutoConfig.from_pretrained(source, trust_remote_code=trust)
    if extension:
        apply_context_extension(config, extension)
    extra = {"quantization_config": quantization_config} if quantization_config is not None else {}
    return AutoModelForCausalLM.from_pretrained(
        source,
        config=config,
        dtype=DTYPES[dtype],
        attn_implementation=attn_implementation,
        use_safetensors=True,
        trust_remote_code=trust,
        **extra,
    )


def _load_model(model_dir: Path, dtype: str, weights_dir: Path | None, attn_implementation: str):
    source = None
    extension = None
    if weights_dir is not None:
        if (weights_dir / "config.json").is_file():
            source = weights_dir  # full fine-tuning wrote a whole model
        if (weights_dir / "context_extension.json").is_file():
            extension = json.loads((weights_dir / "context_extension.json").read_text())
    model = load_weights(model_dir, dtype, attn_implementation, source=source, extension=extension)
    if weights_dir is not None and (weights_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        require_safetensors(weights_dir, "the adapter")
        model = PeftModel.from_pretrained(model, weights_dir)
        if dtype == "float32":
            model = model.merge_and_unload()
    model.eval()
    return model
