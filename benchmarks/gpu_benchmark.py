"""GPU benchmark: LoRA fine-tuning throughput and head-scoring cost, on a random Llama-3-8B architecture.

Measured side by side in one run, so the ratios do not depend on the day's GPU clocks:
  training  tokens/s, model-FLOP utilisation (against a bf16 matmul measured here) and peak memory of
            (a) the plain stack: peft LoRA r=16 on q/k/v/o, SDPA, gradient checkpointing, full logits;
            (b) the study's stack (synthctx.models.train): the same LoRA, logits only where the loss needs them,
                gradient checkpointing only when asked for;
  scoring   time and peak memory of one SDPA forward vs the study's argmax-capture forward
            (synthctx.heads.capture) for an answer of --answer-tokens tokens, and an eager
            output_attentions reference where it fits, with the argmaxes compared.
Writes JSON and prints a table. No weights are downloaded: the model is randomly initialised.

    python benchmarks/gpu_benchmark.py --out benchmarks/out/gpu.json                 # one GPU, minutes
    python benchmarks/gpu_benchmark.py --arch tiny --device cpu --train-lengths 256 \
        --score-lengths 256 512 --steps 2 --out /tmp/smoke.json                        # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from synthctx.heads.capture import capture_argmax  # noqa: E402
from synthctx.models.train import answer_only_loss  # noqa: E402

ARCHS = {
    "llama3-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
        max_position_embeddings=4096,
    ),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def build(arch: str, device: str, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**ARCHS[arch])
    cfg._attn_implementation = "sdpa"
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    return model.eval()


def matmul_tflops(device: str, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    reps = 20 if device.startswith("cuda") else 3
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def model_flops_per_token(model, seq: int) -> float:
    """6N for the weights (forward + backward) + causal attention's QK and AV matmuls."""
    cfg = model.config
    n = sum(p.numel() for p in model.parameters())
    return 6 * n + 6 * cfg.num_hidden_layers * seq * cfg.hidden_size


def train_run(model, seq: int, steps: int, device: str, study_stack: bool, checkpointing: bool, answer_tokens: int):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        model,
        LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    if checkpointing:
        peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        peft_model.enable_input_require_grads()
    peft_model.train()
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (1, seq), device=device)
    labels = torch.full_like(ids, -100)
    labels[:, -answer_tokens:] = ids[:, -answer_tokens:]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    times = []
    reset_peak(device)
    for step in range(steps + 1):
        sync(device)
        t = time.perf_counter()
        if study_stack:
            loss = answer_only_loss(peft_model, dict(batch))
        else:
            loss = peft_model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if step:  # the first step warms up kernels and allocators
            times.append(time.perf_counter() - t)
    peak = peak_gb(device)
    if checkpointing:
        peft_model.gradient_checkpointing_disable()
    peft_model.unload()  # back to the bare random model for the next run
    per_step = sum(times) / len(times)
    return {
        "seq": seq,
        "tokens_per_s": seq / per_step,
        "s_per_step": per_step,
        "peak_gb": peak,
        "gradient_checkpointing": checkpointing,
        "stack": "study" if study_stack else "plain",
    }


