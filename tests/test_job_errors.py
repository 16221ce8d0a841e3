"""A job refusing a user's malformed input says why in one line (`error: ...`, exit status 1), without a
traceback; `--debug` (or SYNTHCTX_DEBUG=1) shows the traceback; a bug keeps its traceback."""

from __future__ import annotations

import errno
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from release_fixtures.mdqa import write_release

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "mdqa_lost_in_the_middle.jsonl"


@pytest.fixture(scope="module")
def malformed(tmp_path_factory) -> tuple[Path, dict]:
    """An official-format MDQA test file whose second record has no question, and the real-data slice."""
    folder = tmp_path_factory.mktemp("malformed")
    lines = FIXTURE.read_text().splitlines()
    bad = json.loads(lines[1])
    bad.pop("question")
    lines[1] = json.dumps(bad)
    test = folder / "bad.jsonl.gz"
    with gzip.open(test, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (train,) = write_release(folder / "train", 5, seed=1, gold_indices=(0,))
    cfg = {
        "source": {"kind": "files", "train": str(train), "test": str(test), "on_unalignable": "error"},
        "release_files": [],
        "test_share": 0.2,
        "file_gold_position": "place",
        "target_tokens": 2000,
        "max_documents": 20,
        "gold_position": "last",
    }
    return test, cfg


def real_data(tmp_path: Path, model_dir: Path, cfg: dict, *extra: str, env: dict | None = None):
    """`python -m synthctx real-data ...` as the rule runs it."""
    argv = ["real-data", "--config", json.dumps(cfg), "--task", "mdqa", "--model-dir", str(model_dir),
            "--split", "test", "--n", "3", "--seed", "0", "--out", str(tmp_path / "test.jsonl"), *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "synthctx", *argv], capture_output=True, text=True, env=env)


def test_a_malformed_data_file_is_one_line_naming_file_and_line(tmp_path, tiny_model_dir, malformed):
    path, cfg = malformed
    run = real_data(tmp_path, tiny_model_dir, cfg, env={"SYNTHCTX_DEBUG": ""})
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"error: {path}:2: field 'question'"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "test.jsonl").exists()


@pytest.mark.parametrize("switch", [("--debug",), ()])
def test_debug_shows_the_traceback(tmp_path, tiny_model_dir, malformed, switch):
    _, cfg = malformed
    run = real_data(tmp_path, tiny_model_dir, cfg, *switch, env={} if switch else {"SYNTHCTX_DEBUG": "1"})
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr and "RecordError" in run.stderr, run.stderr


def test_a_malformed_jsonl_input_is_one_line_too(tmp_path):
    records = tmp_path / "train.jsonl"
    records.write_text('{"id": 1}\n{"id": \n')
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SYNTHCTX_DEBUG": ""}
    argv = ["limit-data", "--records", str(records), "--n", "1", "--out", str(tmp_path / "out.jsonl")]
    run = subprocess.run([sys.executable, "-m", "synthctx", *argv], capture_output=True, text=True, env=env)
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: {records}:2: not valid JSON (Expecting value)", run.stderr


def test_a_bad_config_slice_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SYNTHCTX_DEBUG": ""}
    argv = ["head-sets", "--config", "{}", "--scores", "s.json", "--by-step", "b.json", "--reference", "r.json",
            "--out", str(tmp_path / "c.json")]  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "synthctx", *argv], capture_output=True, text=True, env=env)
    assert run.returncode == 1
    assert run.stderr.startswith("error: head_sets: missing keys") and "Traceback" not in run.stderr, run.stderr


def test_the_resource_failure_handler_names_a_job_without_a_model_argument(monkeypatch):
    """synthetic-data has no --model: a full disk there is still the one-line message, not an AttributeError."""
    from synthctx import cli
    from synthctx.jobs import data

    def fail(a):
        raise OSError(errno.ENOSPC, "No space left on device", "out.jsonl.tmp")

    monkeypatch.setattr(data, "cmd_synthetic_data", fail)
    monkeypatch.delenv("SYNTHCTX_DEBUG", raising=False)
    argv = ["synthetic-data", "--task", "mdqa", "--data", "high-low", "--model-dir", "m", "--n", "2", "--seed", "0",
            "--out", "out.jsonl"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    message = str(exc.value)
    assert message.startswith("error: synthetic-data of mdqa/high-low/0: no space left on the device"), message
    assert "--set-resources" not in message
    memory = MemoryError()
    monkeypatch.setattr(data, "cmd_synthetic_data", lambda a: (_ for _ in ()).throw(memory))
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert "synthetic_train_data:mem_mb=" in str(exc.value)
