"""Downloads from the Hugging Face hub: base models (prepare-model) and real task data sets (fetch-hub-data).

Only the workflow's local rules call these, on the submit host, with the network allowed (their shell sets
HF_HUB_OFFLINE=0); every other job runs offline and reads the local copies. A download pins the commit it
got: the requested `revision` (a branch, tag or commit) is resolved to a commit sha first and everything is
fetched at that sha, which the output's metadata records. A missing or unreachable source raises HubError,
which the CLI turns into a message naming the repo and the config key to change.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from synthctx.data.files import atomic_path

# Weight formats prepare-model never reads: Meta's original checkpoints (a second full copy of the weights in
# Llama-3 repos), GGUF, TensorFlow/Flax/ONNX exports. Pickled *.bin weights are skipped where safetensors exist.
MODEL_IGNORE = ["original/*", "*.pth", "*.gguf", "*.msgpack", "*.h5", "*.onnx", "*.ot", "*.tflite"]


class HubError(RuntimeError):
    """A hub download failed (no network, unknown repo or revision, gated repo without access, ...)."""

    def __init__(self, what: str, ident: str, revision: str | None, cause: BaseException):
        self.what, self.ident, self.revision, self.cause = what, ident, revision, cause
        reason = " ".join(str(cause).split()) or "(no message)"
        super().__init__(
            f"cannot download {what} {ident!r} (revision {revision or 'main, unpinned'}): "
            f"{type(cause).__name__}: {reason}"
        )


def download_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub and datasets raise for a missing or unreachable source (HTTP and connection
    errors, missing repos, revisions, splits or configs, offline mode)."""
    errors: list[type[BaseException]] = [OSError, ValueError]
    try:
        from huggingface_hub import errors as hf_errors

        errors += [hf_errors.HfHubHTTPError, getattr(hf_errors, "HTTPError", OSError)]
    except ImportError:
        pass
    try:
        from datasets.exceptions import DatasetsError

        errors.append(DatasetsError)
    except ImportError:
        pass
    return tuple(errors)


def offline_note(variables: tuple[str, ...] = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")) -> str:
    """A line for failure messages when the environment forbids the network (any of `variables` set)."""
    flags = [f"{k}={os.environ[k]}" for k in variables if os.environ.get(k, "0").strip().lower() not in ("", "0")]
    if not flags:
        return ""
    return f"\n  {' '.join(flags)} is set: this step needs the network (its workflow rule runs it with 0)"


def is_local(ident: str) -> bool:
    """A local folder or file given in place of a hub id (tests, mirrors): read without the network."""
    return Path(ident).exists()


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None  # from the environment only, never from config


# ------------------------------------------------------------------------------------------------- models


def download_model(repo_id: str, revision: str | None) -> tuple[Path, str]:
    """Snapshot of a model repo at `revision`, resolved to a commit first: (local folder, commit sha)."""
    errors = download_errors()
    try:
        from huggingface_hub import HfApi, snapshot_download

        info = HfApi(token=_token()).model_info(repo_id, revision=revision)
        files = [s.rfilename for s in info.siblings or []]
        ignore = MODEL_IGNORE + (["*.bin"] if any(f.endswith(".safetensors") for f in files) else [])
        path = snapshot_download(repo_id, revision=info.sha, ignore_patterns=ignore, token=_token())
    except errors as err:
        raise HubError("model", repo_id, revision, err) from err
    return Path(path), info.sha


# ---------------------------------------------------------------------------------------------- data sets


def _jsonable(value: Any) -> Any:
    """Values datasets yields that JSON has no type for."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"a {type(value).__name__} value cannot be written as JSON")


def write_jsonl_gz_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Rows as sorted-key JSON lines, gzip-compressed with a fixed header (byte-stable), written under a
    temporary name and renamed; returns how many rows were written."""
    n = 0
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8") as fh,
    ):
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False, default=_jsonable) + "\n")
            n += 1
    return n


def fetch_dataset_split(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """One split of a data set (`spec`: hub_id, hub_config, revision, split) written to `out` as jsonl.gz,
    one row per line as `datasets` yields it; returns facts for the output's metadata."""
    hub_id, config, revision, split = spec["hub_id"], spec.get("hub_config"), spec.get("revision"), spec["split"]
    local = is_local(hub_id)
    errors = download_errors()
    try:
        from datasets import load_dataset

        sha = None
        if not local:
            from huggingface_hub import HfApi

            sha = HfApi(token=_token()).dataset_info(hub_id, revision=revision).sha
        kwargs = {"revision": sha, "token": _token()} if not local else {}
        ds = load_dataset(hub_id, config, split=split, **kwargs)
    except errors as err:
        raise HubError("data set", hub_id if config is None else f"{hub_id}, config {config}", revision, err) from err
    n = write_jsonl_gz_atomic(out, (dict(row) for row in ds))  # local from here: load_dataset prepared the split
    return {
        "hub_id": hub_id,
        "hub_config": config,
        "split": split,
        "revision": revision,
        "resolved_revision": sha,
        "local_source": local,
        "n_rows": n,
    }
