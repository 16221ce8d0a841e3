"""The job of workflow/rules/package.smk (the finished run as a reproducibility package) and `verify`, which
rechecks a package and re-derives its tables, claims and figures with the runner the command line gives it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cmd_package(a: argparse.Namespace) -> None:
    from synthctx.package.crate import build_package

    settings = a.config["package"]  # the resolved config: schema defaults already filled
    info = build_package(
        workdir=Path.cwd(),
        summary=a.summary,
        config=a.config,
        report=a.report,
        out=a.out,
        tarball=a.tarball,
        adapters=settings["adapters"],
        license_id=settings["license"],
    )
    dirty = {None: "not a git checkout", True: "with uncommitted changes", False: "clean"}[info["dirty"]]
    print(
        f"{a.out}: {info['files']} files, {info['bytes'] / 1e6:.1f} MB; "
        f"{a.tarball}: {info['tarball_bytes'] / 1e6:.1f} MB; code at {info['commit']} ({dirty})",
        flush=True,
    )


def cmd_verify(a: argparse.Namespace) -> None:
    from synthctx.package.crate import verify_package

    problems = verify_package(a.package, keep=a.keep, run_stage=a.run_stage)
    for problem in problems:
        print(f"FAIL {problem}", flush=True)
    if problems:
        raise SystemExit(f"{a.package}: {len(problems)} problems found")
    print(f"{a.package}: every checksum matches, and the tables, claims and figures re-derive identically", flush=True)


def add_commands(stage: Callable[..., argparse.ArgumentParser], run_stage: Callable[[list[str]], Any]) -> None:
    """The subcommand of package.smk's rule, and `verify`; `run_stage` runs one stage's argv in this process
    (verify re-derives the packaged tables with it)."""
    stage(
        "package", cmd_package, "the finished run as a reproducibility package (RO-Crate, checksums, .tar.gz)",
        "summary", "report", "out", "tarball",
    )  # fmt: skip
    p = stage(
        "verify", cmd_verify, "recheck a package's checksums and re-derive its tables, claims and figures",
        slice_args=False,
    )  # fmt: skip
    p.set_defaults(run_stage=run_stage)
    p.add_argument("package", type=Path, help="the package folder or its .tar.gz")
    p.add_argument("--keep", type=Path, default=None, help="write the re-derived files here")
