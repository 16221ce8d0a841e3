"""The local and cluster profiles: disjoint top-level keys, and the cluster one routes GPU rules."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


def test_profiles_share_no_top_level_key():
    # profiles/default is applied automatically and would override --profile profiles/slurm key by key
    assert not set(load("default")) & set(load("slurm"))


def test_slurm_profile_sends_gpu_rules_to_the_gpu_partition():
    slurm = load("slurm")
    assert slurm["executor"] == "slurm"
    assert slurm["default-resources"]["slurm_account"] == "$SLURM_ACCOUNT"
    rules = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    gpu_rules = re.findall(r"^rule (\w+):(?:(?!^rule ).)*?gpu=1", rules, flags=re.M | re.S)
    assert set(gpu_rules) == {"fine_tune", "evaluate", "score_heads", "knockout", "patch"}
    for rule in gpu_rules:  # every rule that asks for a GPU goes to the GPU partition
        assert slurm["set-resources"][rule]["slurm_partition"] == "$SLURM_GPU_PARTITION"
