# The grid, wildcard constraints, config slices handed to rules, input functions and code digests.
# Other rule files hold only rules.

import functools
import json
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# Standard library + jsonschema only, so the scheduler stays light.
from synthctx.plan import conditions  # noqa: E402
from synthctx.data import tasks  # noqa: E402
from synthctx.plan.code_digest import code_digest, folder_contents_digest  # noqa: E402
from synthctx.plan.config import AUTO_DTYPES, ConfigError, validate_config  # noqa: E402
from synthctx.plan.hardware import resolve_dtype  # noqa: E402
from synthctx.plan.job_environment import prepare_job_environment  # noqa: E402
from synthctx.plan import job_resources  # noqa: E402


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
TASKS = config["grid"]["tasks"]
MODELS = config["grid"]["models"]
SEEDS = [str(s) for s in config["grid"]["seeds"]]


def grid():
    """Every condition as a wildcards dict: task x training data x model x seed."""
    return [
        dict(task=task, data=data, model=m, seed=s)
        for task in TASKS
        for data in conditions.training_data(config["tasks"][task])
        for m in MODELS
        for s in SEEDS
    ]


def _alternatives(values):
    return "|".join(sorted(set(values)))


wildcard_constraints:
    task=_alternatives(TASKS),
    data=_alternatives(conditions.all_names()),
    model=_alternatives(MODELS),
    seed=_alternatives(SEEDS),


COND = "{task}/{data}/{model}/{seed}"

# Code digests. A task's data rules hash its whole package; the rules that build prompts or score answers
# (training, evaluation, head scoring) hash its spec: editing one task re-runs only that task's branch.
CLI = "synthctx.cli"
TASK_DATA_CODE = {t: code_digest("synthctx.models.model_io", shallow=(CLI,), folders=(f"synthctx.data.tasks.{t}",)) for t in TASKS}
TASK_SPEC_CODE = {t: code_digest(f"synthctx.data.tasks.{t}") for t in TASKS}

# Retrieval heads for every task; insight heads where a task's records carry insight spans.
HEAD_KINDS = ["retrieval"] + (["insight"] if any(tasks.get(t).has_insights for t in TASKS) else [])


def data_code(wc):
    return TASK_DATA_CODE[wc.task]


def stage_code(*modules):
    """A stage's digest: its modules, the CLI that calls them, and the task's spec (prompt, metric)."""
    digest = code_digest(*modules, shallow=(CLI,))
    return lambda wc: f"{digest}-{TASK_SPEC_CODE[wc.task]}"


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


# --- config slices: each rule sees only what it depends on, so one change re-runs only its branch ---


def data_slice(task, real=True):
    """A task's data settings; the keys only its real-data builders read join the real slices only."""
    t, spec = config["tasks"][task], tasks.get(task)
    own = [k for k in spec.config_keys if real or k not in spec.real_data_keys]
    keys = ("max_passage_words", "target_tokens", "max_documents", "gold_position", *own)
    return {"text_package": config["text"]["package"], **{k: t[k] for k in keys}}


SPLITS = ("train", "test")


def hub_data_file(task, split):
    """Where the local rule fetch_hub_data writes one split of a task's hub data set."""
    return f"resources/data/{task}/hub/{split}.jsonl.gz"


def real_data_slice(wc):
    """A hub source also names the fetched local files (`fetched`), which the data rules read offline."""
    source = dict(config["tasks"][wc.task]["real_data"])
    if source["kind"] == "hub":
        source["fetched"] = {split: hub_data_file(wc.task, split) for split in SPLITS}
    return as_json({**data_slice(wc.task), "source": source})


def real_data_files(wc):
    """The files a task's real splits are read from: both splits' official files (a loader reads the other
    split too, to keep train and test apart) and any files its task keys list, or the fetched hub splits."""
    source = config["tasks"][wc.task]["real_data"]
    if source["kind"] == "hub":
        return [hub_data_file(wc.task, s) for s in SPLITS]
    if source["kind"] != "files":
        return []
    task = config["tasks"][wc.task]
    listed = [f for key in tasks.get(wc.task).input_file_keys for f in task[key]]
    return sorted({source[s] for s in SPLITS} | set(listed))


@functools.lru_cache(maxsize=None)
def _folders_digest(paths):
    return folder_contents_digest(list(paths))


def real_data_folders(wc):
    """The contents of any folder among the real data files (SummHay's topic folder), as a digest (hashed
    once per planning, however many jobs read the folder)."""
    return _folders_digest(tuple(real_data_files(wc)))


def hub_fetch_slice(wc):
    """What fetching one split depends on: the data set, its config and revision, and that split's name."""
    source = config["tasks"][wc.task]["real_data"]
    return as_json(
        {
            "hub_id": source["hub_id"],
            "hub_config": source.get("hub_config"),
            "revision": source.get("revision"),
            "split": source[f"{wc.split}_split"],
        }
    )


