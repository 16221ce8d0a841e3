"""The jobs of workflow/rules/data.smk: the base model prepared, a hub data set fetched, the real splits built
(and cut to a synthetic set's size), the synthetic training sets written."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from synthctx.jobs.outputs import write_metadata, write_output


def _hub_failure(err: Exception, key: str, also: list[str], offline: tuple[str, ...]) -> SystemExit:
    """A failed hub download as one message naming the source and the config keys to change, no traceback."""
    from synthctx.data.hub import offline_note

    return SystemExit(
        f"error: {err}\n  check {key} (and {', '.join(also)}) in your config; if they are right, check this "
        f"host's network access and, for a gated repo, HF_TOKEN{offline_note(offline)}"
    )


def cmd_prepare_model(a: argparse.Namespace) -> None:
    from synthctx.data.hub import HubError
    from synthctx.models.model_io import RemoteCodeRefused, prepare_model

    key = f"models.{a.model or '<model>'}"
    try:
        facts = prepare_model(a.config, a.out, seed=a.seed)
    except HubError as err:
        raise _hub_failure(err, f"{key}.repo_id", [f"{key}.revision"], ("HF_HUB_OFFLINE",)) from None
    except RemoteCodeRefused as err:
        raise SystemExit(f"error: {key}.trust_remote_code is false: {err}") from None
    write_metadata(a.out / "model.safetensors", stage="prepare-model", config_slice=a.config, extra={"model": facts})
    print(json.dumps(facts), flush=True)


def cmd_fetch_hub_data(a: argparse.Namespace) -> None:
    from synthctx.data.hub import HubError, fetch_dataset_split, is_local

    key = f"tasks.{a.task}.real_data"
    if not a.config.get("revision") and not is_local(a.config["hub_id"]):
        print(f"WARNING: {key}.revision is not set: the data set is fetched at its current main", flush=True)
    try:
        facts = fetch_dataset_split(a.config, a.out)
    except HubError as err:
        also = [f"{key}.{k}" for k in ("revision", "hub_config", f"{a.split}_split")]
        raise _hub_failure(err, f"{key}.hub_id", also, ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")) from None
    write_metadata(a.out, stage="fetch-hub-data", config_slice=a.config, extra={"task": a.task, "source": facts})
    pinned = f"commit {facts['resolved_revision']}" if facts["resolved_revision"] else "a local folder"
    print(f"wrote {facts['n_rows']} rows of {facts['hub_id']}[{facts['split']}] ({pinned}) to {a.out}", flush=True)
    if not a.config.get("revision") and facts["resolved_revision"]:
        print(f"WARNING: pin it with {key}.revision: {facts['resolved_revision']}", flush=True)


def cmd_real_data(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.models.model_io import load_tokenizer

    records, dropped = tasks.build_real(a.task, a.config, a.split, a.n, a.seed, load_tokenizer(a.model_dir))
    records = list(records)
    extra = {
        "task": a.task,
        "split": a.split,
        "seed": a.seed,
        "n_records": len(records),
        "source_kind": a.config["source"]["kind"],
        "dropped": dropped,
    }
    write_output(a.out, records, stage="real-data", config_slice=a.config, extra=extra)
    print(
        f"wrote {len(records)} real {a.task} {a.split} records to {a.out} ({dropped} source items dropped)", flush=True
    )


def cmd_limit_data(a: argparse.Namespace) -> None:
    from synthctx.data.records import first_records

    records, n_source = first_records(a.records, a.n)
    extra = {"source": str(a.records), "n_source_records": n_source, "n_records": len(records)}
    write_output(a.out, records, stage="limit-data", config_slice={"n": a.n}, extra=extra)
    print(f"kept the first {len(records)} of {n_source} real training records in {a.out}", flush=True)


def cmd_synthetic_data(a: argparse.Namespace) -> None:
    from synthctx.data import tasks
    from synthctx.data.llm_writer import writer_from_slice
    from synthctx.models.model_io import load_tokenizer
    from synthctx.plan import conditions

    data = conditions.parse(a.data)
    writer = writer_from_slice(a.config.get("writer"))
    records, _ = tasks.build_synthetic(
        a.task, data.needle, data.haystack, a.config, a.n, a.seed, load_tokenizer(a.model_dir), writer=writer
    )
    records = list(records)
    extra = {
        "task": a.task,
        "data": a.data,
        "seed": a.seed,
        "n_records": len(records),
        "writer": writer.identity() if writer else "none",
    }
    write_output(a.out, records, stage="synthetic-data", config_slice=a.config, extra=extra)
    cache = f" (LLM writer: {writer.hits} cached texts, {writer.misses} written)" if writer else ""
    print(f"wrote {len(records)} synthetic {a.task} {a.data} records to {a.out}{cache}", flush=True)


def add_commands(stage: Callable[..., argparse.ArgumentParser]) -> None:
    """The subcommands of data.smk's rules; `stage` adds one with its common arguments (see synthctx.cli)."""
    p = stage("prepare-model", cmd_prepare_model, "convert, build or download a model into a plain folder", "out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="the model's name in config (for messages)")
    p = stage(
        "fetch-hub-data",
        cmd_fetch_hub_data,
        "download one split of a task's hub data set to a local jsonl.gz (needs the network)",
        "out",
    )
    p.add_argument("--task", required=True, help="the task whose real_data it is (for messages)")
    p.add_argument("--split", choices=("train", "test"), required=True, help="which of the task's splits")
    p = stage("real-data", cmd_real_data, "build the real task's split", "out", model=True)
    p.add_argument("--task", required=True)
    p.add_argument("--split", choices=("train", "test"), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("limit-data", cmd_limit_data, "cut the real training set to a synthetic set's size", "records", "out")
    p.add_argument("--n", type=int, required=True)
    p = stage("synthetic-data", cmd_synthetic_data, "build one synthetic variant's training set", "out", model=True)
    p.add_argument("--task", required=True)
    p.add_argument("--data", required=True, help="<needle>-<haystack>, e.g. high-low")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
