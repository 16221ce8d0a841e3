"""How planning cost grows with the grid: wall time and peak memory of `snakemake -n` for grids of about 100,
1,000 and 10,000 jobs, and the paper grid's dry run.

Each grid is the embedded default with more training seeds (every seed also gets the interventions), from a
copy of the workflow in a temporary folder (no results: every job is planned). The paper grid needs the
official files only as paths, so empty placeholders stand in for them. Prints one row per grid; `--markdown`
prints the table for docs/benchmarks.md.

    python benchmarks/grid_growth.py [--grids 100 1000 10000] [--repeat 2] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from synthctx.plan.config import load_config_files, validate_config  # noqa: E402
from synthctx.plan.grid import real_data_files  # noqa: E402

COPIED = ("Snakefile", "workflow", "src", "config", "profiles", "envs")
# grid size -> (tasks, seeds): the default plans ~50 jobs per task and seed, plus a few shared ones
GRIDS = {
    100: (["mdqa"], 2),
    1000: (["mdqa", "musique", "summhay"], 7),
    10000: (["mdqa", "musique", "summhay"], 67),
}


def copy_workflow(dest: Path) -> Path:
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


# runs the command in a fresh process and prints the peak RSS (KiB) of that command alone
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)


def dry_run(work: Path, configfile: str) -> tuple[float, float, int]:
    """(wall seconds, peak RSS of the snakemake process in MiB, planned jobs) of one dry run."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [sys.executable, "-c", PEAK_RSS, str(exe), "-n", "--quiet", "rules", "--configfile", configfile]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"dry run of {configfile} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    peak_kib = int(run.stderr.strip().splitlines()[-1])
    total = re.search(r"^total\s+(\d+)$", run.stdout + run.stderr, flags=re.M)
    return wall, peak_kib / 1024, int(total.group(1)) if total else -1


def grid_config(work: Path, tasks: list[str], seeds: int) -> str:
    path = work / f"config/grid_{len(tasks)}x{seeds}.yaml"
    seed_list = list(range(seeds))
    path.write_text(
        yaml.safe_dump({"grid": {"tasks": tasks, "seeds": seed_list}, "interventions": {"seeds": seed_list}})
    )
    return str(path.relative_to(work))


def paper_placeholders(work: Path) -> None:
    """Empty stand-ins for the files (a folder where the path has no suffix) the paper grid's tasks read."""
    files = [work / "config/config.yaml", work / "config/paper.yaml"]
    config = load_config_files(files)
    validate_config(config, yaml.safe_load((work / "workflow/schemas/config.schema.yaml").read_text()), files)
    for task in config["grid"]["tasks"]:
        for name in real_data_files(config, task):
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch() if path.suffix else path.mkdir(exist_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grids", type=int, nargs="*", default=sorted(GRIDS), choices=sorted(GRIDS))
    ap.add_argument("--repeat", type=int, default=2, help="dry runs per grid; the fastest is reported")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = copy_workflow(Path(tmp))
        paper_placeholders(work)
        plans = [(f"~{n:,}: {'+'.join(t)}, {s} seeds", grid_config(work, t, s)) for n, (t, s) in GRIDS.items()
                 if n in args.grids]  # fmt: skip
        plans.insert(1 if plans else 0, ("paper grid (config/paper.yaml)", "config/paper.yaml"))
        for label, configfile in plans:
            runs = [dry_run(work, configfile) for _ in range(args.repeat)]
            rows.append((label, runs[0][2], min(r[0] for r in runs), max(r[1] for r in runs)))
    if args.markdown:
        print("| grid | jobs | `snakemake -n` wall (s) | peak memory (MiB) | per 1,000 jobs (s) |")
        print("|---|---:|---:|---:|---:|")
        for label, jobs, wall, rss in rows:
            print(f"| {label} | {jobs:,} | {wall:.1f} | {rss:.0f} | {1000 * wall / jobs:.1f} |")
    else:
        for label, jobs, wall, rss in rows:
            print(f"{label:45s} {jobs:7,d} jobs  {wall:7.1f} s  {rss:7.0f} MiB  {1000 * wall / jobs:6.1f} s/1k jobs")


if __name__ == "__main__":
    main()