def synthetic_slice(wc):
    """The LLM writer's section joins the slice only where it writes this variant's text (a high needle
    or haystack listed in writer.use_for), so turning it on re-runs only those variants and `backend:
    none` leaves every slice as it was. Its cache (writer.cache_dir) is not an output: like
    resources/checkpoints it survives failed jobs and is shared by all of them."""
    data = conditions.parse(wc.data)
    out = {
        **data_slice(wc.task, real=False),
        "needle": config["needle"][data.needle],
        "haystack": config["haystack"][data.haystack],
    }
    writer = tasks.writer_slice(config["writer"], wc.task, data.needle, data.haystack)
    if writer:
        out["writer"] = writer
    return as_json(out)


def evaluate_slice(wc):
    return as_json({**config["evaluate"], "max_new_tokens": config["tasks"][wc.task]["max_new_tokens"]})


def model_slice(wc):
    """The model spec, less `parameters` (it only sizes jobs: setting it re-prepares nothing)."""
    return as_json({k: v for k, v in config["models"][wc.model].items() if k != "parameters"})


def section(name):
    return lambda wc: as_json(config[name])


# --- resources: wall time (minutes) for every rule, host memory for the model rules; all grow with `attempt` ---


def runtime(minutes):
    """A fixed wall-time allowance, times the attempt."""
    return lambda wc, attempt: minutes * attempt


def _parameters(wc):
    return job_resources.model_parameters(config["models"][wc.model])


def _sequence_tokens(wc):
    """Tokens of one prompt with its answer: the task's target length plus the answer allowance."""
    task = config["tasks"][wc.task]
    return task["target_tokens"] + task["max_new_tokens"]


def model_mem_mb(stage, models=1):
    """Host memory of a job that loads the model (`models` copies of it) at config[stage]["dtype"] (resolved
    from `auto`), as the weights pass through host memory on their way to the GPU."""
    kind = "train" if stage == "train" else "inference"
    return lambda wc, attempt: models * job_resources.host_mem_mb(_parameters(wc), config[stage]["dtype"], attempt, kind)


def train_runtime(wc, attempt):
    t = config["train"]
    tokens = t["max_steps"] * t["batch_size"] * t["gradient_accumulation_steps"]
    tokens *= min(t["max_length"], _sequence_tokens(wc))
    return job_resources.train_minutes(_parameters(wc), t["dtype"], tokens, attempt)


def evaluate_runtime(wc, attempt):
    task = config["tasks"][wc.task]
    n = task["n_test"]
    return job_resources.inference_minutes(
        _parameters(wc), config["evaluate"]["dtype"], n * task["target_tokens"], n * task["max_new_tokens"], attempt
    )


def score_heads_runtime(wc, attempt):
    """One forward per test example and scoring mode (teacher-forced and generated answers)."""
    passes = config["tasks"][wc.task]["n_test"] * len(config["heads"]["modes"])
    return job_resources.inference_minutes(
        _parameters(wc), config["heads"]["dtype"], passes * _sequence_tokens(wc), 0, attempt
    )


def synthetic_runtime(wc, attempt):
    """An LLM writer (a backend other than none) writes this variant's text: allow it more time."""
    data = conditions.parse(wc.data)
    writer = tasks.writer_slice(config["writer"], wc.task, data.needle, data.haystack)
    return (240 if writer else 60) * attempt


def _planning_warnings():
    """Unpinned hub sources and hub models of unknown size, said once when the run is planned."""
    found = []
    for name in MODELS:
        spec = config["models"][name]
        if spec["source"] == "hub" and not spec.get("revision"):
            found.append(
                f"models.{name}.revision is not set: prepare_model takes {spec['repo_id']} at the hub's current "
                f"main (the commit it got is recorded in resources/models/{name}/model.safetensors.meta.json)"
            )
        if job_resources.model_parameters(spec) is None and spec["source"] == "hub":
            found.append(
                f"models.{name}.parameters is not set: fine_tune, evaluate and score_heads request fixed "
                f"host memory and wall time instead of sizes from the model"
            )
    for task in TASKS:
        source = config["tasks"][task]["real_data"]
        if source["kind"] == "hub" and not source.get("revision") and not Path(source["hub_id"]).exists():
            found.append(
                f"tasks.{task}.real_data.revision is not set: fetch_hub_data takes {source['hub_id']} at the "
                f"hub's current main (the commit it got is recorded in {hub_data_file(task, '<split>')}.meta.json)"
            )
    return found


if workflow.is_main_process:
    for _warning in _planning_warnings():
        print(f"WARNING: {_warning}", file=sys.stderr)


# --- input functions ---


def train_data(wc):
    return f"results/data/{wc.task}/{wc.data}/{wc.model}/{wc.seed}/train.jsonl"


def weights(wc):
    """The fine-tuned weights of a condition (LoRA adapter or full model); the baseline has none."""
    if wc.data == conditions.NONE:
        return []
    return f"results/train/{wc.task}/{wc.data}/{wc.model}/{wc.seed}/weights"


