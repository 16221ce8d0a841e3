"""One command line, one subcommand per stage of the study: `python -m synthctx <stage> ...`.

The subcommands live in synthctx.jobs, one module per rule file of workflow/rules/; this module only builds
the parser from them, dispatches, and turns the project's own errors into one line on stderr (`--debug`, or
SYNTHCTX_DEBUG=1, shows the traceback). Config arrives as a JSON slice, so a rule sees only the part of config
it depends on. No rule's code digest covers this file: it decides no output's bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Offline unless the caller says otherwise: the workflow's local rules (prepare_model, fetch_hub_data) set
# HF_HUB_OFFLINE=0 / HF_DATASETS_OFFLINE=0 in their shell command; no other job reaches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEBUG_VAR = "SYNTHCTX_DEBUG"

# The project's own refusals (module, class): a user's input or config is at fault and the message says how.
# They are looked up among the modules already imported, so catching them imports nothing.
PROJECT_ERRORS = (
    ("synthctx.plan.config", "ConfigError"),
    ("synthctx.plan.settings", "SliceError"),
    ("synthctx.data.records", "DataError"),  # RecordError and Unalignable (data.sources) are DataErrors
    ("synthctx.data.hub", "HubError"),
    ("synthctx.data.llm_writer", "WriterError"),
    ("synthctx.data.llm_writer", "InvalidOutputError"),
    ("synthctx.models.model_io", "RemoteCodeRefused"),
    ("synthctx.package.crate", "PackageError"),
)


def is_project_error(err: BaseException) -> bool:
    """Whether `err` is one of the project's own refusals (else a bug, whose traceback is the useful report)."""
    for module, name in PROJECT_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(err, cls):
            return True
    return False


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--config is not valid JSON: {err.msg}") from None


def _stage_adder(sub: Any) -> Callable[..., argparse.ArgumentParser]:
    """The function a job module registers a subcommand with: its handler, help, path arguments and the
    arguments every stage shares (config slice, threads, --debug; a condition and a model folder if asked)."""

    def stage(
        name: str,
        fn: Callable[[argparse.Namespace], None],
        help_: str,
        *paths: str,
        many: tuple[str, ...] = (),
        condition: bool = False,
        model: bool = False,
        slice_args: bool = True,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--debug", action="store_true", help=f"show the traceback of an error (or set {DEBUG_VAR}=1)")
        if slice_args:
            p.add_argument("--config", type=_json, default={}, help="JSON slice of the workflow config")
            p.add_argument("--threads", type=int, default=None)
        if condition:
            for k in ("task", "data", "model"):
                p.add_argument(f"--{k}", required=True)
            p.add_argument("--seed", type=int, required=True)
        if model:
            p.add_argument("--model-dir", type=Path, required=True)
        for path in paths:
            p.add_argument(f"--{path}", type=Path, required=True)
        for path in many:
            p.add_argument(f"--{path}", type=Path, nargs="+", required=True)
        return p

    return stage


def cmd_check_config(a: argparse.Namespace) -> None:
    import yaml

    from synthctx.plan.config import load_config_files, validate_config

    files = [a.base, *a.configfile]
    config = load_config_files(files)
    validate_config(config, yaml.safe_load(a.schema.read_text(encoding="utf-8")), files)
    grid = config["grid"]
    print(f"ok: {' + '.join(map(str, files))}: tasks {grid['tasks']}, models {grid['models']}, seeds {grid['seeds']}")


def build_parser() -> argparse.ArgumentParser:
    """Every job module's subcommands, in the order of the study, and check-config."""
    from synthctx.jobs import aggregate, data, evaluate, heads, interventions, package, train

    parser = argparse.ArgumentParser(prog="python -m synthctx", description=__doc__.splitlines()[0])
    stage = _stage_adder(parser.add_subparsers(dest="stage", required=True))
    for jobs in (data, train, evaluate, heads, interventions, aggregate):
        jobs.add_commands(stage)
    package.add_commands(stage, run_stage=main)
    p = stage(
        "check-config", cmd_check_config, "validate config files as the workflow will (YAML errors with file:line)",
        slice_args=False,
    )  # fmt: skip
    p.add_argument("configfile", type=Path, nargs="*", help="files merged over --base, in order (as --configfile)")
    p.add_argument("--base", type=Path, default=Path("config/config.yaml"), help="the Snakefile's configfile")
    p.add_argument("--schema", type=Path, default=Path("workflow/schemas/config.schema.yaml"))
    return parser


MODEL_STAGES = ("train", "evaluate", "score-heads", "knockout", "patch")


def _remove_stale_metadata(args: argparse.Namespace) -> None:
    """Snakemake deletes a job's outputs before running it, but not their `.meta.json` sidecars: a sidecar
    whose file is missing is a previous run's, and would outlive a failure of this one beside no output."""
    paths = [v for value in vars(args).values() for v in (value if isinstance(value, list) else [value])]
    for path in paths:
        if isinstance(path, Path) and not path.exists():
            path.with_name(path.name + ".meta.json").unlink(missing_ok=True)


def uses_bitsandbytes(args: argparse.Namespace) -> bool:
    """Only QLoRA training quantises; every other model stage loads the base at its dtype, never in 4 bits."""
    return args.stage == "train" and args.config.get("method") == "qlora"


def _import_model_libraries(args: argparse.Namespace, own_process: bool) -> None:
    """Counted as start-up: the libraries every model stage imports. In its own process a model stage that does
    not quantise hides bitsandbytes from peft, which imports it (and torch's compiler with it, ~40 % of peft's
    import time) whenever it is installed; in a shared process (tests) peft keeps what it found first."""
    if own_process and args.stage in MODEL_STAGES and not uses_bitsandbytes(args):
        sys.modules.setdefault("bitsandbytes", None)  # an import of it fails loudly; peft sees it as absent
    if args.stage in MODEL_STAGES:
        import torch  # noqa: F401
        import transformers.modeling_utils  # noqa: F401

        if args.stage == "train":
            import peft  # noqa: F401


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    """Run one stage (`own_process`: python -m synthctx, the process is this stage's alone). The project's own
    errors, a full disk and exhausted memory end it with one `error: ...` line (exit status 1); anything else
    is a bug and keeps its traceback."""
    from synthctx.jobs import timing

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_VAR, "") not in ("", "0")
    _import_model_libraries(args, own_process)
    timing.mark_imported()
    _remove_stale_metadata(args)
    try:
        args.fn(args)
    except Exception as err:
        failure = f"error: {err}" if is_project_error(err) else _resource_failure(args, err)
        if failure is None or debug:
            raise
        raise SystemExit(failure) from err
    timing.report(args.stage)
    return 0


