"""How every output was produced, written beside it (never inside it, so results stay byte-stable)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from synthctx.plan.hardware import native_bf16

TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "bitsandbytes",
    "datasets",
    "polars",
    "seaborn",
    "snakemake",
    "scipy",
    "numpy",
)


def config_hash(config_slice: Any) -> str:
    return hashlib.sha256(json.dumps(config_slice, sort_keys=True).encode()).hexdigest()[:16]


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(repo: Path) -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def device_facts() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    native, why = native_bf16()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native,
        "native_bf16_basis": why,
    }


def metadata(
    *, stage: str, config_slice: Any, extra: dict[str, Any] | None = None, with_device: bool = False
) -> dict[str, Any]:
    """Stage, config hash and slice, versions, git commit (+ device facts for stages that run a model)."""
    return {
        "stage": stage,
        "config_hash": config_hash(config_slice),
        "config": config_slice,
        "versions": versions(),
        "git_commit": git_commit(Path(__file__).resolve().parents[3]),
        **(device_facts() if with_device else {}),
        **(extra or {}),
    }
