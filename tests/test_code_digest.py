"""Code digests follow a stage's imports inside the package, and nothing else."""

from __future__ import annotations

from synthctx.code_digest import SRC, code_digest, module_closure


def names(module: str) -> set[str]:
    return {p.relative_to(SRC).as_posix() for p in module_closure(module)}


def test_closure_follows_package_imports_only():
    scoring = names("synthctx.heads.scoring")
    assert {"heads/scoring.py", "heads/capture.py", "metrics.py", "prompting.py"} <= scoring
    assert "train.py" not in scoring and "data/synthetic_text.py" not in scoring
    assert "train.py" not in names("synthctx.head_sets")
    assert names("synthctx.head_sets") == {"head_sets.py"}


def test_digest_is_stable_and_distinguishes_stages():
    assert code_digest("synthctx.train") == code_digest("synthctx.train")
    assert code_digest("synthctx.train") != code_digest("synthctx.evaluate")
    assert len(code_digest("synthctx.aggregate")) == 16


def test_a_task_package_digest_covers_its_folder_and_nothing_of_other_tasks():
    from synthctx.code_digest import package_modules

    mods = package_modules("synthctx.tasks.summhay")
    assert {"synthctx.tasks.summhay", "synthctx.tasks.summhay.official", "synthctx.tasks.summhay.synthetic"} <= set(
        mods
    )
    closure = {p.relative_to(SRC).as_posix() for m in mods for p in module_closure(m)}
    assert "tasks/summhay/embedded.py" in closure and "data/synthetic_text.py" in closure
    assert not any(p.startswith(("tasks/mdqa/", "tasks/musique/")) for p in closure), closure
    # the spec alone (what prompts and metrics depend on) does not pull in the builders
    spec = names("synthctx.tasks.summhay")
    assert "tasks/summhay/synthetic.py" not in spec and "tasks/summhay/__init__.py" in spec
