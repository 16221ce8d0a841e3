"""config/first-look.yaml plans the cut the README describes, and every job it shares with the default is the
default's own job (same shell command: same config slice, code digest and paths), so a later `make study`
reuses it instead of recomputing it."""

from __future__ import annotations

import re

from workflow_helpers import copy_workflow, planned_jobs, snakemake

SHARED_RULES = ("synthetic_train_data", "real_train_data", "real_test_data", "fine_tune", "evaluate", "score_heads")


def _commands(dry_run_output: str) -> dict[str, set[str]]:
    """Rule -> the shell commands of its planned jobs (`snakemake -n -p` prints one per job)."""
    out: dict[str, set[str]] = {}
    rule = None
    for line in dry_run_output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
        elif rule and line.startswith("Shell command: "):
            out.setdefault(rule, set()).add(line[len("Shell command: ") :].strip())
    return out


def test_first_look_plans_its_cut_and_shares_the_defaults_jobs(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    first = snakemake(work, "-n", "-p", "--forceall", "--configfile", "config/first-look.yaml", timeout=120)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    default = snakemake(work, "-n", "-p", "--forceall", timeout=120)
    assert default.returncode == 0, default.stdout[-3000:] + default.stderr[-3000:]

    conditions = 4  # real, high/high, symbolic/symbolic, baseline; one task, one seed
    assert planned_jobs(first.stdout) == {
        "prepare_model": 1,
        "real_test_data": 1,
        "real_train_data": 1,
        "synthetic_train_data": 2,
        "fine_tune": 3,
        "evaluate": conditions,
        "score_heads": conditions,
        "head_sets": conditions,
        "knockout": 3,  # the real model and both synthetic variants
        "patch": 2,
        "aggregate": 1,
        "correlate": 1,
        "intervention_tables": 1,
        "figures": 1,
        "claims": 1,
        "all": 1,
    }
    ours, theirs = _commands(first.stdout), _commands(default.stdout)
    for rule in SHARED_RULES:
        assert ours[rule], rule
        assert ours[rule] <= theirs[rule], (rule, sorted(ours[rule] - theirs[rule])[:1])
    assert all("knockout" in c and '"k": [10]' in c for c in ours["knockout"]), sorted(ours["knockout"])[:1]
    assert not ours["knockout"] & theirs["knockout"]  # a different k list: not the default's knockout jobs
