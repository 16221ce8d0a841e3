# The grid, wildcard constraints, config slices handed to rules, input functions and code digests.
# Other rule files hold only rules.

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from synthctx.code_digest import code_digest  # noqa: E402  (stdlib only: keeps the scheduler light)
from synthctx.config_check import check_config  # noqa: E402
from synthctx.data.tasks import INSIGHT_TASKS, TASK_KEYS, writer_slice  # noqa: E402  (stdlib only, like the two above)
from synthctx.job_environment import prepare_job_environment  # noqa: E402

from snakemake.utils import validate


SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# Files in order of precedence: the Snakefile's configfile, then --configfile ones (they override it).
_cli_configfiles = [Path(f) for f in workflow.overwrite_configfiles or []]
_configfiles = [Path(f) for f in workflow.configfiles if Path(f) not in _cli_configfiles] + _cli_configfiles
check_config(config, yaml.safe_load(SCHEMA.read_text()), _configfiles)
validate(config, str(SCHEMA))

# Every rule runs `python -m synthctx` from this checkout's src/ with the scheduler's interpreter.
prepare_job_environment(Path(workflow.basedir))
LEVELS = ["high", "low", "symbolic"]
TASKS = config["grid"]["tasks"]
MODELS = config["grid"]["models"]
SEEDS = [str(s) for s in config["grid"]["seeds"]]


def conditions(task):
    """(needle, haystack) pairs of a task: real data, the synthetic variants, the baseline."""
    t = config["tasks"][task]
    out = [("real", "real")] if t["real"] else []
    out += [("real", "limited")] if t["real_limited"] else []
    out += [tuple(v) for v in t["variants"]]
    if t["baseline"]:
        out.append(("base", "base"))
    return out


def grid():
    """Every condition as a wildcards dict."""
    return [
        dict(task=task, needle=n, haystack=h, model=m, seed=s)
        for task in TASKS
        for n, h in conditions(task)
        for m in MODELS
        for s in SEEDS
    ]


def _alternatives(values):
    return "|".join(sorted(set(values)))


wildcard_constraints:
    task=_alternatives(TASKS),
    needle=_alternatives(["real", "base"] + LEVELS),
    haystack=_alternatives(["real", "limited", "base"] + LEVELS),
    model=_alternatives(MODELS),
    seed=_alternatives(SEEDS),


COND = "{task}/{needle}/{haystack}/{model}/{seed}"

# Each task's own data settings and data code: a change to one task re-runs only that task's data.
TASK_DATA_CODE = {
    "mdqa": code_digest("synthctx.data.real_mdqa", "synthctx.data.mdqa_files", "synthctx.data.synthetic",
                        "synthctx.model_io", shallow=("synthctx.data.tasks",)),
    "musique": code_digest("synthctx.data.musique", "synthctx.model_io", shallow=("synthctx.data.tasks",)),
    "summhay": code_digest("synthctx.data.summhay", "synthctx.model_io", shallow=("synthctx.data.tasks",)),
}


# Retrieval heads for every task; insight heads where the task has insights (MuSiQue bridges, SummHay insights).
HEAD_KINDS = ["retrieval"] + (["insight"] if set(TASKS) & set(INSIGHT_TASKS) else [])


def data_code(wc):
    return TASK_DATA_CODE[wc.task]


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


# --- config slices: each rule sees only what it depends on, so one change re-runs only its branch ---


def data_slice(task):
    t = config["tasks"][task]
    return {
        "text_package": config["text"]["package"],
        "max_passage_words": t.get("max_passage_words", config["text"]["max_passage_words"]),
        **{k: t[k] for k in ("target_tokens", "max_documents", "gold_position", *TASK_KEYS[task]) if k in t},
    }


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
    out = {
        **data_slice(wc.task),
        "needle": config["needle"][wc.needle],
        "haystack": config["haystack"][wc.haystack],
    }
    writer = writer_slice(config["writer"], wc.task, wc.needle, wc.haystack)
    if writer:
        out["writer"] = writer
    return as_json(out)


def evaluate_slice(wc):
    t = config["tasks"][wc.task]
    return as_json({**config["evaluate"], "max_new_tokens": t.get("max_new_tokens", config["evaluate"]["max_new_tokens"])})


def model_slice(wc):
    return as_json(config["models"][wc.model])


def section(name):
    return lambda wc: as_json(config[name])


# --- input functions ---


def train_data(wc):
    return f"results/data/{wc.task}/{wc.needle}/{wc.haystack}/{wc.model}/{wc.seed}/train.jsonl"


def weights(wc):
    """The fine-tuned weights of a condition (LoRA adapter or full model); the baseline has none."""
    if wc.needle == "base":
        return []
    return f"results/train/{wc.task}/{wc.needle}/{wc.haystack}/{wc.model}/{wc.seed}/weights"


def weights_arg(input):
    return f"--weights {input.weights}" if input.get("weights") else ""


def reference_scores(wc):
    """Head scores of the model fine-tuned on real data: the reference of every head-set comparison."""
    return f"results/heads/{wc.task}/real/real/{wc.model}/{wc.seed}/scores.json"


def per_condition(pattern):
    return [pattern.format(**c) for c in grid()]


def all_targets():
    return [
        "results/aggregate/conditions.csv",
        "results/aggregate/correlations.csv",
        "results/figures/f1_by_condition.png",
    ]
