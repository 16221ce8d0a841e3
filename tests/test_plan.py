"""The plan imported as Python, without Snakemake, says what a dry run plans: the jobs per rule, their
wildcards, and the config slice each rule receives."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from synthctx.plan import grid, job_resources, slices, targets
from synthctx.plan.config import load_config_files, validate_config
from workflow_helpers import REPO, copy_workflow, planned_jobs, planned_wildcards, snakemake

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
TINY = [REPO / "config/config.yaml", REPO / "tests/fixtures/tiny.yaml"]


def tiny_config() -> dict:
    config = load_config_files(TINY)
    validate_config(config, SCHEMA, TINY, auto_dtype="float32")
    return config


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> str:
    work = copy_workflow(tmp_path_factory.mktemp("plan") / "wf")
    run = snakemake(work, "-n", "-p", "--configfile", str(TINY[1]), timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def _jobs(text: str) -> list[dict]:
    """Each planned job: rule, wildcards, resources and shell command, from a `snakemake -n -p` listing."""
    jobs, current = [], None
    for line in text.splitlines():
        head = re.match(r"^(?:local)?rule (\w+):", line)
        if head:
            current = {"rule": head.group(1), "wildcards": {}, "resources": {}}
            jobs.append(current)
        elif current is not None and line.strip().startswith(("wildcards:", "resources:")):
            key, _, value = line.strip().partition(": ")
            current[key] = dict(p.split("=", 1) for p in value.split(", "))
        elif current is not None and line.startswith("Shell command: "):
            current["shell"] = line[len("Shell command: ") :]
    return jobs


def _slice(shell: str) -> dict:
    return json.loads(re.search(r"--config '(.*?)' ", shell).group(1))


def test_job_counts_and_wildcards_match_the_dry_run(dry_run):
    config = tiny_config()
    assert planned_jobs(dry_run) == grid.planned_jobs(config)
    for rule, conds in grid.model_stage_conditions(config).items():
        got = [dict(p.split("=", 1) for p in w.split(", ")) for w in planned_wildcards(dry_run, rule)]
        assert sorted(map(sorted_items, got)) == sorted(map(sorted_items, conds)), rule
    assert len(grid.grid(config)) == len(planned_wildcards(dry_run, "head_sets"))


def sorted_items(wildcards: dict) -> tuple:
    return tuple(sorted(wildcards.items()))


SECTIONS = {"fine_tune": "train", "score_heads": "heads", "head_sets": "head_sets", "correlate": "correlation"}
MINUTES = {
    "fine_tune": job_resources.train_runtime,
    "evaluate": job_resources.evaluate_runtime,
    "score_heads": job_resources.score_heads_runtime,
    "knockout": job_resources.knockout_runtime,
    "patch": job_resources.patching_runtime,
}


def expected_slice(config: dict, rule: str, wc: dict) -> str | None:
    """The slice the plan builds for one job, or None for a rule without a --config slice."""
    if rule in SECTIONS:
        return slices.section(config, SECTIONS[rule])
    if rule == "evaluate":
        return slices.as_json(slices.evaluate_settings(config, wc["task"]))
    if rule in ("knockout", "patch"):
        build = slices.knockout_run if rule == "knockout" else slices.patching_run
        return slices.as_json(build(config, wc["task"]))
    if rule == "synthetic_train_data":
        return slices.synthetic_slice(config, wc["task"], wc["data"])
    if rule in ("real_test_data", "real_train_data"):
        return slices.real_data_slice(config, wc["task"])
    if rule == "prepare_model":
        return slices.model_slice(config, wc["model"])
    return None


def test_slices_and_resources_are_what_the_rules_receive(dry_run):
    config, checked = tiny_config(), set()
    for job in _jobs(dry_run):
        wc, rule = job["wildcards"], job["rule"]
        expected = expected_slice(config, rule, wc)
        if expected is not None:
            assert _slice(job["shell"]) == json.loads(expected), (rule, wc)
            checked.add(rule)
        if rule in MINUTES:
            minutes = MINUTES[rule](config, wc["task"], wc["model"], 1)
            assert int(job["resources"]["runtime"]) == minutes, (rule, wc)
    assert len(checked) == 11


def test_targets_name_the_figures_the_rules_write(dry_run):
    config = tiny_config()
    figures = targets.figures(config)
    assert targets.all_targets(config)[-2:] == [figures["f1"], targets.CLAIMS_PAGE]
    for name in figures["heatmaps"] + figures["scatter"] + list(targets.TABLES.values()):
        assert name in dry_run, name


def test_the_plan_needs_no_torch_and_no_snakemake():
    """The scheduler imports the plan: standard library, jsonschema, yaml and the task registry only."""
    allowed = {"__future__", "jsonschema", "yaml", "synthctx"}
    for path in sorted(Path(grid.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        third_party = {n for n in names if n not in sys.stdlib_module_names} - allowed
        assert not third_party, (path.name, third_party)
