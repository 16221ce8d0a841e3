"""The package's building blocks on hand-made folders (the whole package is built and verified on the tiny
workflow run in test_workflow.py)."""

from __future__ import annotations

import hashlib

import pytest

from synthctx.package.crate import (
    PackageError,
    build_package,
    check_manifest,
    read_summary,
    write_manifest,
    write_tarball,
)

HEADER = "output_file\tdate\trule\tlog-file(s)\tinput-file(s)\tshellcmd\tstatus\tplan\n"


def _summary(tmp_path, *rows: tuple[str, str, str, str, str]):
    path = tmp_path / "summary.tsv"
    path.write_text(
        HEADER
        + "".join(
            f"{out}\t-\t{rule}\t-\t{inputs}\t{cmd}\t{status}\t{plan}\n" for out, rule, inputs, cmd, status, plan in rows
        )
    )
    return path


def test_summary_rows_group_into_jobs_and_flag_what_is_not_up_to_date(tmp_path):
    cmd = "python -m synthctx aggregate --out a.csv --recall-by-step b.csv > log 2>&1"
    path = _summary(
        tmp_path,
        ("a.csv", "aggregate", "x.json,y.json", cmd, "ok", "no update"),
        ("b.csv", "aggregate", "x.json,y.json", cmd, "ok", "no update"),
        ("p.jsonl", "evaluate", "-", "python -m synthctx evaluate", "missing", "update pending"),
    )
    jobs = read_summary(path)
    assert [(j.rule, j.outputs, j.inputs) for j in jobs] == [
        ("aggregate", ["a.csv", "b.csv"], ["x.json", "y.json"]),
        ("evaluate", ["p.jsonl"], []),
    ]
    assert jobs[0].problems == [] and jobs[1].problems == ["p.jsonl: missing (update pending)"]


def test_a_run_with_missing_outputs_is_refused_and_leaves_no_package(tmp_path):
    summary = _summary(
        tmp_path, ("results/eval/p.jsonl", "evaluate", "-", "python -m synthctx evaluate", "missing", "update pending")
    )
    out = tmp_path / "results/package"
    with pytest.raises(PackageError, match=r"1 outputs are missing or out of date, e\.g\. results/eval/p\.jsonl"):
        build_package(
            workdir=tmp_path,
            summary=summary,
            config={},
            report=tmp_path / "report.html",
            out=out,
            tarball=tmp_path / "package.tar.gz",
            adapters=False,
            license_id="CC-BY-4.0",
        )
    assert not out.exists() and not out.with_name("package.tmp").exists()
    assert not (tmp_path / "package.tar.gz").exists()


def test_not_a_summary_is_named():
    with pytest.raises(PackageError, match="not the output of `snakemake --detailed-summary`"):
        read_summary(__import__("pathlib").Path(__file__))


def test_manifest_lists_every_file_and_rejects_paths_outside_the_package(tmp_path):
    folder = tmp_path / "package"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha\n")
    (folder / "sub/b.bin").write_bytes(b"\x00\x01")
    assert write_manifest(folder) == ["a.txt", "sub/b.bin"]
    lines = (folder / "manifest-sha256.txt").read_text().splitlines()
    assert lines == [
        f"{hashlib.sha256(b'alpha' + bytes([10])).hexdigest()}  a.txt",
        f"{hashlib.sha256(bytes([0, 1])).hexdigest()}  sub/b.bin",
    ]
    assert check_manifest(folder) == []
    (tmp_path / "outside.txt").write_text("x")
    with open(folder / "manifest-sha256.txt", "a") as fh:
        fh.write(f"{'0' * 64}  ../outside.txt\n")
    assert check_manifest(folder) == [
        "manifest-sha256.txt:3: not '<sha256>  <path inside the package>': " + repr(f"{'0' * 64}  ../outside.txt")
    ]


def test_the_tarball_is_byte_identical_for_the_same_files(tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha\n")
    write_tarball(folder, tmp_path / "one.tar.gz")
    (folder / "a.txt").touch()  # a new modification time changes nothing
    write_tarball(folder, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()


def test_source_state_says_which_commit_and_whether_the_tree_was_dirty(tmp_path):
    import subprocess

    from synthctx.package.crate import _code_files, source_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    (tmp_path / "untracked.txt").write_text("not code")
    git("add", "Snakefile")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    commit = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert source_state(tmp_path) == {"commit": commit.strip(), "dirty": False, "changed": []}
    assert _code_files(tmp_path) == ["Snakefile"]
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    state = source_state(tmp_path)
    assert state["dirty"] is True and state["changed"] == [" M Snakefile"]
    assert source_state(tmp_path / "not-a-repo-here")["commit"] is None


def test_an_evaluation_summary_is_recomputed_from_its_own_predictions(tmp_path):
    import json

    from synthctx.evaluation.evaluation_summary import summarise
    from synthctx.package.crate import recheck_summaries

    root = tmp_path / "package"
    (root / "provenance").mkdir(parents=True)
    folders = {seed: f"results/eval/mdqa/real/m/{seed}" for seed in (0, 1)}
    for seed, folder in folders.items():
        (root / folder).mkdir(parents=True)
        rows = [{"id": f"q{i}", "prediction": "x", "metrics": {"f1": f1}} for i, f1 in enumerate([1.0, 0.0, 0.5])]
        (root / folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        summary = {**summarise("mdqa", rows), "condition": {"task": "mdqa", "seed": seed}, "dtype": "float32"}
        assert summary["f1"] == 0.5 and summary["n_f1"] == 3  # (1 + 0 + 0.5) / 3, by hand
        (root / folder / "summary.json").write_text(json.dumps(summary))
    cmd = "python -m synthctx evaluate --seed {}"
    _summary(
        root / "provenance",
        *[
            (f"{folders[s]}/{name}", "evaluate", "-", cmd.format(s), "ok", "no update")
            for s in (0, 1)
            for name in ("predictions.jsonl", "summary.json")
        ],
    ).rename(root / "provenance/snakemake-detailed-summary.tsv")
    assert recheck_summaries(root) == []

    edited = root / folders[0] / "summary.json"
    edited.write_text(json.dumps({**json.loads(edited.read_text()), "f1": 0.75}))
    rows = (root / folders[1] / "predictions.jsonl").read_text().splitlines()
    (root / folders[1] / "predictions.jsonl").write_text(rows[0].replace("1.0", "0.25") + "\n" + "\n".join(rows[1:]))
    problems = recheck_summaries(root)
    assert f"{folders[0]}/summary.json: f1 is 0.75, but its predictions ({folders[0]}/predictions.jsonl) give 0.5" in (
        problems
    )
    assert any(p.startswith(f"{folders[1]}/summary.json: f1 is 0.5, but its predictions") for p in problems), problems
    assert not any(p.startswith(f"{folders[0]}/summary.json: f1_ci") for p in problems), "only what was edited"
