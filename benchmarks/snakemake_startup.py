"""Snakemake's start-up on this workflow: the parse every job pays (a SLURM job pays it twice: the job step's
Snakemake and the one it runs under srun), timed side by side against another commit.

    python benchmarks/snakemake_startup.py --against 729465e [--repeats 5] [--configfile config/rehearsal.yaml]

Each repeat runs `snakemake -n --quiet --until real_test_data` (one small job planned, so the time is reading
the Snakefile, the rule files, the config and the code digests, not planning) in this checkout and in a
temporary git worktree of the other commit, alternately, and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_seconds(workdir: Path, configfiles: list[str]) -> float:
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "-n", "--quiet", "--until", "real_test_data"]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    took = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"snakemake failed in {workdir}:\n{run.stderr[-2000:]}")
    return took


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the commit to compare with (a git revision)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--configfile", action="append", default=[], help="config files merged over the default")
    args = ap.parse_args(argv)
    other = Path(tempfile.mkdtemp(prefix="startup-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(other), args.against], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    try:
        for extra in args.configfile:  # config files outside the tree are read from this checkout
            target = other / extra
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / extra, target)
        here, there = [], []
        for _ in range(args.repeats):
            here.append(parse_seconds(REPO, args.configfile))
            there.append(parse_seconds(other, args.configfile))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=REPO, capture_output=True)
        shutil.rmtree(other.parent, ignore_errors=True)
    mine, theirs = statistics.median(here), statistics.median(there)
    print(f"{args.against}: median {theirs:.2f} s  ({', '.join(f'{t:.2f}' for t in there)})")
    print(f"this checkout: median {mine:.2f} s  ({', '.join(f'{t:.2f}' for t in here)})")
    print(f"ratio {theirs / mine:.2f}x (a SLURM job starts Snakemake twice, a local job once per run)")


if __name__ == "__main__":
    main()
