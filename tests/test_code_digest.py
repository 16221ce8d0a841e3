"""Code digests follow a stage's imports inside the package, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from synthctx.plan.code_digest import SRC, code_digest, module_closure
from workflow_helpers import REPO, copy_workflow, planned_jobs, snakemake


def names(module: str) -> set[str]:
    return {p.relative_to(SRC).as_posix() for p in module_closure(module)}


def test_closure_follows_package_imports_only():
    scoring = names("synthctx.heads.scoring")
    assert {"heads/scoring.py", "heads/capture.py", "evaluation/metrics.py", "data/prompting.py"} <= scoring
    assert "models/train.py" not in scoring and "data/synthetic_text.py" not in scoring
    assert "models/train.py" not in names("synthctx.heads.head_sets")
    assert names("synthctx.heads.head_sets") == {"heads/head_sets.py"}


def _closure_by_full_walk(module: str) -> set[str]:
    """Independent reference: every node of every module's syntax tree, imports of synthctx followed."""
    import ast

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        rel = name.split(".")[1:]
        path = next(
            (
                p
                for p in (SRC.joinpath(*rel).with_suffix(".py"), SRC.joinpath(*rel, "__init__.py"))
                if rel and p.is_file()
            ),
            SRC / "__init__.py" if not rel else None,
        )
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("synthctx")]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("synthctx"):
                todo += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return {p.relative_to(SRC).as_posix() for p in seen}


def test_closure_matches_a_walk_of_every_syntax_node():
    for module in (
        "synthctx.cli",
        "synthctx.models.train",
        "synthctx.heads.scoring",
        "synthctx.interventions.knockout",
    ):
        assert names(module) == _closure_by_full_walk(module), module


