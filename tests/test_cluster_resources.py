"""SLURM resources that fit: the paper grid planned through profiles/slurm gives every job a wall time, and
the GPU jobs host memory sized from the model's parameter count and dtype (a dry run: nothing is submitted).

The slurm executor's dry run submits nothing, so its "No wall time information given" warning (printed at
submission for a job without `runtime`) cannot appear; the planned jobs' resources, which the dry run
prints, are checked instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from synthctx.plan import job_resources
from workflow_helpers import copy_workflow, planned_jobs, snakemake

GPU_RULES = {
    "fine_tune": "train",
    "evaluate": "evaluate",
    "score_heads": "heads",
    "knockout": "interventions",
    "patch": "interventions",
}
MODELS_LOADED = {"patch": 2}  # the patched model and the real-data model it takes heads from
SLURM_ENV = {"SLURM_ACCOUNT": "acct", "SLURM_CPU_PARTITION": "cpu", "SLURM_GPU_PARTITION": "gpu"}


def data_placeholders(work: Path, paper: dict) -> None:
    """Empty stand-ins for the official files the paper config names (the user's download): a path with a
    suffix is a file, one without a folder (SummHay's topic folders)."""

    def paths(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from paths(value)
        elif isinstance(node, list):
            for value in node:
                yield from paths(value)
        elif isinstance(node, str) and node.startswith("data/"):
            yield Path(node)

    for rel in paths(paper["tasks"]):
        path = work / rel
        if rel.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)


def planned_resources(dry_run_output: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(rule, wildcards, resources) of every job a dry run prints."""
    jobs = []
    for block in dry_run_output.split("\n\n"):
        rule = re.search(r"^\s*(?:local)?rule (\w+):", block, flags=re.M)  # group members are indented
        if not rule:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        res = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        parse = lambda m: dict(kv.split("=", 1) for kv in m.group(1).split(", ")) if m else {}  # noqa: E731
        jobs.append((rule.group(1), parse(wc), parse(res)))
    return jobs


def test_paper_grid_under_the_slurm_profile_sizes_every_job(tmp_path, monkeypatch):
    for k, v in SLURM_ENV.items():
        monkeypatch.setenv(k, v)
    work = copy_workflow(tmp_path / "wf")
    paper = yaml.safe_load((work / "config/paper.yaml").read_text())
    data_placeholders(work, paper)
    dry = snakemake(work, "-n", "--profile", "profiles/slurm", "--configfile", "config/paper.yaml", timeout=120)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert "No wall time information given" not in dry.stdout + dry.stderr

    jobs = planned_resources(dry.stdout)
    counts = planned_jobs(dry.stdout)
    assert len(jobs) == sum(counts.values()) > 600, "every planned job was parsed"
    models = paper["models"]
    dtypes = {section: paper[section]["dtype"] for section in GPU_RULES.values()}
    assert set(dtypes.values()) == {"bfloat16"}
    for rule, wc, res in jobs:
        if rule == "all":  # the target rule runs nothing
            continue
        assert int(res.get("runtime", 0)) > 0, f"{rule} {wc}: no wall time ({res})"
        if rule in GPU_RULES:
            assert res["slurm_partition"] == "gpu" and res["gpu"] == "1", (rule, res)
            params = models[wc["model"]]["parameters"]
            expected = MODELS_LOADED.get(rule, 1) * job_resources.host_mem_mb(
                params, dtypes[GPU_RULES[rule]], 1, "train"
            )
            assert int(res["mem_mb"]) == expected, (rule, wc, res)
            # the weights alone, in bf16, with room to spare: > 16 GB for the 8B model
            assert int(res["mem_mb"]) > 2 * params / 1e6
        else:
            assert res["slurm_partition"] == "cpu", (rule, res)

    # a condition's evaluation, head scoring and knockout are one SLURM job (profiles/slurm `groups:`)
    assert dry.stdout.count("Group job condition_gpu") == counts["evaluate"]

    llama = [r for rule, wc, r in jobs if rule == "fine_tune" and wc["model"] == "llama-3-8b-instruct"]
    assert {r["mem_mb"] for r in llama} == {"24075"}  # 8.03e9 x 2 bytes = 16,060 MB x 1.25 + 4,000
    mistral = [r for rule, wc, r in jobs if rule == "evaluate" and wc["model"] == "mistral-7b-instruct"]
    assert {r["mem_mb"] for r in mistral} == {"22100"}  # 7.24e9 x 2 bytes = 14,480 MB x 1.25 + 4,000
    # training runs longer than evaluating the same model
    ft = {int(r["runtime"]) for rule, wc, r in jobs if rule == "fine_tune"}
    ev = {int(r["runtime"]) for rule, wc, r in jobs if rule == "evaluate"}
    assert min(ft) > max(ev)


def test_every_rule_declares_a_wall_time():
    """Static: a new rule without `runtime` would be submitted without --time."""
    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    for smk in sorted(rules.glob("*.smk")):
        blocks = re.split(r"^rule\s+(\w+)\s*:", smk.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            assert re.search(r"^\s+runtime=", body, flags=re.M), f"{smk.name}: rule {name} has no runtime"
