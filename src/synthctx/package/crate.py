"""The reproducibility package: a finished run's results as a Workflow Run RO-Crate (Provenance Run Crate
profile) with a SHA-256 for every file, and `verify`, the reviewer's check that needs no GPU.

What goes in, and how the derived files are re-derived, both come from Snakemake's detailed summary of the
run (`snakemake --detailed-summary`): it lists every output of the current plan with the rule, the inputs
and the exact shell command that produced it, so nothing here restates the workflow's layout.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from synthctx.data.files import atomic_path
from synthctx.jobs.provenance import git_commit, versions

# Rules whose outputs a reader of the study needs: predictions and metrics per condition, head scores and
# lists, intervention results, and everything aggregated from them.
PACKAGED_RULES = (
    "evaluate",
    "score_heads",
    "head_sets",
    "knockout",
    "patch",
    "aggregate",
    "correlate",
    "intervention_tables",
    "claims",
    "figures",
)
ADAPTER_RULES = ("fine_tune",)
# Derived from per-condition files only, with no model: what `verify` recomputes, in dependency order.
DERIVED_RULES = ("aggregate", "correlate", "intervention_tables", "claims", "figures")
DERIVED_STAGES = {"aggregate", "correlate", "intervention-tables", "claims", "figures"}

MANIFEST = "manifest-sha256.txt"
# Snakemake marks a finished directory output with this empty file after the job: not part of the package.
SNAKEMAKE_MARKER = ".snakemake_timestamp"
SUMMARY = "provenance/snakemake-detailed-summary.tsv"
CONFIG = "config/resolved.yaml"
CODE = "workflow-code"
# Files of the repository that carry licence and citation metadata (copied to the package's top level).
CITATION_FILES = ("LICENSE", "CITATION.cff", ".zenodo.json")

PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/ro/wfrun/provenance/0.5": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}


class PackageError(Exception):
    """A package cannot be built from this run (what is missing or out of date, and what to do)."""


@dataclass
class Job:
    """One job of the run as the detailed summary lists it."""

    rule: str
    shellcmd: str
    inputs: list[str]
    outputs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_summary(path: Path) -> list[Job]:
    """Jobs (one per rule and shell command) from `snakemake --detailed-summary` output."""
    jobs: dict[tuple[str, str], Job] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows or "shellcmd" not in rows[0]:
        raise PackageError(f"{path}: not the output of `snakemake --detailed-summary` (no shellcmd column)")
    for row in rows:
        key = (row["rule"], row["shellcmd"])
        inputs = [i for i in (row["input-file(s)"] or "").split(",") if i and i != "-"]
        job = jobs.setdefault(key, Job(row["rule"], row["shellcmd"], inputs))
        job.outputs.append(row["output_file"])
        if row["status"] != "ok" or row["plan"] != "no update":
            job.problems.append(f"{row['output_file']}: {row['status']} ({row['plan']})")
    return list(jobs.values())


@functools.cache
def _sha256_once(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file; the crate and the manifest both ask, so each unchanged file is read once."""
    stat = path.stat()
    return _sha256_once(path.resolve(), stat.st_size, stat.st_mtime_ns)


def _files_under(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file())
    elif path.is_file():
        yield path


