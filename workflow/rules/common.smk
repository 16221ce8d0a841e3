# The plan as Snakemake sees it: thin wrappers of synthctx.plan (grid, slices, job resources, targets), which
# the benchmarks and tests import too, and the code digests. Other rule files hold only rules.

import functools
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# Standard library + jsonschema + yaml only, so the scheduler stays light.
from synthctx.plan import conditions, job_resources, slices, targets  # noqa: E402
from synthctx.plan import grid as plan_grid  # noqa: E402
from synthctx.plan.code_digest import code_digest, folder_contents_digest, job_digest  # noqa: E402
from synthctx.plan.config import AUTO_DTYPES, ConfigError, validate_config  # noqa: E402
from synthctx.plan.hardware import resolve_dtype  # noqa: E402
from synthctx.plan.job_environment import prepare_job_environment  # noqa: E402

SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# Files in order of precedence: the Snakefile's configfile, then --configfile ones (they override it).
_cli_configfiles = [Path(f) for f in workflow.overwrite_configfiles or []]
_configfiles = [Path(f) for f in workflow.configfiles if Path(f) not in _cli_configfiles] + _cli_configfiles
# `dtype: auto` is resolved once, by the process that plans the run, from its machine's hardware. A job that
# re-reads the workflow elsewhere (a SLURM job step on a GPU node) inherits the answer through this variable
# instead of asking its own hardware, so it runs the command that was planned and records the run's dtype.
AUTO_DTYPE_VAR = "SYNTHCTX_AUTO_DTYPE"
if AUTO_DTYPE_VAR not in os.environ:
    os.environ[AUTO_DTYPE_VAR] = resolve_dtype("auto")
elif os.environ[AUTO_DTYPE_VAR] not in AUTO_DTYPES:
    raise ConfigError(
        f"environment variable {AUTO_DTYPE_VAR}={os.environ[AUTO_DTYPE_VAR]!r}: expected one of "
        f"{', '.join(AUTO_DTYPES)} (it carries the planning machine's `dtype: auto`; unset it to resolve here)"
    )


envvars:
    AUTO_DTYPE_VAR,


# One pass: schema (with its defaults), derived keys, `dtype: auto`, cross-field checks.
validate_config(config, yaml.safe_load(SCHEMA.read_text()), _configfiles, auto_dtype=os.environ[AUTO_DTYPE_VAR])

# Every rule runs `python -m synthctx` from this checkout's src/ with the scheduler's interpreter.
prepare_job_environment(Path(workflow.basedir))
TASKS, MODELS, SEEDS = config["grid"]["tasks"], config["grid"]["models"], plan_grid.seeds(config)
SPLITS, _alternatives, as_json = plan_grid.SPLITS, plan_grid.alternatives, slices.as_json


def grid():
    """Every condition as a wildcards dict: task x training data x model x seed."""
    return plan_grid.grid(config)


wildcard_constraints:
    **plan_grid.wildcard_constraints(config),


COND = "{task}/{data}/{model}/{seed}"

# Code digests: a rule's covers its job module (synthctx.jobs.<rule file>) and the science it names, never the
# CLI (see synthctx.plan.code_digest). A task's data rules hash its whole package; the rules that build prompts
# or score answers (training, evaluation, head scoring) hash its spec: editing one task re-runs only its branch.
DATA_SCIENCE = ("synthctx.models.model_io", "synthctx.data.tasks", "synthctx.data.llm_writer", "synthctx.plan.conditions")
TASK_DATA_CODE = {t: job_digest("synthctx.jobs.data", *DATA_SCIENCE, folders=(f"synthctx.data.tasks.{t}",)) for t in TASKS}
TASK_SPEC_CODE = {t: code_digest(f"synthctx.data.tasks.{t}") for t in TASKS}

# Retrieval heads for every task; insight heads where a task's records carry insight spans.
HEAD_KINDS = plan_grid.head_kinds(config)


