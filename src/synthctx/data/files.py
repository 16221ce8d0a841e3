"""Writing a file or a folder whole: under a temporary name beside it, renamed into place once complete, so a
killed job, a full disk or a concurrent reader never meets a half-written output (Snakemake would take a
partial file for a finished one). Torch-free: every stage, the planner and the package use it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path, *, unique: bool = False) -> Iterator[Path]:
    """The temporary path to write `path` under (a file or a folder: the caller creates it), renamed to `path`
    when the block ends without error, replacing what was there; removed when the block fails.

    The temporary name is `<name>.tmp` beside `path` (a leftover of a killed run is removed first), or with
    `unique` a fresh name `.<stem>.<random>.tmp` (created empty), for writers that may race on one path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if unique:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    else:
        tmp = path.with_name(path.name + ".tmp")
        _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