def _git(repo: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout if run.returncode == 0 else None


def source_state(repo: Path) -> dict[str, Any]:
    """The commit the run's code is at, and whether the working tree differed from it."""
    commit = git_commit(repo)
    if commit is None:
        return {"commit": None, "dirty": None, "note": "not a git checkout: the workflow code is copied as found"}
    status = _git(repo, "status", "--porcelain", "--untracked-files=no") or ""
    return {"commit": commit, "dirty": bool(status.strip()), "changed": status.splitlines()}


def _code_files(repo: Path) -> list[str]:
    tracked = _git(repo, "ls-files", "-z")
    if tracked is not None:
        return sorted(p for p in tracked.split("\0") if p and (repo / p).is_file())
    top = ("Snakefile", "workflow", "src", "config", "envs", "profiles", "pyproject.toml", "constraints.txt")
    return sorted(
        str(f.relative_to(repo))
        for name in top
        for f in _files_under(repo / name)
        if "__pycache__" not in f.parts and ".egg-info" not in str(f)
    )


def environment_lock() -> str:
    """Every installed distribution as `name==version`, sorted: the exact environment the package was made in."""
    pins = {
        f"{dist.metadata['Name']}=={dist.version}" for dist in package_metadata.distributions() if dist.metadata["Name"]
    }
    return "\n".join(sorted(pins, key=str.lower)) + "\n"


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def build_package(
    *,
    workdir: Path,
    summary: Path,
    config: dict[str, Any],
    report: Path,
    out: Path,
    tarball: Path,
    adapters: bool,
    license_id: str,
) -> dict[str, Any]:
    """Assemble `out` (built beside it and renamed, so a killed build leaves no partial package) and its
    `.tar.gz`. Refuses a run whose packaged outputs are missing or out of date."""
    jobs = read_summary(summary)
    wanted = PACKAGED_RULES + (ADAPTER_RULES if adapters else ())
    packaged = [job for job in jobs if job.rule in wanted]
    stale = [p for job in packaged for p in job.problems]
    if stale:
        raise PackageError(
            f"{len(stale)} outputs are missing or out of date, e.g. {stale[0]}; finish the run first (make study)"
        )
    if not report.is_file():
        raise PackageError(f"{report} is missing: write the report first (make study writes it)")
    absent = [f for f in CITATION_FILES if not (workdir / f).is_file()]
    if absent:
        raise PackageError(f"licence and citation files missing from {workdir}: {', '.join(absent)}")

    with atomic_path(out) as staging:
        staging.mkdir()
        files, state = _stage_package(staging, workdir, packaged, config, report, summary, license_id)
    write_tarball(out, tarball)
    size = sum((out / rel).stat().st_size for rel in files)
    return {"files": len(files) + 1, "bytes": size, "tarball_bytes": tarball.stat().st_size, **state}


def _stage_package(
    staging: Path, workdir: Path, packaged: list[Job], config: dict, report: Path, summary: Path, license_id: str
) -> tuple[list[str], dict[str, Any]]:
    """Every file of the package, written into the staging folder; returns the files listed in the manifest
    and the source state recorded."""
    import yaml

    results: list[str] = []
    for job in packaged:
        for output in job.outputs:
            for f in _files_under(workdir / output):
                rel = str(f.relative_to(workdir))
                _copy(f, staging / rel)
                results.append(rel)
                sidecar = f.with_name(f.name + ".meta.json")
                if sidecar.is_file():
                    _copy(sidecar, staging / str(sidecar.relative_to(workdir)))
    _copy(report, staging / "report.html")
    _copy(summary, staging / SUMMARY)
    (staging / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    (staging / CONFIG).write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
    (staging / "provenance/environment.lock").write_text(environment_lock(), encoding="utf-8")
    state = source_state(workdir)
    (staging / "provenance/source.json").write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    if state.get("dirty"):
        (staging / "provenance/uncommitted.diff").write_text(_git(workdir, "diff", "HEAD") or "", encoding="utf-8")
    for rel in _code_files(workdir):
        _copy(workdir / rel, staging / CODE / rel)
    for name in CITATION_FILES:
        _copy(workdir / name, staging / name)

    _write_crate(staging, jobs=packaged, results=results, state=state, license_id=license_id)
    return write_manifest(staging), state


def _add_job_actions(crate: Any, workflow: Any, jobs: list[Job], entity: Callable[[str], Any]) -> list[Any]:
    """One CreateAction per job (its inputs and outputs as the package's files), the workflow step of its rule,
    and the ControlAction by which the engine ran it; returns the ControlActions in job order."""
    from rocrate.model.contextentity import ContextEntity

    steps: dict[str, Any] = {}
    controls: list[Any] = []
    for n, job in enumerate(jobs):
        if job.rule not in steps:
            tool = crate.add(
                ContextEntity(
                    crate,
                    f"#tool-{job.rule}",
                    properties={"@type": "SoftwareApplication", "name": f"rule {job.rule} (python -m synthctx)"},
                )
            )
            steps[job.rule] = crate.add(
                ContextEntity(
                    crate,
                    f"#step-{job.rule}",
                    properties={"@type": "HowToStep", "name": job.rule, "workExample": {"@id": tool.id}},
                )
            )
            workflow.append_to("step", steps[job.rule])
        action = crate.add_action(
            crate.get(f"#tool-{job.rule}"),
            identifier=f"#job-{n}",
            object=[e for e in (entity(i) for i in job.inputs) if e is not None] or None,
            result=[e for e in (entity(o) for o in job.outputs) if e is not None] or None,
            properties={"name": f"{job.rule} job {n}", "description": job.shellcmd},
        )
        controls.append(
            crate.add(
                ContextEntity(
                    crate,
                    f"#control-{n}",
                    properties={"@type": "ControlAction", "instrument": {"@id": steps[job.rule].id}},
                )
            )
        )
        controls[-1]["object"] = action
    return controls


def _write_crate(staging: Path, *, jobs: list[Job], results: list[str], state: dict[str, Any], license_id: str):
    """ro-crate-metadata.json: the workflow, one CreateAction per job (its inputs and outputs in the package),
    the steps they ran, and Snakemake as the engine that organised them."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    root = crate.root_dataset
    root["name"] = "Synthetic context extension via retrieval heads: a study run"
    root["description"] = (
        "Outputs of one run of the synthctx workflow (a reproduction of Zhao, Yin and Durrett, ICML 2025): "
        "per-condition predictions, metrics, head scores and lists, knockout and patching results, aggregated "
        "tables, figures and the report, with the resolved config, the environment lock and the workflow code."
    )
    root["license"] = {"@id": f"https://spdx.org/licenses/{license_id}"}
    for pid, name in PROFILES.items():
        profile = crate.add(ContextEntity(crate, pid, properties={"@type": "CreativeWork", "name": name}))
        root.append_to("conformsTo", profile)

    workflow = crate.add_workflow(
        staging / CODE / "Snakefile", f"{CODE}/Snakefile", main=True, lang="snakemake", properties={"name": "synthctx"}
    )
    if state.get("commit"):
        workflow["version"] = state["commit"]
    entities: dict[str, Any] = {}

    def entity(rel: str):
        if rel not in entities and (staging / rel).is_file():
            entities[rel] = crate.add_file(staging / rel, rel, properties={"sha256": sha256(staging / rel)})
        return entities.get(rel)

    config = entity(CONFIG)
    for rel in ("report.html", SUMMARY, "provenance/environment.lock", "provenance/source.json", *CITATION_FILES):
        entity(rel)
    engine = crate.add(
        ContextEntity(
            crate,
            "#snakemake",
            properties={
                "@type": "SoftwareApplication",
                "name": "Snakemake",
                "softwareVersion": versions()["snakemake"],
            },
        )
    )
    run = crate.add_action(
        workflow,
        identifier="#run",
        object=[config],
        result=[e for e in (entity(r) for r in sorted(results)) if e is not None] + [entity("report.html")],
        properties={"name": "the study run", "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"}},
    )
    controls = _add_job_actions(crate, workflow, jobs, entity)
    crate.add_action(
        engine,
        identifier="#engine-run",
        object=controls,
        result=[run],
        properties={"@type": "OrganizeAction", "name": "Snakemake ran the workflow"},
    )
    crate.write(staging)


def write_manifest(folder: Path) -> list[str]:
    """`manifest-sha256.txt` (sha256sum format) over every file but itself; returns the files listed."""
    files = sorted(str(f.relative_to(folder)) for f in _files_under(folder) if f.name != MANIFEST or f.parent != folder)
    lines = [f"{sha256(folder / rel)}  {rel}" for rel in files]
    (folder / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


def write_tarball(folder: Path, tarball: Path) -> None:
    """A gzipped tar of the package with fixed owners and times, so the same files give the same bytes."""
    import gzip

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with atomic_path(tarball) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for f in [folder, *sorted(folder.rglob("*"))]:
                    tar.add(f, arcname=str(Path(folder.name) / f.relative_to(folder)), recursive=False, filter=reset)


# --- verification -----------------------------------------------------------------------------------------


def _inside(root: Path, rel: str) -> Path | None:
    path = (root / rel).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def check_manifest(root: Path) -> list[str]:
    """Every listed file present with its SHA-256, and no file the manifest does not list."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        return [f"{MANIFEST}: missing (not a synthctx package, or it was stripped)"]
    problems, listed = [], set()
    for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        path = _inside(root, rel) if sep else None
        if path is None or len(digest) != 64:
            problems.append(f"{MANIFEST}:{n}: not '<sha256>  <path inside the package>': {line[:80]!r}")
            continue
        listed.add(rel)
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256(path) != digest:
            problems.append(f"{rel}: SHA-256 differs from the manifest (the file was changed)")
    for f in _files_under(root):
        rel = str(f.relative_to(root))
        if rel not in (MANIFEST, SNAKEMAKE_MARKER) and rel not in listed:
            problems.append(f"{rel}: not in the manifest (added after the package was made)")
    return problems


def _derivation_argv(job: Job, root: Path, rederived: dict[str, Path], scratch: Path) -> list[str]:
    """The job's recorded command as argv for a stage runner (`python -m synthctx`'s arguments): outputs go to
    `scratch`, inputs come from the package (or from what was re-derived before). Only the model-free stages
    are accepted, never a shell."""
    words = shlex.split(job.shellcmd)
    if ">" in words:
        words = words[: words.index(">")]
    if words[:3] != ["python", "-m", "synthctx"] or len(words) < 4 or words[3] not in DERIVED_STAGES:
        raise PackageError(f"rule {job.rule}: recorded command is not a model-free synthctx stage: {job.shellcmd[:99]}")
    argv = words[3:]
    outputs = set(job.outputs)
    for i, word in enumerate(argv):
        if word in outputs:
            argv[i] = str(scratch / word)
            rederived[word] = scratch / word
        elif word in rederived:
            argv[i] = str(rederived[word])
        elif word.startswith("results/"):
            path = _inside(root, word)
            if path is None or not path.is_file():
                raise PackageError(f"rule {job.rule}: input {word} is not in the package")
            argv[i] = str(path)
    return argv


def _first_difference(a: Path, b: Path) -> str:
    try:
        left, right = a.read_text(encoding="utf-8").splitlines(), b.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return f"{a.stat().st_size} vs {b.stat().st_size} bytes"
    for n, (x, y) in enumerate(zip(left, right, strict=False), 1):
        if x != y:
            return f"line {n}: packaged {x[:100]!r}, re-derived {y[:100]!r}"
    return f"{len(left)} lines packaged, {len(right)} re-derived"


def run_stage_in_subprocess(argv: list[str]) -> None:
    """Run one stage as `python -m synthctx <argv>` (the runner when the caller gives none); its output is
    discarded, a failure raises PackageError with the end of its stderr."""
    src = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "synthctx", *argv], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise PackageError(f"re-deriving with `{' '.join(argv[:1])}` failed: {done.stderr.strip()[-2000:]}")


def rederive(root: Path, scratch: Path, run_stage: Callable[[list[str]], Any] = run_stage_in_subprocess) -> list[str]:
    """Re-run the model-free stages from the packaged per-condition files with `run_stage` (one stage's argv,
    run from the package's folder); each output that differs is named."""
    summary = root / SUMMARY
    if not summary.is_file():
        return [f"{SUMMARY}: missing, so nothing can be re-derived"]
    jobs = {job.rule: job for job in read_summary(summary) if job.rule in DERIVED_RULES}
    problems, rederived = [], {}
    for rule in DERIVED_RULES:
        if rule not in jobs:
            problems.append(f"rule {rule}: not in the run's summary")
            continue
        job = jobs[rule]
        try:
            argv = _derivation_argv(job, root, rederived, scratch)
        except PackageError as err:
            problems.append(str(err))
            continue
        here = Path.cwd()
        os.chdir(root)  # the recorded commands name files relative to the run's folder
        try:
            with redirect_stdout(io.StringIO()):  # the stages' own summaries; verify reports differences only
                run_stage(argv)
        finally:
            os.chdir(here)
        for output in job.outputs:
            packaged, again = root / output, scratch / output
            if not packaged.is_file():
                problems.append(f"{output}: missing from the package")
            elif packaged.read_bytes() != again.read_bytes():
                problems.append(f"{output}: differs when re-derived ({_first_difference(packaged, again)})")
    return problems


def _same_value(packaged: Any, again: Any) -> bool:
    if isinstance(packaged, float) and isinstance(again, float) and packaged != packaged and again != again:
        return True  # NaN in both: an interval that needs two values
    return packaged == again


def recheck_summaries(root: Path) -> list[str]:
    """Each evaluation's summary (the F1 a reader quotes, its interval, its counts) recomputed from its own
    per-example predictions, so a summary edited to agree with the tables still disagrees with the examples."""
    from synthctx.evaluation.evaluation_summary import summarise

    summary_tsv = root / SUMMARY
    if not summary_tsv.is_file():
        return []  # rederive names the missing summary
    problems = []
    for job in read_summary(summary_tsv):
        if job.rule != "evaluate":
            continue
        named = {Path(out).name: out for out in job.outputs}
        if "summary.json" not in named or "predictions.jsonl" not in named:
            continue
        summary_path, predictions_path = (_inside(root, named[n]) for n in ("summary.json", "predictions.jsonl"))
        if not (summary_path and predictions_path and summary_path.is_file() and predictions_path.is_file()):
            continue  # check_manifest names a missing file
        try:
            packaged = json.loads(summary_path.read_text(encoding="utf-8"))
            rows = [json.loads(line) for line in predictions_path.read_text(encoding="utf-8").splitlines() if line]
            again = summarise(packaged["condition"]["task"], rows)
        except (ValueError, KeyError, TypeError) as err:
            problems.append(f"{named['summary.json']}: not recomputable from {named['predictions.jsonl']} ({err!r})")
            continue
        for key, value in again.items():
            if not _same_value(packaged.get(key), value):
                problems.append(
                    f"{named['summary.json']}: {key} is {packaged.get(key)!r}, "
                    f"but its predictions ({named['predictions.jsonl']}) give {value!r}"
                )
    return problems


def verify_package(
    package: Path, keep: Path | None = None, run_stage: Callable[[list[str]], Any] = run_stage_in_subprocess
) -> list[str]:
    """Checksums, then each evaluation summary from its predictions, then re-derivation of the tables, claims
    and figures. `package` is the folder or its .tar.gz; `keep` receives the re-derived files (a reader can
    rebuild the report's tables and figures from them); `run_stage` re-runs one stage (the command line passes
    its own dispatcher, which runs the stages in this process)."""
    with tempfile.TemporaryDirectory(prefix="synthctx-verify-") as tmp:
        root = package
        if package.is_file():
            with tarfile.open(package) as tar:
                tar.extractall(tmp, filter="data")
            tops = [p for p in Path(tmp).iterdir() if p.is_dir()]
            if len(tops) != 1:
                return [f"{package}: expected one top-level folder in the archive, found {len(tops)}"]
            root = tops[0]
        if not root.is_dir():
            return [f"{package}: neither a package folder nor a .tar.gz of one"]
        problems = check_manifest(root) + recheck_summaries(root)
        scratch = keep or Path(tmp) / "rederived"
        problems += rederive(root, scratch, run_stage)
    return problems