def data_code(wc):
    return TASK_DATA_CODE[wc.task]


def stage_code(job, *modules):
    """A model stage's digest: its job module, the science it names, and the task's spec (prompt, metric)."""
    digest = job_digest(job, *modules)
    return lambda wc: f"{digest}-{TASK_SPEC_CODE[wc.task]}"


# --- config slices (synthctx.plan.slices): each rule sees only what it depends on, as sorted JSON ---
real_data_slice = lambda wc: slices.real_data_slice(config, wc.task)
hub_fetch_slice = lambda wc: slices.hub_fetch_slice(config, wc.task, wc.split)
synthetic_slice = lambda wc: slices.synthetic_slice(config, wc.task, wc.data)
evaluate_slice = lambda wc: as_json(slices.evaluate_settings(config, wc.task))
model_slice = lambda wc: slices.model_slice(config, wc.model)
knockout_slice = lambda wc: as_json(slices.knockout_run(config, wc.task))
patching_slice = lambda wc: as_json(slices.patching_run(config, wc.task))


def section(name):
    """A whole section, parsed into its settings class once, while planning."""
    text = slices.section(config, name)
    return lambda wc: text


real_data_files = lambda wc: plan_grid.real_data_files(config, wc.task)
# The contents of any folder among the real data files (SummHay's topic folder) as a digest, hashed once per
# planning however many jobs read the folder.
_folders_digest = functools.cache(lambda paths: folder_contents_digest(list(paths)))
real_data_folders = lambda wc: _folders_digest(tuple(real_data_files(wc)))

# --- resources (synthctx.plan.job_resources): wall time (minutes), host memory (MB); all grow with `attempt` ---
runtime = lambda minutes: lambda wc, attempt: minutes * attempt
model_mem_mb = lambda stage, models=1: lambda wc, attempt: job_resources.stage_mem_mb(config, stage, wc.model, attempt, models)
_model_runtime = lambda estimate: lambda wc, attempt: estimate(config, wc.task, wc.model, attempt)
train_runtime = _model_runtime(job_resources.train_runtime)
evaluate_runtime = _model_runtime(job_resources.evaluate_runtime)
score_heads_runtime = _model_runtime(job_resources.score_heads_runtime)
knockout_runtime = _model_runtime(job_resources.knockout_runtime)
patching_runtime = _model_runtime(job_resources.patching_runtime)
synthetic_runtime = lambda wc, attempt: job_resources.synthetic_runtime(config, wc.task, wc.data, attempt)

if workflow.is_main_process:
    for _warning in plan_grid.planning_warnings(config):
        print(f"WARNING: {_warning}", file=sys.stderr)

# --- input functions: a condition's files; the baseline (data `none`) has no weights or snapshots ---
_cond = lambda wc, data=None: f"{wc.task}/{data or wc.data}/{wc.model}/{wc.seed}"
train_data = lambda wc: f"results/data/{_cond(wc)}/train.jsonl"
weights = lambda wc: [] if wc.data == conditions.NONE else f"results/train/{_cond(wc)}/weights"
snapshots = lambda wc: [] if wc.data == conditions.NONE else f"results/train/{_cond(wc)}/snapshots"
weights_arg = lambda input: f"--weights {input.weights}" if input.get("weights") else ""
# The real-data model: its head scores are the reference of every head-set comparison, its weights the donor
# of every patching run.
reference_scores = lambda wc: f"results/heads/{_cond(wc, conditions.REAL)}/scores.json"
reference_weights = lambda wc: f"results/train/{_cond(wc, conditions.REAL)}/weights"
per_condition = lambda pattern: [pattern.format(**c) for c in grid()]
per_intervention = lambda experiment, pattern: [
    pattern.format(**c) for c in plan_grid.intervention_conditions(config, experiment)
]

# --- targets (synthctx.plan.targets) ---
TABLES, FIGURES = targets.TABLES, targets.figures(config)
all_targets = lambda: targets.all_targets(config)
