"""How every stage writes what its rule declares: atomically (a temporary name, then a rename, so a killed
job leaves no partial output), deterministically (sorted keys, no timestamps), with provenance in a
`<output>.meta.json` beside each output rather than inside it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthctx.data.files import atomic_path
from synthctx.jobs.provenance import metadata


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Sorted-key JSON lines; returns how many were written."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(path: Path, frame) -> None:
    """A polars DataFrame as CSV."""
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_metadata(
    output: Path, *, stage: str, config_slice: Any, extra: dict[str, Any] | None = None, with_device: bool = False
) -> Path:
    """`<output>.meta.json`: stage, config hash and slice, versions, git commit (+ device, dtype facts)."""
    path = output.with_name(output.name + ".meta.json")
    write_json_atomic(path, metadata(stage=stage, config_slice=config_slice, extra=extra, with_device=with_device))
    return path


def write_output(
    path: Path,
    content: Any,
    *,
    stage: str,
    config_slice: Any,
    extra: dict[str, Any] | None = None,
    with_device: bool = False,
) -> None:
    """An output and its `.meta.json`, the writer chosen by what `content` is: text, a polars DataFrame (CSV), a
    list of records for a `.jsonl` path, else one JSON document."""
    if isinstance(content, str):
        write_text_atomic(path, content)
    elif hasattr(content, "write_csv"):
        write_csv_atomic(path, content)
    elif path.suffix == ".jsonl":
        write_jsonl_atomic(path, content)
    else:
        write_json_atomic(path, content)
    write_metadata(path, stage=stage, config_slice=config_slice, extra=extra, with_device=with_device)


def set_threads(n: int | None) -> None:
    """Torch intra-op threads, as the rule's `threads:` says (jobs run side by side on a laptop)."""
    if n:
        import torch

        torch.set_num_threads(n)