# Rules whose names differ from their stage's (the others are the stage with '_' for '-').
RULE_OF_STAGE = {
    "train": "fine_tune",
    "score-heads": "score_heads",
    "real-data": "real_train_data or real_test_data",
    "limit-data": "real_limited_train_data",
    "synthetic-data": "synthetic_train_data",
}


def job_name(args: argparse.Namespace) -> str:
    """The stage and, as far as its command line names it, the condition it ran for."""
    parts = [str(getattr(args, k)) for k in ("task", "data", "model", "seed") if getattr(args, k, None) is not None]
    return args.stage + (f" of {'/'.join(parts)}" if parts else "")


def _resource_failure(args: argparse.Namespace, err: BaseException) -> str | None:
    """A full disk or exhausted memory as one message naming the job and what to do (else None: a bug, and
    its traceback is the useful report)."""
    import errno

    job = job_name(args)
    rule = RULE_OF_STAGE.get(args.stage, args.stage.replace("-", "_"))
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"error: {job}: no space left on the device (writing {err.filename or 'its outputs'}). Nothing partial "
            "was kept: outputs are written under a temporary name and renamed when complete. Free space there "
            "(or run from a larger disk), then rerun the same snakemake command: finished jobs are not repeated."
        )
    text = str(err).lower()
    if (
        isinstance(err, MemoryError)
        or type(err).__name__ == "OutOfMemoryError"
        or (isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))
    ):
        return (
            f"error: {job}: out of memory ({type(err).__name__}: {str(err)[:200]}). Give the job more memory "
            f"(on SLURM: snakemake --set-resources {rule}:mem_mb=<MB>, or a GPU with more memory), or need less: "
            "a smaller train.batch_size with a larger train.gradient_accumulation_steps, a smaller target_tokens "
            "for the task, train.gradient_checkpointing: true, or train.method: qlora on a CUDA GPU; then rerun."
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
