"""The cluster path on a real one-node SLURM: GPU rules go to the GPU partition with a GPU request.

Needs root and the Debian SLURM packages (`tests/slurm/cluster.sh install`, which `make test` runs);
skipped otherwise. Starts munged, slurmctld and slurmd, and stops exactly those at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_helpers import copy_workflow

pytestmark = pytest.mark.slurm
HERE = Path(__file__).parent
CLUSTER = HERE / "slurm" / "cluster.sh"
GPU_RULES = {"fine_tune", "evaluate", "score_heads"}
TARGET = "results/heads/mdqa/real/tiny/0/scores.json"


def _available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("slurmctld", "slurmd", "munged", "sbatch"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not _available():
        pytest.skip("SLURM daemons not installed or not root (make test installs them as root)")
    state = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield state
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True, timeout=60)


def _jobs() -> dict[str, dict[str, str]]:
    """Every job slurmctld remembers (MinJobAge keeps finished ones): id -> scontrol fields."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, timeout=30).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+(?:/\w+)?)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = {**fields, "_line": line}
    return jobs


def test_gpu_rules_run_on_the_gpu_partition(cluster, tmp_path):
    work = copy_workflow(tmp_path / "wf")
    (work / "tiny.yaml").write_text((HERE / "fixtures" / "tiny.yaml").read_text())
    before = set(_jobs())
    env = {
        **os.environ,
        "SLURM_ACCOUNT": "root",
        "SLURM_CPU_PARTITION": "cpu",
        "SLURM_GPU_PARTITION": "gpu",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [
        "timeout",
        "-k",
        "20",
        "900",
        str(exe),
        "--profile",
        "profiles/slurm",
        "--configfile",
        "tiny.yaml",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--slurm-logdir",
        str(tmp_path / "slurm-logs"),
        TARGET,
    ]
    run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert (work / TARGET).is_file()

    submitted = {k: v for k, v in _jobs().items() if k not in before}
    by_rule: dict[str, list[dict]] = {}
    for job in submitted.values():
        m = re.search(r"Comment=rule_(\w+?)(?:_wildcards_\S*)?(?:\s|$)", job["_line"])
        if m:
            by_rule.setdefault(m.group(1), []).append(job)
    assert GPU_RULES <= set(by_rule), f"submitted rules: {sorted(by_rule)}"
    for rule, jobs in by_rule.items():
        for job in jobs:
            assert job["JobState"] == "COMPLETED", job["_line"]
            if rule in GPU_RULES:
                assert job["Partition"] == "gpu", job["_line"]
                assert "gres/gpu=1" in job["_line"] or "gpu:1" in job["_line"], job["_line"]
            else:
                assert job["Partition"] == "cpu", job["_line"]
    assert "prepare_model" not in by_rule, "weights are prepared by a local rule on the submit host"