def snapshots(wc):
    """The intermediate training snapshots of a condition (none for the baseline)."""
    if wc.data == conditions.NONE:
        return []
    return f"results/train/{wc.task}/{wc.data}/{wc.model}/{wc.seed}/snapshots"


def weights_arg(input):
    return f"--weights {input.weights}" if input.get("weights") else ""


def reference_scores(wc):
    """Head scores of the model fine-tuned on real data: the reference of every head-set comparison."""
    return f"results/heads/{wc.task}/{conditions.REAL}/{wc.model}/{wc.seed}/scores.json"


def per_condition(pattern):
    return [pattern.format(**c) for c in grid()]


# --- interventions: which conditions get them, and what each job depends on ---

INTERVENTIONS = config["interventions"]


def _chosen(data, kinds):
    """Whether training data `data` is of a kind listed (real, real-limited, synthetic, none)."""
    return conditions.parse(data).kind in kinds


def intervention_conditions(experiment):
    """The conditions that get `experiment` (knockout or patching): data kinds and seeds from config."""
    kinds = INTERVENTIONS[experiment]["data"]
    seeds = {str(s) for s in INTERVENTIONS["seeds"]}
    return [c for c in grid() if _chosen(c["data"], kinds) and c["seed"] in seeds]


def per_intervention(experiment, pattern):
    return [pattern.format(**c) for c in intervention_conditions(experiment)]


def _intervention_common(wc):
    keys = ("dtype", "n_examples", "ranked_by", "head_kinds")
    return {**{k: INTERVENTIONS[k] for k in keys}, "max_new_tokens": config["tasks"][wc.task]["max_new_tokens"]}


def knockout_slice(wc):
    """The knockout settings less the choice of conditions (that decides which jobs exist, not their results)."""
    own = {k: v for k, v in INTERVENTIONS["knockout"].items() if k != "data"}
    return as_json({**_intervention_common(wc), **own})


def patching_slice(wc):
    """The patching settings and the head-set rule's setting that picks the heads."""
    own = INTERVENTIONS["patching"]
    return as_json(
        {
            **_intervention_common(wc),
            "set_rule": own["set_rule"],
            "random_draws": own["random_draws"],
            "threshold": config["head_sets"]["threshold"],
            "top_k": config["head_sets"]["top_k"],
        }
    )


def reference_weights(wc):
    """The real-data model's weights: the donor of every patching run."""
    return f"results/train/{wc.task}/{conditions.REAL}/{wc.model}/{wc.seed}/weights"


def _n_intervention_examples(wc):
    n = config["tasks"][wc.task]["n_test"]
    return n if INTERVENTIONS["n_examples"] is None else min(n, INTERVENTIONS["n_examples"])


def _n_head_kinds(wc):
    return len([k for k in INTERVENTIONS["head_kinds"] if k == "retrieval" or tasks.get(wc.task).has_insights])


def knockout_runtime(wc, attempt):
    """One prefill and a greedy decode per example and configuration (the unmodified model, then per head
    kind and k: top, bottom and two random controls of `random_draws` draws each)."""
    ko = INTERVENTIONS["knockout"]
    configs = 1 + _n_head_kinds(wc) * len(ko["k"]) * (2 + 2 * ko["random_draws"])
    n = configs * _n_intervention_examples(wc)
    return job_resources.inference_minutes(
        _parameters(wc), INTERVENTIONS["dtype"], n * _sequence_tokens(wc), n * config["tasks"][wc.task]["max_new_tokens"], attempt
    )


def patching_runtime(wc, attempt):
    """Both models run in every patched configuration (the donor gives the contributions)."""
    configs = 2 + _n_head_kinds(wc) * (3 + INTERVENTIONS["patching"]["random_draws"])
    n = 2 * configs * _n_intervention_examples(wc)
    return job_resources.inference_minutes(
        _parameters(wc), INTERVENTIONS["dtype"], n * _sequence_tokens(wc), n * config["tasks"][wc.task]["max_new_tokens"], attempt
    )


FIGURES = {
    "f1": "results/figures/f1_by_condition.png",
    "seeds": "results/figures/recall_vs_f1_over_seeds.png",
    "steps": "results/figures/recall_over_training.png",
    "layers": "results/figures/heads_by_layer.png",
    "knockout": "results/figures/knockout_curves.png",
    "patching": "results/figures/patching_recovery.png",
    "heatmaps": expand("results/figures/head_scores_{kind}_{mode}.png", kind=HEAD_KINDS, mode=config["heads"]["modes"]),
    "scatter": expand("results/figures/recall_vs_f1_{mode}.png", mode=config["heads"]["modes"]),
}


TABLES = {
    name: f"results/aggregate/{name}.csv"
    for name in (
        "conditions",
        "condition_means",
        "correlations",
        "leave_one_out",
        "knockout",
        "patching",
        "recall_by_step",
        "head_layers",
    )
}


def all_targets():
    return [*TABLES.values(), FIGURES["f1"], "results/aggregate/claims.html"]
