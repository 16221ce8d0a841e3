"""Run the workflow from a copy of the repository, and read what a dry run plans."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The rules after the model jobs: a change upstream re-plans each of them once.
DOWNSTREAM = {"aggregate", "correlate", "intervention_tables", "figures", "claims", "all"}
COPIED = ("Snakefile", "workflow", "src", "config", "profiles", "envs", "LICENSE", "CITATION.cff", ".zenodo.json")


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(
    workdir: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    env = {**(os.environ if env is None else env), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [str(exe), "--directory", str(workdir), "-s", str(workdir / "Snakefile"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def planned_jobs(dry_run_output: str) -> Counter:
    """Rule name -> number of jobs in a dry run (its 'Job stats' table)."""
    counts: Counter = Counter()
    in_table = False
    for line in dry_run_output.splitlines():
        if line.startswith("Job stats:"):
            in_table = True
            continue
        if in_table:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


def planned_wildcards(dry_run_output: str, rule: str) -> list[str]:
    """The `wildcards:` lines of every planned job of one rule."""
    out, current = [], None
    for line in dry_run_output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            current = m.group(1)
        elif current == rule and line.strip().startswith("wildcards:"):
            out.append(line.strip()[len("wildcards: ") :])
    return out
