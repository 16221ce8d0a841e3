"""Which float type a machine runs natively: `dtype: auto` becomes bf16 only where bf16 matmuls run in
hardware (a CUDA GPU of compute capability 8.0 or newer, an x86 CPU with AVX512-BF16 or AMX-BF16, an Arm CPU
with the BF16 extension) and fp32 elsewhere. On an AVX2-only CPU torch emulates bf16, about 30x slower than
fp32. Read from /proc/cpuinfo and nvidia-smi, not torch, so planning a run stays light.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 flags, then the Arm "Features" name


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


def cuda_compute_capabilities() -> list[float]:
    """Compute capability of every visible NVIDIA GPU (empty without a driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        return [float(line) for line in out.split() if line.strip()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def native_bf16(cpuinfo: str | None = None, gpus: list[float] | None = None) -> tuple[bool, str]:
    """(runs bf16 natively, why), for the device jobs will use: the GPU when there is one, else the CPU."""
    gpus = cuda_compute_capabilities() if gpus is None else gpus
    if gpus:
        ok = min(gpus) >= 8.0
        return ok, f"CUDA GPU(s) of compute capability {', '.join(map(str, gpus))}"
    found = sorted(cpu_flags(cpuinfo) & set(NATIVE_BF16_CPU_FLAGS))
    return bool(found), f"CPU flags {', '.join(found)}" if found else "CPU without native bf16 (no AVX512-BF16/AMX)"


def resolve_dtype(dtype: str, cpuinfo: str | None = None, gpus: list[float] | None = None) -> str:
    """`auto` -> bfloat16 where native, float32 elsewhere; any other value is kept."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bf16(cpuinfo, gpus)[0] else "float32"
