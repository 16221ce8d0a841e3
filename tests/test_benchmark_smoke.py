"""The GPU benchmark script runs end to end on CPU with a tiny architecture (numbers are meaningless)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks/gpu_benchmark.py"),
            "--arch",
            "tiny",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--train-lengths",
            "128",
            "--score-lengths",
            "128",
            "256",
            "--steps",
            "1",
            "--answer-tokens",
            "8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    (train,) = report["training"]
    assert train["plain"]["tokens_per_s"] > 0 and train["study"]["tokens_per_s"] > 0
    assert train["plain"]["gradient_checkpointing"] is True
    assert [s["seq"] for s in report["scoring"]] == [128, 256]
    for s in report["scoring"]:
        assert s["eager_agreement"]["exact"] == 1.0, "capture argmax equals eager's in float32"
    assert "speed-up study/plain" in run.stdout