def test_an_edited_module_is_parsed_again(tmp_path, monkeypatch):
    import synthctx.plan.code_digest as cd

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("import os\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    monkeypatch.setattr(cd, "SRC", tmp_path)
    assert [p.name for p in cd.module_closure("synthctx.a")] == ["a.py"]
    (tmp_path / "a.py").write_text("import os\nfrom synthctx import b\n")
    assert [p.name for p in cd.module_closure("synthctx.a")] == [
        "__init__.py",
        "a.py",
        "b.py",
    ]  # the package itself is imported too


def test_digest_is_stable_and_distinguishes_stages():
    assert code_digest("synthctx.models.train") == code_digest("synthctx.models.train")
    assert code_digest("synthctx.models.train") != code_digest("synthctx.evaluation.evaluate")
    assert len(code_digest("synthctx.analysis.aggregate")) == 16


def test_a_task_package_digest_covers_its_folder_and_nothing_of_other_tasks():
    from synthctx.plan.code_digest import package_modules

    mods = package_modules("synthctx.data.tasks.summhay")
    assert {
        "synthctx.data.tasks.summhay",
        "synthctx.data.tasks.summhay.official",
        "synthctx.data.tasks.summhay.synthetic",
    } <= set(mods)
    closure = {p.relative_to(SRC).as_posix() for m in mods for p in module_closure(m)}
    assert "data/tasks/summhay/embedded.py" in closure and "data/synthetic_text.py" in closure
    assert not any(p.startswith(("data/tasks/mdqa/", "data/tasks/musique/")) for p in closure), closure
    # the spec alone (what prompts and metrics depend on) does not pull in the builders
    spec = names("synthctx.data.tasks.summhay")
    assert "data/tasks/summhay/synthetic.py" not in spec and "data/tasks/summhay/__init__.py" in spec


def test_folder_digest_follows_file_contents_not_modification_times(tmp_path):
    from synthctx.plan.code_digest import folder_contents_digest

    folder, plain = tmp_path / "topics", tmp_path / "train.jsonl"
    folder.mkdir()
    (folder / "topic_a.json").write_text('{"topic": "a"}')
    plain.write_text("{}\n")
    before = folder_contents_digest([str(folder), str(plain)])
    assert folder_contents_digest([str(plain)]) == ""  # plain files are tracked by Snakemake's own mtime check
    stat = (folder / "topic_a.json").stat()
    (folder / "topic_a.json").write_text('{"topic": "b"}')
    os.utime(folder / "topic_a.json", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # an edit that keeps the mtime
    assert folder_contents_digest([str(folder), str(plain)]) != before
    (folder / "topic_a.json").write_text('{"topic": "a"}')
    assert folder_contents_digest([str(folder), str(plain)]) == before
    (folder / "topic_b.json").write_text("{}")
    assert folder_contents_digest([str(folder)]) != before


def test_editing_a_file_inside_a_summhay_topic_folder_reruns_its_data_jobs(tmp_path):
    """The rehearsal reads SummHay from a folder of topic files: an edit inside it (mtime kept, so only the
    content changed) must re-plan the SummHay real-data job, and nothing is planned without the edit."""
    work = copy_workflow(tmp_path / "wf")
    fixtures = subprocess.run(
        [sys.executable, str(REPO / "tests/release_fixtures"), "--out", str(work / "resources/rehearsal")],
        capture_output=True,
        text=True,
    )
    assert fixtures.returncode == 0, fixtures.stderr
    target = "results/data/summhay/test/rehearsal-gqa/test.jsonl"
    args = (target, "--configfile", "config/rehearsal.yaml")
    built = snakemake(work, "--cores", "1", *args, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    unchanged = snakemake(work, "-n", *args)
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    topic = sorted((work / "resources/rehearsal/summhay").glob("topic_*.json"))[0]
    stat = topic.stat()
    data = json.loads(topic.read_text())
    topic.write_text(json.dumps(data, indent=2))  # same records, other bytes
    os.utime(topic, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = snakemake(work, "-n", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert planned_jobs(again.stdout + again.stderr) == {"real_test_data": 1}


def test_the_syntax_tree_is_hashed_so_comments_and_docstrings_change_nothing(tmp_path, monkeypatch):
    import synthctx.plan.code_digest as cd

    (tmp_path / "__init__.py").write_text("")
    module = tmp_path / "a.py"
    module.write_text('"""Module."""\n\n\ndef f(x):\n    """Why."""\n    return x + 1\n')
    monkeypatch.setattr(cd, "SRC", tmp_path)
    before = cd.code_digest("synthctx.a")
    module.write_text('"""Another docstring."""\n# a comment\n\n\ndef f(x):  # here too\n    return x + 1\n')
    assert cd.code_digest("synthctx.a") == before
    module.write_text('"""Module."""\n\n\ndef f(x):\n    """Why."""\n    return x + 2\n')
    assert cd.code_digest("synthctx.a") != before


def test_a_job_digest_follows_module_level_imports_of_its_job_module_only():
    from synthctx.plan.code_digest import job_files

    def rel(files) -> set[str]:
        return {p.relative_to(SRC).as_posix() for p in files}

    claims = rel(job_files("synthctx.jobs.aggregate", "synthctx.analysis.claims", "synthctx.analysis.aggregate"))
    figures = rel(job_files("synthctx.jobs.aggregate", "synthctx.analysis.figures", "synthctx.analysis.aggregate"))
    assert {"jobs/aggregate.py", "jobs/outputs.py", "analysis/claims.py"} <= claims
    assert "analysis/claims.py" not in figures and "analysis/figures.py" not in claims  # lazy imports not followed
    for rule_files in (claims, figures, rel(job_files("synthctx.jobs.train", "synthctx.models.train"))):
        assert "cli.py" not in rule_files
        assert not {f for f in rule_files if f.startswith("jobs/")} - {
            "jobs/aggregate.py", "jobs/train.py", "jobs/outputs.py", "jobs/provenance.py", "jobs/model_job.py",
            "jobs/timing.py",
        }  # fmt: skip
