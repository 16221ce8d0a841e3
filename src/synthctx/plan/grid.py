"""Which jobs a validated config plans: the grid of conditions, the wildcard alternatives, the conditions that
get each intervention, the head kinds, and the warnings said once when the run is planned.

A condition is a dict of the four wildcards (task, data, model, seed), as the rules' paths name them.
Standard library only (and the task registry): the workflow imports it while planning.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthctx.data import tasks
from synthctx.plan import conditions

Condition = dict[str, str]
SPLITS = ("train", "test")
MODEL_STAGES = ("fine_tune", "evaluate", "score_heads", "knockout", "patch")


def seeds(config: dict[str, Any]) -> list[str]:
    """The grid's seeds as wildcard values (strings)."""
    return [str(s) for s in config["grid"]["seeds"]]


def grid(config: dict[str, Any]) -> list[Condition]:
    """Every condition: task x training data x model x seed, in the order the tables list them."""
    return [
        {"task": task, "data": data, "model": model, "seed": seed}
        for task in config["grid"]["tasks"]
        for data in conditions.training_data(config["tasks"][task])
        for model in config["grid"]["models"]
        for seed in seeds(config)
    ]


def alternatives(values: Iterable[str]) -> str:
    """A wildcard constraint that accepts exactly `values`."""
    return "|".join(sorted(set(values)))


def wildcard_constraints(config: dict[str, Any]) -> dict[str, str]:
    return {
        "task": alternatives(config["grid"]["tasks"]),
        "data": alternatives(conditions.all_names()),
        "model": alternatives(config["grid"]["models"]),
        "seed": alternatives(seeds(config)),
    }


def synthetic_names() -> list[str]:
    """Every synthetic training-data name (the synthetic data rule's `data` alternatives)."""
    return [conditions.synthetic(n, h) for n in conditions.LEVELS for h in conditions.LEVELS]


def intervention_conditions(config: dict[str, Any], experiment: str) -> list[Condition]:
    """The conditions that get `experiment` (knockout or patching): data kinds and seeds from config."""
    section = config["interventions"]
    kinds = section[experiment]["data"]
    chosen_seeds = {str(s) for s in section["seeds"]}
    return [c for c in grid(config) if conditions.parse(c["data"]).kind in kinds and c["seed"] in chosen_seeds]


def reference_conditions(config: dict[str, Any]) -> list[Condition]:
    """The real-data model of every task, model and seed: head_sets and patch read its scores and weights, so
    it is trained, evaluated and scored even where `real: false` leaves it out of the grid."""
    return [
        {"task": t, "data": conditions.REAL, "model": m, "seed": s}
        for t in config["grid"]["tasks"]
        for m in config["grid"]["models"]
        for s in seeds(config)
    ]


def model_stage_conditions(config: dict[str, Any]) -> dict[str, list[Condition]]:
    """The conditions each model rule runs (the jobs a dry run plans for it). fine_tune skips the baseline."""
    table = grid(config)
    scored = table + [c for c in reference_conditions(config) if c not in table]
    return {
        "fine_tune": [c for c in scored if c["data"] != conditions.NONE],
        "evaluate": scored,
        "score_heads": scored,
        "knockout": intervention_conditions(config, "knockout"),
        "patch": intervention_conditions(config, "patching"),
    }


def head_kinds(config: dict[str, Any]) -> list[str]:
    """Retrieval heads for every task; insight heads where a task's records carry insight spans."""
    insights = any(tasks.get(t).has_insights for t in config["grid"]["tasks"])
    return ["retrieval"] + (["insight"] if insights else [])


def n_head_kinds(config: dict[str, Any], task: str) -> int:
    """The intervention head kinds a task has (insight heads only where its records carry insight spans)."""
    kinds = config["interventions"]["head_kinds"]
    return len([k for k in kinds if k == "retrieval" or tasks.get(task).has_insights])


def hub_data_file(task: str, split: str) -> str:
    """Where the local rule fetch_hub_data writes one split of a task's hub data set."""
    return f"resources/data/{task}/hub/{split}.jsonl.gz"


def real_data_files(config: dict[str, Any], task: str) -> list[str]:
    """The files a task's real splits are read from: both splits' official files (a loader reads the other
    split too, to keep train and test apart) and any files its task keys list, or the fetched hub splits."""
    block = config["tasks"][task]
    source = block["real_data"]
    if source["kind"] == "hub":
        return [hub_data_file(task, s) for s in SPLITS]
    if source["kind"] != "files":
        return []
    listed = [f for key in tasks.get(task).input_file_keys for f in block[key]]
    return sorted({source[s] for s in SPLITS} | set(listed))


def _model_warnings(name: str, spec: dict[str, Any]) -> list[str]:
    if spec["source"] != "hub":
        return []
    found = []
    if not spec.get("revision"):
        found.append(
            f"models.{name}.revision is not set: prepare_model takes {spec['repo_id']} at the hub's current "
            f"main (the commit it got is recorded in resources/models/{name}/model.safetensors.meta.json)"
        )
    if not spec.get("parameters"):
        found.append(
            f"models.{name}.parameters is not set: fine_tune, evaluate and score_heads request fixed "
            f"host memory and wall time instead of sizes from the model"
        )
    return found


def planning_warnings(config: dict[str, Any]) -> list[str]:
    """Unpinned hub sources and hub models of unknown size, said once when the run is planned."""
    found = [w for name in config["grid"]["models"] for w in _model_warnings(name, config["models"][name])]
    for task in config["grid"]["tasks"]:
        source = config["tasks"][task]["real_data"]
        if source["kind"] == "hub" and not source.get("revision") and not Path(source["hub_id"]).exists():
            found.append(
                f"tasks.{task}.real_data.revision is not set: fetch_hub_data takes {source['hub_id']} at the "
                f"hub's current main (the commit it got is recorded in {hub_data_file(task, '<split>')}.meta.json)"
            )
    return found


def planned_jobs(config: dict[str, Any]) -> dict[str, int]:
    """Jobs per rule that the default target plans in an empty folder (what `snakemake -n` counts)."""
    table, stages = grid(config), model_stage_conditions(config)
    kinds = [conditions.parse(c["data"]).kind for c in table]
    hub_tasks = [t for t in config["grid"]["tasks"] if config["tasks"][t]["real_data"]["kind"] == "hub"]
    per_model = len(config["grid"]["models"])
    counts = {
        "prepare_model": per_model,
        "fetch_hub_data": len(hub_tasks) * len(SPLITS),
        "real_test_data": len(config["grid"]["tasks"]) * per_model,
        "real_train_data": len(reference_conditions(config)),
        "real_limited_train_data": kinds.count(conditions.REAL_LIMITED),
        "synthetic_train_data": kinds.count("synthetic"),
        **{stage: len(conds) for stage, conds in stages.items()},
        "head_sets": len(table),
        **dict.fromkeys(("aggregate", "correlate", "intervention_tables", "figures", "claims", "all"), 1),
    }
    return {rule: n for rule, n in counts.items() if n}
