"""The paper-scale grid plans the expected jobs (a dry run: nothing is downloaded or trained)."""

from __future__ import annotations

import yaml

from synthctx.plan import grid
from synthctx.plan.config import load_config_files, validate_config
from workflow_helpers import REPO, copy_workflow, planned_jobs, snakemake

SEEDS, MODELS, VARIANTS, TASKS = 3, 2, 5, 3
# real + real (limited) + synthetic variants + baseline, per task x model x seed
CONDITIONS = (1 + 1 + VARIANTS + 1) * TASKS * MODELS * SEEDS


def test_paper_grid_job_counts(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    files = [REPO / "config/config.yaml", REPO / "config/paper.yaml"]
    paper = load_config_files(files)
    validate_config(paper, yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text()), files)
    assert paper["grid"]["tasks"] == ["mdqa", "musique", "summhay"]
    for task in paper["grid"]["tasks"]:  # the official files are the user's download; the DAG only needs paths
        for name in grid.real_data_files(paper, task):
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch() if path.suffix else path.mkdir(exist_ok=True)  # SummHay reads a folder of topic files
    dry = snakemake(work, "-n", "--configfile", "config/paper.yaml", timeout=120)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert planned_jobs(dry.stdout) == {
        "prepare_model": MODELS,
        "real_test_data": TASKS * MODELS,
        "real_train_data": TASKS * MODELS * SEEDS,
        "real_limited_train_data": TASKS * MODELS * SEEDS,
        "synthetic_train_data": TASKS * VARIANTS * MODELS * SEEDS,
        "fine_tune": TASKS * (2 + VARIANTS) * MODELS * SEEDS,
        "evaluate": CONDITIONS,
        "score_heads": CONDITIONS,
        "head_sets": CONDITIONS,
        "knockout": TASKS * (1 + VARIANTS) * MODELS * SEEDS,  # the real model and every synthetic variant
        "patch": TASKS * VARIANTS * MODELS * SEEDS,  # every synthetic variant, the real model as donor
        "aggregate": 1,
        "correlate": 1,
        "intervention_tables": 1,
        "figures": 1,
        "claims": 1,
        "all": 1,
    }
    assert planned_jobs(dry.stdout) == grid.planned_jobs(paper)  # the plan, imported, counts the same jobs
