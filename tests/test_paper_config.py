"""The paper-scale grid plans the expected jobs (a dry run: nothing is downloaded or trained)."""
from __future__ import annotations

import yaml

from workflow_helpers import copy_workflow, planned_jobs, snakemake

SEEDS, MODELS, VARIANTS = 3, 2, 5
CONDITIONS = (1 + VARIANTS + 1) * MODELS * SEEDS  # real + synthetic variants + baseline


def test_paper_grid_job_counts(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    paper = yaml.safe_load((work / "config/paper.yaml").read_text())
    for split in ("train", "test"):  # the official files are the user's download; the DAG only needs paths
        path = work / paper["tasks"]["mdqa"]["real_data"][split]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    dry = snakemake(work, "-n", "--configfile", "config/paper.yaml", timeout=120)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert planned_jobs(dry.stdout) == {
        "prepare_model": MODELS,
        "real_test_data": MODELS,
        "real_train_data": MODELS * SEEDS,
        "synthetic_train_data": VARIANTS * MODELS * SEEDS,
        "fine_tune": (1 + VARIANTS) * MODELS * SEEDS,
        "evaluate": CONDITIONS,
        "score_heads": CONDITIONS,
        "head_sets": CONDITIONS,
        "aggregate": 1, "correlate": 1, "figures": 1, "all": 1,
    }