@torch.no_grad()
def score_run(model, seq: int, answer_tokens: int, device: str, eager: bool):
    ids = torch.randint(0, model.config.vocab_size, (1, seq), device=device)
    queries = list(range(seq - answer_tokens - 1, seq - 1))
    out = {"seq": seq, "answer_tokens": answer_tokens}
    for name, fn in (
        ("sdpa_forward", lambda: model(ids, use_cache=False, logits_to_keep=1)),
        ("capture_forward", lambda: capture_argmax(model, ids, queries)),
    ):
        fn()  # warm-up
        reset_peak(device)
        sync(device)
        t = time.perf_counter()
        result = fn()
        sync(device)
        out[name] = {"s": time.perf_counter() - t, "peak_gb": peak_gb(device)}
        if name == "capture_forward":
            captured = result
    out["time_ratio"] = out["capture_forward"]["s"] / out["sdpa_forward"]["s"]
    if device.startswith("cuda"):
        out["memory_ratio"] = out["capture_forward"]["peak_gb"] / out["sdpa_forward"]["peak_gb"]
    if eager:
        try:
            reset_peak(device)
            prev = model.config._attn_implementation
            model.set_attn_implementation("eager")
            sync(device)
            t = time.perf_counter()
            att = model(ids, use_cache=False, output_attentions=True, logits_to_keep=1).attentions
            sync(device)
            out["eager_output_attentions"] = {"s": time.perf_counter() - t, "peak_gb": peak_gb(device)}
            rows = torch.stack([a[0][:, queries, :] for a in att]).float()  # (layers, heads, q, k)
            ref = rows.argmax(-1).cpu()
            exact = (ref == captured).float().mean().item()
            # bf16 eager weights tie often; a capture argmax whose eager weight equals the row max is a tie
            at_capture = rows.gather(-1, captured.to(rows.device).unsqueeze(-1)).squeeze(-1)
            tied = (at_capture == rows.max(-1).values).float().mean().item()
            out["eager_agreement"] = {"exact": exact, "exact_or_tied": tied}
            del att, rows
        except torch.OutOfMemoryError:
            out["eager_output_attentions"] = "out of memory"
        finally:
            model.set_attn_implementation(prev)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="llama3-8b")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--train-lengths", type=int, nargs="*", default=[8192, 16384])
    p.add_argument("--score-lengths", type=int, nargs="*", default=[8192, 16384, 32768])
    p.add_argument("--eager-max-length", type=int, default=8192, help="skip eager above this length")
    p.add_argument("--answer-tokens", type=int, default=32)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--matmul-size", type=int, default=8192)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    dtype = getattr(torch, a.dtype)
    model = build(a.arch, a.device, dtype)
    peak_tflops = matmul_tflops(a.device, dtype, a.matmul_size if a.device.startswith("cuda") else 512)
    report = {
        "arch": a.arch,
        "device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else platform.processor() or "cpu",
        "dtype": a.dtype,
        "torch": torch.__version__,
        "measured_matmul_tflops": peak_tflops,
        "date": time.strftime("%Y-%m-%d"),
        "training": [],
        "scoring": [],
    }
    import peft
    import transformers  # noqa: E401

    report["transformers"], report["peft"] = transformers.__version__, peft.__version__
    for seq in a.train_lengths:
        plain = train_run(
            model, seq, a.steps, a.device, study_stack=False, checkpointing=True, answer_tokens=a.answer_tokens
        )
        try:
            study = train_run(
                model, seq, a.steps, a.device, study_stack=True, checkpointing=False, answer_tokens=a.answer_tokens
            )
        except torch.OutOfMemoryError:
            reset_peak(a.device)
            study = train_run(
                model, seq, a.steps, a.device, study_stack=True, checkpointing=True, answer_tokens=a.answer_tokens
            )
        for r in (plain, study):
            r["mfu"] = r["tokens_per_s"] * model_flops_per_token(model, seq) / (peak_tflops * 1e12)
        report["training"].append(
            {"plain": plain, "study": study, "speedup": study["tokens_per_s"] / plain["tokens_per_s"]}
        )
    for seq in a.score_lengths:
        report["scoring"].append(score_run(model, seq, a.answer_tokens, a.device, eager=seq <= a.eager_max_length))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))

    print(f"{report['arch']} on {report['device']} ({a.dtype}), matmul {peak_tflops:.0f} TFLOP/s")
    print(f"{'train seq':>10} {'stack':>6} {'tok/s':>9} {'MFU':>6} {'peak GB':>8} {'ckpt':>5}")
    for row in report["training"]:
        for r in (row["plain"], row["study"]):
            print(
                f"{r['seq']:>10} {r['stack']:>6} {r['tokens_per_s']:>9.0f} {r['mfu']:>6.1%} "
                f"{(r['peak_gb'] or 0):>8.1f} {str(r['gradient_checkpointing']):>5}"
            )
        print(f"{'':>10} speed-up study/plain: {row['speedup']:.2f}x")
    print(f"{'score seq':>10} {'sdpa s':>8} {'capture s':>10} {'ratio':>6} {'mem ratio':>9} {'eager':>22}")
    for r in report["scoring"]:
        eager = r.get("eager_output_attentions", "skipped")
        eager_txt = (
            eager if isinstance(eager, str) else f"{eager['s']:.2f}s agree {r['eager_agreement']['exact_or_tied']:.3f}"
        )
        print(
            f"{r['seq']:>10} {r['sdpa_forward']['s']:>8.3f} {r['capture_forward']['s']:>10.3f} "
            f"{r['time_ratio']:>6.2f} {r.get('memory_ratio', float('nan')):>9.2f} {eager_txt:>22}"
        )


if __name__ == "__main__":
    main()
