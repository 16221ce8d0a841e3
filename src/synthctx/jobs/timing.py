"""Where a job's wall time goes: interpreter and import start-up, model loading, compute. Each job prints one
`synthctx-timing {...}` line at its end; benchmarks/profile_run.py reads them from the logs."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_start() -> float:
    """When this process was created (epoch seconds), so interpreter start-up counts too."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
        return boot + ticks / _CLOCK_TICKS
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


_START = process_start()
_phases: dict[str, float] = {"load": 0.0}
_marks: dict[str, float] = {}


def mark_imported() -> None:
    """Start-up ends here: the interpreter is up and the heavy libraries are imported."""
    _marks["imported"] = time.time()


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Time spent loading models and adapters (reading weights, building modules, merging)."""
    start = time.time()
    try:
        yield
    finally:
        _phases["load"] += time.time() - start


def summary(stage: str) -> dict[str, float | str]:
    end = time.time()
    imported = _marks.get("imported", _START)
    startup = max(imported - _START, 0.0)
    total = end - _START
    return {
        "stage": stage,
        "total_s": round(total, 3),
        "startup_s": round(startup, 3),
        "load_s": round(_phases["load"], 3),
        "compute_s": round(max(total - startup - _phases["load"], 0.0), 3),
    }


def report(stage: str) -> None:
    print("synthctx-timing " + json.dumps(summary(stage), sort_keys=True), flush=True)
