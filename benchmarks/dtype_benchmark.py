"""What `dtype: auto` picks on this machine, and why: fp32 against bf16 matmul time, side by side.

Runs the same timing in three subprocesses: this CPU as it is, and restricted to AVX2 kernels
(ATEN_CPU_CAPABILITY=avx2 for torch's own kernels, ONEDNN_MAX_CPU_ISA=AVX2 for oneDNN's matmuls), which
is what a laptop without AVX512-BF16/AMX runs. Prints one line per setting with the bf16/fp32 ratio.

    python benchmarks/dtype_benchmark.py [--threads 1] [--repeat 5]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.threads, a.repeat)))
        return
    from synthctx.hardware import native_bf16, resolve_dtype

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


if __name__ == "__main__":
    main()
