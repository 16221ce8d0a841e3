"""Incremental re-runs: an edit to one job module re-plans exactly the rules of its rule file (and what reads
their outputs); the command line, comments and docstrings re-plan nothing; an edit to the claims code
re-plans the claims alone, never training or evaluation. On a copy of one finished tiny run (the session's
`finished_run` fixture), with `snakemake -n`."""

from __future__ import annotations

import pytest

from workflow_helpers import DOWNSTREAM, planned_jobs, snakemake

# The tiny run (tests/fixtures/tiny.yaml): 13 conditions, 10 fine-tuned, 7 knocked out, 4 patched.
MODEL_JOBS_AFTER_SCORING = {"head_sets": 13, "knockout": 7, "patch": 4, **{r: 1 for r in DOWNSTREAM}}
EVERYTHING = {
    "prepare_model": 1,
    "real_test_data": 3,
    "real_train_data": 3,
    "real_limited_train_data": 3,
    "synthetic_train_data": 4,
    "fine_tune": 10,
    "evaluate": 13,
    "score_heads": 13,
    **MODEL_JOBS_AFTER_SCORING,
}
CODE_EDIT = "\n_EDITED = 1\n"

REPLANNED = {
    "jobs/data.py": EVERYTHING,
    # the baseline is not trained; every head set compares with the real-data model's heads, which re-run
    "jobs/train.py": {"fine_tune": 10, "evaluate": 10, "score_heads": 10, **MODEL_JOBS_AFTER_SCORING},
    "jobs/evaluate.py": {"evaluate": 13, "score_heads": 13, **MODEL_JOBS_AFTER_SCORING},
    "jobs/heads.py": {"score_heads": 13, **MODEL_JOBS_AFTER_SCORING},
    "jobs/interventions.py": {"knockout": 7, "patch": 4, "intervention_tables": 1, "figures": 1, "claims": 1, "all": 1},
    "jobs/aggregate.py": {r: 1 for r in DOWNSTREAM},
    "jobs/package.py": {},  # the package rule is not in the study's default target
    "cli.py": {},  # no rule's digest covers the command line
    "analysis/claims.py": {"claims": 1, "all": 1},
}


def plan_after_edit(work, cfg, rel: str, edit) -> dict[str, int]:
    """What `snakemake -n` plans with src/synthctx/<rel> edited by `edit` (the file is restored after)."""
    module = work / "src/synthctx" / rel
    original = module.read_text()
    module.write_text(edit(original))
    try:
        dry = snakemake(work, "-n", "--configfile", str(cfg))
    finally:
        module.write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    return dict(planned_jobs(dry.stdout))


@pytest.mark.parametrize("rel", REPLANNED)
def test_a_code_edit_replans_exactly_the_rules_that_run_it(finished_run, rel):
    work, cfg = finished_run
    plan = plan_after_edit(work, cfg, rel, lambda text: text + CODE_EDIT)
    assert plan == REPLANNED[rel], plan
    if rel == "analysis/claims.py":
        assert not {"fine_tune", "evaluate"} & set(plan)


def test_comments_and_docstrings_replan_nothing(finished_run):
    work, cfg = finished_run

    def reworded(text: str) -> str:
        head, _, rest = text.partition('"""')  # the module docstring's opening quotes
        return head + '"""Reworded. ' + rest.replace("\n\n", "\n\n# a comment\n", 1) + "\n# the end\n"

    for rel in ("jobs/heads.py", "analysis/claims.py", "models/train.py"):
        assert plan_after_edit(work, cfg, rel, reworded) == {}, rel
