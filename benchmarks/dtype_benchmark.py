"""What `dtype: auto` picks on this machine, and why: fp32 against bf16 matmul time, side by side.

Runs the same timing in three subprocesses: this CPU as it is, and restricted to AVX2 kernels
(ATEN_CPU_CAPABILITY=avx2 for torch's own kernels, ONEDNN_MAX_CPU_ISA=AVX2 for oneDNN's matmuls), which
is what a laptop without AVX512-BF16/AMX runs. Prints one line per setting with the bf16/fp32 ratio.

A matmul is not a model: with `--model DIR` (a prepared model, e.g. resources/models/smollm2-135m) it also
times, on this CPU as it is, what the study's jobs do in each dtype, alternating fp32 and bf16 so both see
the same load: a prefill of `--tokens` tokens (evaluation and head scoring), and a LoRA forward + backward of
two sequences whose length changes from step to step by a few tokens, as real batches do (fine-tuning).

    python benchmarks/dtype_benchmark.py [--threads 1] [--repeat 5] [--model DIR [--tokens 520]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHAPES = [(1024, 576, 1536), (2048, 2048, 2048)]  # a SmolLM2-135M projection at ~1K tokens; a square one
SETTINGS = {
    "this CPU": {},
    "AVX2 only (emulated)": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def measure(threads: int, repeat: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "ms": {}}
    for m, k, n in SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            a @ b  # warm-up
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - t)
            out["ms"][f"{m}x{k}x{n} {str(dtype).removeprefix('torch.')}"] = best * 1000
    return out


def model_steps(model_dir: str, threads: int, repeat: int, tokens: int) -> None:
    """Median seconds per prefill and per LoRA step in fp32 and bf16, measured alternately."""
    import statistics

    import torch
    from peft import LoraConfig, get_peft_model

    from synthctx.models.model_io import load_model

    torch.set_num_threads(threads)
    models = {}
    for dtype in ("float32", "bfloat16"):
        base = load_model(Path(model_dir), dtype)
        lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        models[dtype] = (base, get_peft_model(load_model(Path(model_dir), dtype), lora))
    vocab = models["float32"][0].config.vocab_size
    gen = torch.Generator().manual_seed(0)
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeat + 1):  # the first round warms up and is not counted
        n = tokens + 7 * r  # a new sequence length each round, as fine-tuning batches have
        ids = torch.randint(0, vocab, (2, n), generator=gen)
        for dtype, (base, trained) in models.items():
            t = time.perf_counter()
            with torch.no_grad():
                base(input_ids=ids[:1], logits_to_keep=1)
            prefill = time.perf_counter() - t
            t = time.perf_counter()
            logits = trained(input_ids=ids, logits_to_keep=8).logits.float()
            torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, -8:].reshape(-1)).backward()
            step = time.perf_counter() - t
            trained.zero_grad(set_to_none=True)
            if r:
                times.setdefault((dtype, "prefill"), []).append(prefill)
                times.setdefault((dtype, "step"), []).append(step)
    print(f"\n{Path(model_dir).name}, this CPU, {threads} thread(s), median of {repeat} (fp32 and bf16 alternating)")
    print(f"{'measure':<52} {'fp32 s':>8} {'bf16 s':>8} {'bf16/fp32':>9}")
    for what, label in (("prefill", f"prefill, 1 x {tokens} tokens"),
                        ("step", f"LoRA forward + backward, 2 x {tokens}-{tokens + 7 * repeat} tokens")):  # fmt: skip
        fp32 = statistics.median(times[("float32", what)])
        bf16 = statistics.median(times[("bfloat16", what)])
        print(f"{label:<52} {fp32:8.2f} {bf16:8.2f} {bf16 / fp32:9.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default=None, help="a prepared model folder: also time its prefill and LoRA step")
    ap.add_argument("--tokens", type=int, default=520)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.threads, a.repeat)))
        return
    from synthctx.plan.hardware import native_bf16, resolve_dtype

    native, why = native_bf16()
    print(f"native bf16: {native} ({why}); dtype: auto resolves to {resolve_dtype('auto')}")
    print(f"{'setting':<22} {'torch capability':<17} {'shape':<16} {'fp32 ms':>9} {'bf16 ms':>9} {'bf16/fp32':>9}")
    for name, env in SETTINGS.items():
        run = subprocess.run(
            [sys.executable, __file__, "--child", "--threads", str(a.threads), "--repeat", str(a.repeat)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(run.stdout)
        for m, k, n in SHAPES:
            fp32, bf16 = res["ms"][f"{m}x{k}x{n} float32"], res["ms"][f"{m}x{k}x{n} bfloat16"]
            print(f"{name:<22} {res['capability']:<17} {f'{m}x{k}x{n}':<16} {fp32:9.1f} {bf16:9.1f} {bf16 / fp32:9.2f}")
    if a.model:
        model_steps(a.model, a.threads, a.repeat, a.tokens)


if __name__ == "__main__":
    main()
