# The grid, wildcard constraints, config slices handed to rules, input functions and code digests.
# Other rule files hold only rules.

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# Standard library + jsonschema only, so the scheduler stays light.
from synthctx import conditions, tasks  # noqa: E402
from synthctx.code_digest import code_digest  # noqa: E402
from synthctx.config import validate_config  # noqa: E402
from synthctx.job_environment import prepare_job_environment  # noqa: E402


SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# Files in order of precedence: the Snakefile's configfile, then --configfile ones (they override it).
_cli_configfiles = [Path(f) for f in workflow.overwrite_configfiles or []]
_configfiles = [Path(f) for f in workflow.configfiles if Path(f) not in _cli_configfiles] + _cli_configfiles
# One pass: schema (with its defaults), derived keys, dtype for this machine, cross-field checks.
validate_config(config, yaml.safe_load(SCHEMA.read_text()), _configfiles)

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
TASK_DATA_CODE = {t: code_digest("synthctx.model_io", shallow=(CLI,), folders=(f"synthctx.tasks.{t}",)) for t in TASKS}
TASK_SPEC_CODE = {t: code_digest(f"synthctx.tasks.{t}") for t in TASKS}

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


def data_slice(task):
    t = config["tasks"][task]
    keys = ("max_passage_words", "target_tokens", "max_documents", "gold_position", *tasks.get(task).config_keys)
    return {"text_package": config["text"]["package"], **{k: t[k] for k in keys}}


def real_data_slice(wc):
    return as_json({**data_slice(wc.task), "source": config["tasks"][wc.task]["real_data"]})


def real_data_files(split):
    """The official data files of a task's real split, when config points at files (else none)."""

    def files(wc):
        source = config["tasks"][wc.task]["real_data"]
        return [source[split]] if source["kind"] == "files" else []

    return files


def synthetic_slice(wc):
    """The LLM writer's section joins the slice only where it writes this variant's text (a high needle
    or haystack listed in writer.use_for), so turning it on re-runs only those variants and `backend:
    none` leaves every slice as it was. Its cache (writer.cache_dir) is not an output: like
    resources/checkpoints it survives failed jobs and is shared by all of them."""
    data = conditions.parse(wc.data)
    out = {
        **data_slice(wc.task),
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
    return as_json(config["models"][wc.model])


def section(name):
    return lambda wc: as_json(config[name])


# --- input functions ---


def train_data(wc):
    return f"results/data/{wc.task}/{wc.data}/{wc.model}/{wc.seed}/train.jsonl"


def weights(wc):
    """The fine-tuned weights of a condition (LoRA adapter or full model); the baseline has none."""
    if wc.data == conditions.NONE:
        return []
    return f"results/train/{wc.task}/{wc.data}/{wc.model}/{wc.seed}/weights"


def weights_arg(input):
    return f"--weights {input.weights}" if input.get("weights") else ""


def reference_scores(wc):
    """Head scores of the model fine-tuned on real data: the reference of every head-set comparison."""
    return f"results/heads/{wc.task}/{conditions.REAL}/{wc.model}/{wc.seed}/scores.json"


def per_condition(pattern):
    return [pattern.format(**c) for c in grid()]


FIGURES = {
    "f1": "results/figures/f1_by_condition.png",
    "heatmaps": expand("results/figures/head_scores_{kind}_{mode}.png", kind=HEAD_KINDS, mode=config["heads"]["modes"]),
    "scatter": expand("results/figures/recall_vs_f1_{mode}.png", mode=config["heads"]["modes"]),
}


def all_targets():
    return [
        "results/aggregate/conditions.csv",
        "results/aggregate/correlations.csv",
        FIGURES["f1"],
    ]
