"""The paper-scale path rehearsed on a real one-node SLURM: config/rehearsal.yaml (three tasks from generated
official-format files, two seeds, every kind of condition; one of its two models, tests/slurm/one-model.yaml)
runs end to end through profiles/slurm; GPU rules go to the GPU partition with a GPU request, every job has a
time limit, the local rules stay on the submit host, a second invocation plans nothing, and the full two-model
grid plans under the same profile.

Needs root and the Debian SLURM packages (`tests/slurm/cluster.sh install`, which `make test` runs);
skipped otherwise. Starts munged, slurmctld and slurmd, and stops exactly those at the end.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflow_helpers import copy_workflow

pytestmark = pytest.mark.slurm
CONF = Path("/etc/slurm/slurm.conf")
HERE = Path(__file__).parent
CLUSTER = HERE / "slurm" / "cluster.sh"
GPU_RULES = {"fine_tune", "evaluate", "score_heads", "knockout", "patch"}
GROUPED = {"evaluate", "score_heads", "knockout"}  # one SLURM job per condition (profiles/slurm `groups:`)
LOCAL_RULES = {"prepare_model", "fetch_hub_data", "head_sets", "all"}


def _available() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("slurmctld", "slurmd", "munged", "sbatch"))


@pytest.fixture
def cluster(tmp_path_factory):
    if not _available():
        pytest.skip("SLURM daemons not installed or not root (make test installs them as root)")
    state = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120)
    if start.returncode == 3:
        pytest.skip(start.stderr.strip())  # a real SLURM configuration is on this machine: left alone
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


ONE_MODEL = HERE / "slurm" / "one-model.yaml"  # the run's cut of the rehearsal grid (see the file)
# What `dtype: auto` was resolved to by "the submit host". Job steps re-read the workflow on the node; where
# this machine's own answer is bfloat16 the node disagrees with the plan, as a GPU node does with a CPU login
# node, and the jobs must still compute what was planned.
PLANNED_DTYPE = "float32"
MODEL = "rehearsal-mha"


def _snakemake(work: Path, logs: Path, *extra: str, cut: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SLURM_ACCOUNT": "root",
        "SLURM_CPU_PARTITION": "cpu",
        "SLURM_GPU_PARTITION": "gpu",
        "SYNTHCTX_AUTO_DTYPE": PLANNED_DTYPE,
    }
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [
        "timeout", "-k", "20", "3600", str(exe), "--profile", "profiles/slurm",
        "--configfile", "config/rehearsal.yaml", *([str(ONE_MODEL)] if cut else []), "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-logdir", str(logs), *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)


def _planned_jobs(work: Path, cut: bool = True) -> dict[str, int]:
    """Jobs per rule of the rehearsal, from a dry run with --forceall (Snakemake's job stats table)."""
    run = _snakemake(work, work / ".slurm-logs-dry", "-n", "--forceall", "--quiet", "rules", cut=cut)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout + run.stderr, flags=re.M))
    return {rule: int(n) for rule, n in counts.items() if rule != "total"}


