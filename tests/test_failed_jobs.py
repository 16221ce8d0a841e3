"""A failed job leaves nothing a rerun or a reader would take for its result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def _run_stage_failing_with(monkeypatch, err: BaseException) -> str:
    """`python -m synthctx train` whose stage function fails with `err` (the message the job's log gets)."""
    from synthctx import cli
    from synthctx.jobs import train

    def fail(a):
        raise err

    monkeypatch.setattr(train, "cmd_train", fail)
    argv = ["train", "--task", "mdqa", "--data", "low-low", "--model", "m", "--seed", "1", "--model-dir", "x",
            "--records", "r.jsonl", "--out", "w", "--checkpoint-dir", "c"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    return str(exc.value)


def test_a_full_disk_names_the_job_and_what_to_do(monkeypatch):
    import errno

    message = _run_stage_failing_with(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "w/adapter.tmp"))
    assert message.startswith("error: train of mdqa/low-low/m/1: no space left on the device (writing w/adapter.tmp)")
    assert "rerun the same snakemake command" in message


def test_out_of_memory_names_the_job_and_what_to_do(monkeypatch):
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: 8 GB")
    message = _run_stage_failing_with(monkeypatch, cpu)
    assert message.startswith("error: train of mdqa/low-low/m/1: out of memory (RuntimeError: [enforce fail")
    assert "--set-resources fine_tune:mem_mb=" in message and "train.batch_size" in message


def test_other_errors_keep_their_traceback(monkeypatch):
    with pytest.raises(RuntimeError, match="a bug"):
        _run_stage_failing_with(monkeypatch, RuntimeError("a bug"))
