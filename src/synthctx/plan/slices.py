"""The config slice each rule sees, as the JSON string it receives: each rule sees only what it depends on,
so a change to one key re-runs only the jobs that read it. Slices are rule params and go into every output's
metadata: the bytes of a slice decide whether a job re-runs.

The model stages' slices are built from their settings classes (synthctx.plan.settings), the shape the job
parses them back into. Standard library only (and the task registry): the workflow imports it while planning.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from synthctx.data import tasks
from synthctx.plan import conditions
from synthctx.plan.grid import SPLITS, hub_data_file
from synthctx.plan.settings import (
    CorrelationSettings,
    EvaluateSettings,
    HeadSetSettings,
    HeadSettings,
    KnockoutRun,
    PatchingRun,
    TrainSettings,
    parse_slice,
)

# Sections a rule receives whole, each parsed into its settings class (so planning fails where a job would).
SECTION_SETTINGS = {
    "train": TrainSettings,
    "heads": HeadSettings,
    "head_sets": HeadSetSettings,
    "correlation": CorrelationSettings,
}


def as_json(obj: Any) -> str:
    """A slice as the rules pass it: a dataclass as its fields, keys sorted."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return json.dumps(obj, sort_keys=True)


def section(config: dict[str, Any], name: str) -> str:
    """A whole config section; one with a settings class goes through it."""
    if name in SECTION_SETTINGS:
        return as_json(parse_slice(SECTION_SETTINGS[name], config[name], name))
    return as_json(config[name])


def data_slice(config: dict[str, Any], task: str, real: bool = True) -> dict[str, Any]:
    """A task's data settings; the keys only its real-data builders read join the real slices only."""
    block, spec = config["tasks"][task], tasks.get(task)
    own = [k for k in spec.config_keys if real or k not in spec.real_data_keys]
    keys = ("max_passage_words", "target_tokens", "max_documents", "gold_position", *own)
    return {"text_package": config["text"]["package"], **{k: block[k] for k in keys}}


def real_data_slice(config: dict[str, Any], task: str) -> str:
    """A hub source also names the fetched local files (`fetched`), which the data rules read offline."""
    source = dict(config["tasks"][task]["real_data"])
    if source["kind"] == "hub":
        source["fetched"] = {split: hub_data_file(task, split) for split in SPLITS}
    return as_json({**data_slice(config, task), "source": source})


def hub_fetch_slice(config: dict[str, Any], task: str, split: str) -> str:
    """What fetching one split depends on: the data set, its config and revision, and that split's name."""
    source = config["tasks"][task]["real_data"]
    return as_json(
        {
            "hub_id": source["hub_id"],
            "hub_config": source.get("hub_config"),
            "revision": source.get("revision"),
            "split": source[f"{split}_split"],
        }
    )


def writer_slice(config: dict[str, Any], task: str, data: str) -> dict[str, Any] | None:
    """The LLM writer's settings where it writes this variant's text (a high needle or haystack listed in
    writer.use_for), else None."""
    variant = conditions.parse(data)
    return tasks.writer_slice(config["writer"], task, variant.needle, variant.haystack)


def synthetic_slice(config: dict[str, Any], task: str, data: str) -> str:
    """The LLM writer's section joins the slice only where it writes this variant's text, so turning it on
    re-runs only those variants and `backend: none` leaves every slice as it was. Its cache
    (writer.cache_dir) is not an output: like resources/checkpoints it survives failed jobs and is shared."""
    variant = conditions.parse(data)
    out = {
        **data_slice(config, task, real=False),
        "needle": config["needle"][variant.needle],
        "haystack": config["haystack"][variant.haystack],
    }
    writer = writer_slice(config, task, data)
    if writer:
        out["writer"] = writer
    return as_json(out)


def model_slice(config: dict[str, Any], model: str) -> str:
    """The model spec, less `parameters` (it only sizes jobs: setting it re-prepares nothing)."""
    return as_json({k: v for k, v in config["models"][model].items() if k != "parameters"})


def evaluate_settings(config: dict[str, Any], task: str) -> EvaluateSettings:
    return EvaluateSettings(dtype=config["evaluate"]["dtype"], max_new_tokens=config["tasks"][task]["max_new_tokens"])


def calibration_reserved(config: dict[str, Any]) -> int:
    """Test examples held out for mean-knockout calibration: knockout.calibration_examples under semantics
    mean, else none."""
    knockout = config["interventions"]["knockout"]
    return knockout["calibration_examples"] if knockout["semantics"] == "mean" else 0


def _intervention_common(config: dict[str, Any], task: str) -> dict[str, Any]:
    """The keys every intervention job reads: the held-out parts of the test split and the head-scoring
    settings it ranks the heads with, on its ranking part."""
    section, heads = config["interventions"], config["heads"]
    return {
        "dtype": section["dtype"],
        "ranking_examples": section["ranking_examples"],
        "n_examples": section["n_examples"],
        "calibration_examples": calibration_reserved(config),
        "ranked_by": section["ranked_by"],
        "argmax_over": heads["argmax_over"],
        "insight_normalization": heads["insight_normalization"],
        "copy_match": heads["copy_match"],
        "head_kinds": tuple(section["head_kinds"]),
        "max_new_tokens": config["tasks"][task]["max_new_tokens"],
    }


def knockout_run(config: dict[str, Any], task: str) -> KnockoutRun:
    """The knockout settings less the choice of conditions (that decides which jobs exist, not their results)."""
    own = config["interventions"]["knockout"]
    return KnockoutRun(
        **_intervention_common(config, task),
        semantics=own["semantics"],
        scope=own["scope"],
        k=tuple(own["k"]),
        random_draws=own["random_draws"],
        exclude_top=own["exclude_top"],
    )


def patching_run(config: dict[str, Any], task: str) -> PatchingRun:
    """The patching settings and the head-set rule's setting that picks the heads."""
    own = config["interventions"]["patching"]
    return PatchingRun(
        **_intervention_common(config, task),
        set_rule=own["set_rule"],
        threshold=config["head_sets"]["threshold"],
        top_k=config["head_sets"]["top_k"],
        random_draws=own["random_draws"],
    )
