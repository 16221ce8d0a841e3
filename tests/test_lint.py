"""`snakemake --lint` stays clean, and so do ruff's lint and format checks (settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_snakemake_lint_is_clean():
    exe = Path(sys.executable).with_name("snakemake")
    run = subprocess.run([str(exe), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


RUFF_PATHS = ["src", "tests", "benchmarks"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("ruff")  # the venv's ruff, pinned in constraints.txt (extra `test`)
    return subprocess.run([str(exe), *args, *RUFF_PATHS], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_check_is_clean():
    run = _ruff("check", "--no-fix", "--output-format", "concise")
    assert run.returncode == 0, "ruff check found problems:\n" + run.stdout[-8000:] + run.stderr[-4000:]


def test_ruff_format_is_applied():
    run = _ruff("format", "--check")
    assert run.returncode == 0, "ruff format would change these files:\n" + run.stdout[-8000:] + run.stderr[-4000:]