def test_the_rehearsal_runs_end_to_end_through_slurm(cluster, tmp_path):
    work = copy_workflow(tmp_path / "wf")
    generate = [sys.executable, str(HERE / "release_fixtures"), "--out", str(work / "resources/rehearsal")]
    fixtures = subprocess.run(generate, capture_output=True, text=True)
    assert fixtures.returncode == 0, fixtures.stderr
    before = set(_jobs())
    start = time.monotonic()
    run = _snakemake(work, tmp_path / "slurm-logs")
    wall = time.monotonic() - start
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    print(f"rehearsal through SLURM: {wall:.0f} s wall time")
    for target in ("results/aggregate/conditions.csv", "results/aggregate/correlations.csv",
                   "results/aggregate/knockout.csv", "results/aggregate/patching.csv",
                   "results/aggregate/claims.html", "results/figures/f1_by_condition.png"):  # fmt: skip
        assert (work / target).is_file(), target
    with open(work / "results/aggregate/conditions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    conditions = {(r["task"], r["model"], r["seed"], r["condition"]) for r in rows}
    variant = {"mdqa": "high/low", "musique": "low/high", "summhay": "symbolic"}
    for task in ("mdqa", "musique", "summhay"):
        for seed in ("0", "1"):
            for label in ("real", "real (limited)", variant[task], "baseline"):
                assert (task, MODEL, seed, label) in conditions, (task, MODEL, seed, label)
    # the real MDQA records come from the pooled gold_at_k files, SummHay's from the topics cut by test_topics
    test_records = (work / f"results/data/summhay/test/{MODEL}/test.jsonl").read_text()
    assert "topic_news3" in test_records or "topic_conv3" in test_records
    assert "topic_news1" not in test_records
    # every model job computed in the planned dtype (the node's own answer may differ: see PLANNED_DTYPE)
    summaries = sorted((work / "results/eval").rglob("summary.json"))
    assert len(summaries) == 3 * 2 * 4
    for path in summaries:
        assert json.loads(path.read_text())["dtype"] == PLANNED_DTYPE, path
    adapters = sorted((work / "results/train").rglob("weights/adapter_model.safetensors.meta.json"))
    assert len(adapters) == 3 * 2 * 3
    for path in adapters:
        assert json.loads(path.read_text())["config"]["dtype"] == PLANNED_DTYPE, path

    submitted = {k: v for k, v in _jobs().items() if k not in before}
    by_rule: dict[str, list[dict]] = {}
    for job in submitted.values():
        m = re.search(r"Comment=rule_(\w+?)(?:_wildcards_\S*)?(?:\s|$)", job["_line"])
        assert m, f"a submitted job without the executor's comment: {job['_line']}"
        # a group job's comment is rule_<group>_<its rules>, e.g. rule_condition_gpu_evaluate_score_heads
        name = "condition_gpu" if m.group(1).startswith("condition_gpu_") else m.group(1)
        by_rule.setdefault(name, []).append(job)
    assert GPU_RULES - GROUPED <= set(by_rule), f"submitted rules: {sorted(by_rule)}"
    for rule, jobs in by_rule.items():
        for job in jobs:
            assert job["JobState"] == "COMPLETED", job["_line"]
            assert job.get("TimeLimit") not in (None, "UNLIMITED"), f"submitted without --time: {job['_line']}"
            if rule in GPU_RULES or rule == "condition_gpu":
                assert job["Partition"] == "gpu", job["_line"]
                assert "gres/gpu=1" in job["_line"] or "gpu:1" in job["_line"], job["_line"]
            else:
                assert job["Partition"] == "cpu", job["_line"]
    assert not (set(by_rule) & (GROUPED | LOCAL_RULES)), f"submitted on their own: {sorted(by_rule)}"
    assert len(by_rule["fine_tune"]) == 3 * 2 * 3  # tasks x seeds x (real, real (limited), variant)
    # evaluation, head scoring and knockout of a condition share one SLURM job: one per evaluated condition
    conditions_evaluated = 3 * 2 * 4  # tasks x seeds x (real, real (limited), variant, baseline)
    assert len(by_rule["condition_gpu"]) == conditions_evaluated
    planned = _planned_jobs(work)
    ungrouped = sum(n for rule, n in planned.items() if rule not in LOCAL_RULES - {"head_sets"})
    print(f"SLURM jobs submitted: {len(submitted)} for {sum(planned.values())} workflow jobs "
          f"(one per job except local rules would be {ungrouped})")  # fmt: skip
    assert len(submitted) == ungrouped - planned["head_sets"] - sum(planned[r] for r in GROUPED) + conditions_evaluated

    again = _snakemake(work, tmp_path / "slurm-logs-2", "-n")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr

    # the full rehearsal (both models) plans under the same profile: twice the model-dependent jobs
    full = _planned_jobs(work, cut=False)
    for rule in ("fine_tune", "evaluate", "score_heads", "head_sets", "knockout", "patch", "real_test_data"):
        assert full[rule] == 2 * planned[rule], (rule, full[rule], planned[rule])


# The two checks below run after the rehearsal, in this module (the `cluster` fixture is torn down after its one
# test): the test cluster must leave no configuration behind, since a user's later SLURM clients, and Snakemake's
# SLURM plugin, would wait for a controller that is gone (seen before: every `snakemake` call spent ~10 s in
# `scontrol show config`).


def test_no_test_cluster_configuration_or_daemon_is_left():
    assert not (CONF.exists() and "ClusterName=synthctx-test" in CONF.read_text().splitlines())
    if CONF.exists():
        return  # a real cluster's configuration: its daemons are its own
    # every daemon the test started was stopped (munged's PID file lives in /run/munge, see cluster.sh)
    left = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        daemon = cmd.split(" ", 1)[0].rsplit("/", 1)[-1] in ("slurmctld", "slurmd") or "synthctx-test-munged" in cmd
        if daemon and state != "Z":  # a zombie has exited; only its parent's bookkeeping is left
            left.append(f"{proc.name} {cmd}")
    assert not left, left


@pytest.mark.skipif(not shutil.which("scontrol") or CONF.exists(), reason="no SLURM client, or a real configuration")
def test_a_slurm_client_fails_fast_without_a_cluster():
    start = time.monotonic()
    subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=60)
    assert time.monotonic() - start < 5
