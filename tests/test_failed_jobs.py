"""A failed job leaves nothing a rerun or a reader would take for its result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_failing_job_leaves_no_stale_metadata_beside_its_missing_output(tmp_path):
    """Snakemake deleted the previous run's out.csv before the job; its out.csv.meta.json must go too, while
    the sidecar of an input that exists is left alone."""
    (tmp_path / "table.csv").write_text("a,b\n")
    (tmp_path / "table.csv.meta.json").write_text("{}")
    (tmp_path / "out.csv.meta.json").write_text('{"config_hash": "of the previous run"}')
    run = subprocess.run(
        [sys.executable, "-m", "synthctx", "correlate", "--table", "table.csv", "--out", "out.csv",
         "--means", "means.csv", "--leave-one-out", "loo.csv"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert run.returncode != 0  # no config slice: the job fails
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.meta.json").exists()
    assert (tmp_path / "table.csv.meta.json").is_file()
