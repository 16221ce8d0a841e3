"""The whole workflow on a tiny configuration: every stage runs, and re-runs are incremental."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import SECRET
from workflow_helpers import DOWNSTREAM, planned_jobs, planned_wildcards, snakemake

pytestmark = pytest.mark.slow
TINY = Path(__file__).parent / "fixtures" / "tiny.yaml"


def test_no_token_reaches_outputs_logs_or_metadata(finished_run):
    work, _ = finished_run
    leaked = [
        str(f.relative_to(work))
        for folder in ("results", "logs", "benchmarks", "resources", ".snakemake")
        for f in (work / folder).rglob("*")
        if f.is_file() and SECRET.encode() in f.read_bytes()
    ]
    assert not leaked, leaked


CONDITIONS = {
    "mdqa": ("real", "real-limited", "low-low", "symbolic-symbolic", "none"),
    "musique": ("real", "real-limited", "high-low", "none"),
    "summhay": ("real", "real-limited", "symbolic-low", "none"),
}


def test_every_stage_produced_its_outputs(finished_run):
    work, _ = finished_run
    res = work / "results"
    for task, conditions in CONDITIONS.items():
        kinds = {"retrieval"} if task == "mdqa" else {"retrieval", "insight"}
        for cond in conditions:
            summary = json.loads((res / f"eval/{task}/{cond}/tiny/0/summary.json").read_text())
            assert summary["n_examples"] == 6 and 0.0 <= summary["f1"] <= 1.0
            assert ("citation_precision" in summary) == (task == "summhay"), summary
            scores = json.loads((res / f"heads/{task}/{cond}/tiny/0/scores.json").read_text())
            assert set(scores["head_kinds"]) == kinds
            for kind in kinds:
                modes = scores["head_kinds"][kind]["modes"]
                assert set(modes) == {"teacher_forced", "generate"}
                assert len(modes["teacher_forced"]["scores"]) == 2  # layers
                assert len(modes["teacher_forced"]["scores"][0]) == 4  # query heads
                assert modes["teacher_forced"]["n_scored"] == 6
            comparison = json.loads((res / f"head_sets/{task}/{cond}/tiny/0/comparison.json").read_text())
            assert set(comparison["head_kinds"]) == kinds
            meta = json.loads((res / f"eval/{task}/{cond}/tiny/0/summary.json.meta.json").read_text())
            assert meta["config_hash"] and meta["versions"]["torch"]
        real = (res / f"data/{task}/real/tiny/0/train.jsonl").read_text().splitlines()
        limited = (res / f"data/{task}/real-limited/tiny/0/train.jsonl").read_text().splitlines()
        assert len(real) == 4 and limited == real[:2], "real (limited) is the real set cut to n_train"
        assert not (res / f"train/{task}/none").exists(), "the baseline is never fine-tuned"
    table = (res / "aggregate/conditions.csv").read_text().splitlines()
    # header + conditions x head kinds x modes x set rules
    assert len(table) == 1 + (5 * 1 + 4 * 2 + 4 * 2) * 2 * 2
    assert any(",real (limited)," in row for row in table)
    correlations = (res / "aggregate/correlations.csv").read_text()
    assert "summhay,tiny,0,insight" in correlations and "musique,tiny,0,retrieval" in correlations
    for fig in (
        "f1_by_condition.png",
        "head_scores_retrieval_teacher_forced.png",
        "head_scores_insight_generate.png",
        "recall_vs_f1_generate.png",
    ):
        assert (res / "figures" / fig).stat().st_size > 1000
    log = (work / "logs/train/mdqa/real/tiny/0.log").read_text()
    assert "step 2/2 loss" in log


def test_head_lists_recall_over_training_and_interventions(finished_run):
    """Head sets list their heads; snapshots give recall over steps; knockout runs the real model and every
    synthetic variant with its controls, patching every synthetic variant; the report has the claims."""
    work, _ = finished_run
    res = work / "results"
    for task, conditions in CONDITIONS.items():
        kinds = ["retrieval"] if task == "mdqa" else ["retrieval", "insight"]
        for cond in conditions:
            comparison = json.loads((res / f"head_sets/{task}/{cond}/tiny/0/comparison.json").read_text())
            top = comparison["head_kinds"]["retrieval"]["modes"]["teacher_forced"]["top_k"]
            assert (
                len(top["candidate_heads"]) == top["n_candidate"] and len(top["reference_heads"]) == top["n_reference"]
            )
            steps = [s["step"] for s in comparison["by_step"]]
            assert steps == ([] if cond == "none" else [1, 2]), steps  # snapshot_every 1, two steps
            synthetic = cond not in ("real", "real-limited", "none")
            knockout_file = res / f"interventions/knockout/{task}/{cond}/tiny/0/knockout.json"
            assert knockout_file.exists() == (cond == "real" or synthetic), cond
            if knockout_file.exists():
                ko = json.loads(knockout_file.read_text())
                assert ko["semantics"] == "mean" and ko["calibration"] and ko["n_examples"] == 2
                # held out: the first 2 test records rank the heads, the next 2 are measured, the last 2 calibrate
                ids = [
                    json.loads(line)["id"]
                    for line in (res / f"data/{task}/test/tiny/test.jsonl").read_text().splitlines()
                ]
                assert (ko["ranking_ids"], ko["example_ids"], ko["calibration_ids"]) == (ids[:2], ids[2:4], ids[4:6])
                # none, then per kind and k in (1, 2): top, bottom, 3 matched, 3 random
                assert len(ko["rows"]) == 1 + len(kinds) * 2 * 8
                assert all(len(r["f1"]) == len(r["gold_logprob"]) == 2 for r in ko["rows"])
            patch_file = res / f"interventions/patching/{task}/{cond}/tiny/0/patching.json"
            assert patch_file.exists() == synthetic, cond
            if synthetic:
                patch = json.loads(patch_file.read_text())
                assert patch["donor"]["data"] == "real"
                sets = {r["head_set"] for r in patch["rows"]}
                assert sets == {"shared", "real_only", "all_real", "random"}
    for table in ("knockout", "patching", "condition_means", "leave_one_out", "recall_by_step", "head_layers"):
        assert len((res / f"aggregate/{table}.csv").read_text().splitlines()) > 1, table
    claims = (res / "aggregate/claims.html").read_text()
    assert "not testable" not in claims  # the verdicts say what the run could see, not "not testable"
    assert "inconclusive" in claims or "undefined" in claims  # a tiny random model decides nothing
    for fig in ("knockout_curves.png", "patching_recovery.png", "recall_over_training.png", "heads_by_layer.png"):
        assert (res / "figures" / fig).stat().st_size > 1000
    assert not (work / "resources/checkpoints/mdqa/real/tiny/0").exists()


def test_a_finished_run_plans_nothing(finished_run):
    work, cfg = finished_run
    dry = snakemake(work, "-n", "--configfile", str(cfg))
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.fixture(scope="module")
def package(finished_run):
    """`make package`'s steps on the finished run: the report, Snakemake's detailed summary, the package rule
    (with a sentinel token exported, which must reach no packaged file)."""
    work, cfg = finished_run
    report = snakemake(work, "--cores", "1", "--configfile", str(cfg), "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    summary = snakemake(work, "--configfile", str(cfg), "--detailed-summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    (work / "results/detailed-summary.tsv").write_text(summary.stdout)
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = SECRET
    try:
        run = snakemake(work, "package", "--cores", "1", "--configfile", str(cfg))
    finally:
        if saved is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = saved
    assert run.returncode == 0, run.stderr[-3000:] + (work / "logs/package.log").read_text()
    return work / "results/package", work / "results/package.tar.gz"


def test_package_is_a_provenance_run_crate_with_every_file_hashed(package):
    import hashlib
    import tarfile

    folder, tarball = package
    files = sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file())
    manifest = dict(reversed(line.split("  ", 1)) for line in (folder / "manifest-sha256.txt").read_text().splitlines())
    assert set(manifest) == set(files) - {"manifest-sha256.txt", ".snakemake_timestamp"}
    for rel, digest in manifest.items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest, rel
    for task, conditions in CONDITIONS.items():
        for cond in conditions:
            for rel in (f"eval/{cond}/predictions.jsonl", f"eval/{cond}/summary.json", f"heads/{cond}/scores.json"):
                rel = rel.replace(cond, f"{task}/{cond}/tiny/0")
                assert f"results/{rel}" in manifest, rel
    for rel in (
        "results/aggregate/conditions.csv",
        "results/aggregate/claims.html",
        "results/figures/knockout_curves.png",
        "report.html",
        "config/resolved.yaml",
        "provenance/environment.lock",
        "provenance/snakemake-detailed-summary.tsv",
        "workflow-code/Snakefile",
        "workflow-code/src/synthctx/package/crate.py",
        "CITATION.cff",
        ".zenodo.json",
        "LICENSE",
    ):
        assert rel in manifest, rel
    assert not any(rel.startswith("results/train/") for rel in manifest), "adapters only when config asks"
    assert yaml.safe_load((folder / "config/resolved.yaml").read_text())["grid"]["models"] == ["tiny"]
    assert "torch==" in (folder / "provenance/environment.lock").read_text()
    assert not [rel for rel in files if SECRET.encode() in (folder / rel).read_bytes()]

    graph = {e["@id"]: e for e in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}
    root = graph["./"]
    profiles = {c["@id"] for c in root["conformsTo"]}
    assert {"https://w3id.org/ro/wfrun/provenance/0.5", "https://w3id.org/ro/wfrun/workflow/0.5"} <= profiles
    assert root["mainEntity"]["@id"] == "workflow-code/Snakefile"
    assert "ComputationalWorkflow" in graph["workflow-code/Snakefile"]["@type"]
    jobs = [e for e in graph.values() if e.get("@type") == "CreateAction" and e["@id"].startswith("#job-")]
    # packaged rules of tiny.yaml: 13 evaluate, 13 score_heads, 13 head_sets, 7 knockout, 4 patch, 5 aggregations
    assert len(jobs) == 13 + 13 + 13 + 7 + 4 + 5
    aggregate = next(j for j in jobs if j["instrument"]["@id"] == "#tool-aggregate")
    assert {"@id": "results/aggregate/conditions.csv"} in aggregate["result"]
    assert {"@id": "results/eval/mdqa/real/tiny/0/summary.json"} in aggregate["object"]
    engine = [e for e in graph.values() if e.get("@type") == "OrganizeAction"]
    assert len(engine) == 1 and len(engine[0]["object"]) == len(jobs)
    with tarfile.open(tarball) as tar:
        members = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert members == sorted(f"package/{rel}" for rel in files if rel != ".snakemake_timestamp")


def test_verify_passes_on_the_package_and_names_each_tampered_file(package, tmp_path):
    import hashlib
    import shutil
    import subprocess
    import sys

    from synthctx.package.crate import verify_package

    folder, tarball = package
    ok = subprocess.run([sys.executable, "-m", "synthctx", "verify", str(tarball)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "re-derive identically" in ok.stdout

    copy = tmp_path / "package"
    shutil.copytree(folder, copy)
    manifest = copy / "manifest-sha256.txt"

    def rehash(rel: str) -> None:  # a careful tamperer also fixes the manifest line
        lines = [
            f"{hashlib.sha256((copy / rel).read_bytes()).hexdigest()}  {rel}" if line.endswith(f"  {rel}") else line
            for line in manifest.read_text().splitlines()
        ]
        manifest.write_text("\n".join(lines) + "\n")

    summary = copy / "results/eval/mdqa/real/tiny/0/summary.json"
    data = json.loads(summary.read_text())
    data["f1"] = 0.987654  # what a reader of the package would quote
    summary.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n")
    rehash("results/eval/mdqa/real/tiny/0/summary.json")
    predictions = copy / "results/eval/musique/real/tiny/0/predictions.jsonl"
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    rows[0]["metrics"]["f1"] = 1.0 - rows[0]["metrics"]["f1"]  # one example flipped: its summary no longer agrees
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rehash("results/eval/musique/real/tiny/0/predictions.jsonl")
    (copy / "results/figures/heads_by_layer.png").unlink()
    (copy / "results/aggregate/extra.csv").write_text("a,b\n")
    scores = copy / "results/heads/musique/real/tiny/0/scores.json"
    scores.write_bytes(scores.read_bytes().replace(b"0", b"1", 1))
    problems = verify_package(copy)
    assert any(p.startswith("results/aggregate/conditions.csv: differs when re-derived") for p in problems), problems
    edited = "results/eval/mdqa/real/tiny/0/summary.json: f1 is 0.987654, but its predictions"
    assert any(p.startswith(edited) for p in problems), problems
    assert any(p.startswith("results/eval/musique/real/tiny/0/summary.json: f1 is ") for p in problems), problems
    assert not any(p.startswith("results/eval/mdqa/real/tiny/1/") for p in problems), "untouched summaries agree"
    assert "results/figures/heads_by_layer.png: listed in the manifest but missing" in problems
    assert any(p.startswith("results/aggregate/extra.csv: not in the manifest") for p in problems)
    assert any(p.startswith("results/heads/musique/real/tiny/0/scores.json: SHA-256 differs") for p in problems)

    # a recorded command is never run through a shell, and only model-free synthctx stages are re-run
    hostile = tmp_path / "hostile"
    shutil.copytree(folder, hostile)
    copy, manifest = hostile, hostile / "manifest-sha256.txt"
    tsv = hostile / "provenance/snakemake-detailed-summary.tsv"
    lines = tsv.read_text().splitlines()
    bad = "touch pwned; python -m synthctx aggregate"
    lines = [line.replace("python -m synthctx aggregate", bad) for line in lines]
    tsv.write_text("\n".join(lines) + "\n")
    rehash("provenance/snakemake-detailed-summary.tsv")
    problems = verify_package(hostile)
    assert any("rule aggregate: recorded command is not a model-free synthctx stage" in p for p in problems), problems
    assert not (hostile / "pwned").exists() and not Path("pwned").exists()


def _killed_when(work: Path, args: list[str], ready, log: Path, timeout: float = 900) -> None:
    """Run Snakemake and SIGKILL it with all its jobs (a lost node, an OOM kill) as soon as `ready()` holds."""
    import signal
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(exe), "--directory", str(work), "-s", str(work / "Snakefile"), *args],
            cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_run_killed_mid_training_recovers_to_the_same_bytes(finished_run, tmp_path):
    """Determinism and recovery: one synthetic condition's whole chain (model, data, both fine-tunings,
    evaluation, scoring, head sets, knockout, patching) is re-run from scratch in a copy and killed (SIGKILL,
    every process) once a training checkpoint exists; after `snakemake --unlock` the same command finishes,
    training resumes from its checkpoint, and every output has the first run's bytes. Only the .meta.json
    sidecars (times, host, versions) may differ. Tables and figures are re-derived byte for byte by verify."""
    import hashlib
    import shutil
    import time

    work, cfg = finished_run
    copy = tmp_path / "again"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("package", "package.tar.gz"))
    cond = "mdqa/low-low/tiny/0"
    targets = [
        f"results/head_sets/{cond}/comparison.json",
        f"results/interventions/knockout/{cond}/knockout.json",
        f"results/interventions/patching/{cond}/patching.json",
    ]
    args = [*targets, "--cores", "2", "--configfile", str(cfg)]
    started = time.time()
    checkpoints = copy / "resources/checkpoints"
    killed_log = tmp_path / "killed.log"
    complete = "checkpoint-*/synthctx-checkpoint-complete"  # what the trainer marks resumable (train.py)
    _killed_when(copy, [*args, "--forceall"], lambda: any(checkpoints.rglob(complete)), killed_log)
    first = killed_log.read_text()
    rules = planned_jobs(first)
    assert rules["prepare_model"] == 1 and rules["fine_tune"] == 2 and rules["patch"] == 1, first[-3000:]
    assert any(checkpoints.rglob(complete)), "killed before any checkpoint was written" + first[-3000:]
    assert all((copy / t).stat().st_mtime < started for t in targets), "the kill came after the chain had finished"

    assert snakemake(copy, "--unlock", "--configfile", str(cfg)).returncode == 0
    run = snakemake(copy, *args)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resum" in "".join(f.read_text() for f in (copy / "logs/train/mdqa").rglob("*.log")).lower()
    again = [
        f
        for f in (copy / "results").rglob("*")
        if f.is_file() and not f.name.endswith(".meta.json") and f.stat().st_mtime >= started
    ]
    assert len(again) > 20, [str(f.relative_to(copy)) for f in again]
    differ = [
        str(f.relative_to(copy))
        for f in again
        if hashlib.sha256(f.read_bytes()).digest() != hashlib.sha256((work / f.relative_to(copy)).read_bytes()).digest()
    ]
    assert not differ, differ
    assert snakemake(copy, "-n", *args[:-4], "--configfile", str(cfg)).stdout.count("Nothing to be done") == 1


KILLED_COND = "musique/high-low/tiny/0"
# One job per stage of the study (training has its own test above): the rule, one output of it, its log, and
# what in the log says the job is under way ("" = as soon as the job has started and opened its log).
STAGE_JOBS = {
    "data": ("synthetic_train_data", f"results/data/{KILLED_COND}/train.jsonl", f"logs/data/{KILLED_COND}.log", ""),
    "evaluation": (
        "evaluate",
        f"results/eval/{KILLED_COND}/predictions.jsonl",
        f"logs/eval/{KILLED_COND}.log",
        "Loading weights",
    ),
    "scoring": (
        "score_heads",
        f"results/heads/{KILLED_COND}/scores.json",
        f"logs/heads/{KILLED_COND}.log",
        "Loading weights",
    ),
    "interventions": (
        "knockout",
        f"results/interventions/knockout/{KILLED_COND}/knockout.json",
        f"logs/interventions/knockout/{KILLED_COND}.log",
        "Loading weights",
    ),
    "aggregation": ("aggregate", "results/aggregate/conditions.csv", "logs/aggregate/conditions.log", ""),
    "packaging": ("package", "results/package.tar.gz", "logs/package.log", ""),
}


@pytest.mark.parametrize("stage", list(STAGE_JOBS))
def test_a_job_killed_at_any_stage_leaves_no_result_and_the_rerun_recovers(package, finished_run, tmp_path, stage):
    """SIGKILL (every process) while one job of the stage runs: afterwards its output is absent or planned
    again, never taken for a result; after `snakemake --unlock` the plain command re-creates it with the
    first run's bytes (the package: every file it lists, with its checksum)."""
    import shutil
    import time

    work, cfg = finished_run
    rule, target, log, under_way = STAGE_JOBS[stage]
    copy = tmp_path / "run"
    shutil.copytree(work, copy, symlinks=True)
    args = [target, "--cores", "1", "--configfile", str(cfg)]
    started = time.time()
    job_log = copy / log

    def running() -> bool:
        return (
            job_log.is_file()
            and job_log.stat().st_mtime >= started
            and under_way in job_log.read_text(errors="replace")
        )

    killed_log = tmp_path / "killed.log"
    _killed_when(copy, [*args, "--forcerun", rule], running, killed_log)
    assert running(), f"{stage}: the job never started\n" + killed_log.read_text()[-3000:]
    output = copy / target
    if output.exists():
        assert output.stat().st_mtime < started or output.is_dir(), f"{stage}: the job finished before the kill"
    assert snakemake(copy, "--unlock", "--configfile", str(cfg)).returncode == 0
    plan = snakemake(copy, "-n", *args)
    assert planned_jobs(plan.stdout)[rule] == 1, (
        f"{stage}: the killed job's output would be taken as done\n" + plan.stdout
    )
    rerun = snakemake(copy, *args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if rule == "package":  # its metadata holds times; every file it lists is there with its checksum
        from synthctx.package.crate import check_manifest

        assert check_manifest(copy / "results/package") == [] and output.is_file()
    else:
        assert output.read_bytes() == (work / target).read_bytes(), f"{stage}: the rerun's bytes differ"


def test_changing_one_condition_reruns_only_its_branch(finished_run, tmp_path):
    work, cfg = finished_run
    changed = yaml.safe_load(cfg.read_text())
    changed["haystack"] = {"symbolic": {"keys_per_dict": 5}}  # merged over config/config.yaml's haystack
    cfg2 = tmp_path / "changed.yaml"
    cfg2.write_text(yaml.safe_dump(changed))
    dry = snakemake(work, "-n", "--configfile", str(cfg2))
    assert dry.returncode == 0, dry.stderr[-3000:]
    plan = planned_jobs(dry.stdout)
    assert plan == {
        "synthetic_train_data": 1,
        "fine_tune": 1,
        "evaluate": 1,
        "score_heads": 1,
        "head_sets": 1,
        "knockout": 1,  # a synthetic variant: knocked out and patched on seed 0
        "patch": 1,
        **{r: 1 for r in DOWNSTREAM},
    }, plan
    assert all("data=symbolic-symbolic" in w for w in planned_wildcards(dry.stdout, "fine_tune"))


def test_editing_a_module_reruns_exactly_the_rules_that_use_it(finished_run):
    work, cfg = finished_run
    module = work / "src/synthctx/heads/head_sets.py"
    original = module.read_text()
    module.write_text(original + "\n_EDITED = 1  # a code edit: comments alone change no digest\n")
    try:
        dry = snakemake(work, "-n", "--configfile", str(cfg))
    finally:
        module.write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # the interventions pick their heads with head_sets' selection rules: 7 knockouts (real + synthetic), 4 patches
    assert planned_jobs(dry.stdout) == {"head_sets": 13, "knockout": 7, "patch": 4, **{r: 1 for r in DOWNSTREAM}}


def test_editing_one_tasks_data_code_reruns_only_that_task(finished_run):
    """Data digests are per task: an edit to the SummHay builder leaves MDQA and MuSiQue alone."""
    work, cfg = finished_run
    module = work / "src/synthctx/data/tasks/summhay/synthetic.py"
    original = module.read_text()
    module.write_text(original + "\n_EDITED = 1  # a code edit: comments alone change no digest\n")
    try:
        dry = snakemake(work, "-n", "--configfile", str(cfg))
    finally:
        module.write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # SummHay in tiny.yaml: real, real (limited), one synthetic variant, baseline
    assert planned_jobs(dry.stdout) == {
        "real_test_data": 1,
        "real_train_data": 1,
        "real_limited_train_data": 1,
        "synthetic_train_data": 1,
        "fine_tune": 3,
        "evaluate": 4,
        "score_heads": 4,
        "head_sets": 4,
        "knockout": 2,  # real and the synthetic variant
        "patch": 1,
        **{r: 1 for r in DOWNSTREAM},
    }
    for rule in ("real_test_data", "fine_tune", "evaluate", "head_sets"):
        assert all("task=summhay" in w for w in planned_wildcards(dry.stdout, rule)), rule


def test_editing_a_task_spec_reruns_that_tasks_prompts_and_scoring_only(finished_run):
    """The spec holds the instruction and the metric: training, evaluation and scoring of that task re-run."""
    work, cfg = finished_run
    module = work / "src/synthctx/data/tasks/musique/__init__.py"
    original = module.read_text()
    module.write_text(original + "\n_EDITED = 1  # a code edit: comments alone change no digest\n")
    try:
        dry = snakemake(work, "-n", "--configfile", str(cfg))
    finally:
        module.write_text(original)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # MuSiQue in tiny.yaml: 4 conditions, 3 fine-tuned; its data code includes the spec too
    assert planned_jobs(dry.stdout) == {
        "real_test_data": 1,
        "real_train_data": 1,
        "real_limited_train_data": 1,
        "synthetic_train_data": 1,
        "fine_tune": 3,
        "evaluate": 4,
        "score_heads": 4,
        "head_sets": 4,
        "knockout": 2,
        "patch": 1,
        **{r: 1 for r in DOWNSTREAM},
    }
    for rule in ("fine_tune", "evaluate", "score_heads", "knockout"):
        assert all("task=musique" in w for w in planned_wildcards(dry.stdout, rule)), rule
