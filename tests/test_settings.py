"""Each stage's slice parses into its typed settings at the CLI edge; schema and settings name the same keys; the
planner builds the intervention slices from the same classes the jobs parse them into."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from synthctx.plan.config import validate_config
from synthctx.plan.settings import (
    CorrelationSettings,
    EvaluateSettings,
    HeadSetSettings,
    HeadSettings,
    KnockoutRun,
    PatchingRun,
    SliceError,
    TrainSettings,
    examples_used,
    parse_slice,
)
from synthctx.plan.slices import as_json, knockout_run, patching_run
from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
SECTIONS = {
    "train": TrainSettings,
    "evaluate": EvaluateSettings,
    "heads": HeadSettings,
    "head_sets": HeadSetSettings,
    "correlation": CorrelationSettings,
}


def _default():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate_config(cfg, SCHEMA, [REPO / "config/config.yaml"])
    return cfg


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_schema_section_and_settings_have_the_same_keys(section):
    fields = {f.name for f in dataclasses.fields(SECTIONS[section])}
    assert fields == set(SCHEMA["properties"][section]["properties"]), section


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_default_slices_parse(section):
    parsed = parse_slice(SECTIONS[section], _default()[section], section)
    assert dataclasses.is_dataclass(parsed)


def test_nested_and_list_values():
    train = parse_slice(TrainSettings, _default()["train"], "train")
    assert train.lora.r == 8 and train.lora.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert train.context_extension.active() == {}
    assert train.dtype in ("float32", "bfloat16")  # auto was resolved before the slice was made


def test_a_missing_or_unknown_key_is_named():
    cfg = _default()["heads"]
    with pytest.raises(SliceError, match=r"heads: missing keys \['modes'\], unknown keys \[\]"):
        parse_slice(HeadSettings, {k: v for k, v in cfg.items() if k != "modes"}, "heads")
    with pytest.raises(SliceError, match=r"train.lora: missing keys \[\], unknown keys \['rank'\]"):
        bad = _default()["train"]
        bad["lora"]["rank"] = 4
        parse_slice(TrainSettings, bad, "train")


def test_the_intervention_slices_cover_the_schema_and_round_trip():
    """Every interventions key but the choice of conditions (data, seeds) reaches a job; the JSON slice parses
    back into the class it was built from."""
    cfg, props = _default(), SCHEMA["properties"]["interventions"]["properties"]
    # the heads' scoring settings rank the heads on the ranking part; the calibration part is reserved in both
    shared = set(props) - {"seeds", "knockout", "patching"}
    shared |= {"max_new_tokens", "argmax_over", "insight_normalization", "copy_match", "calibration_examples"}
    knockout = {f.name for f in dataclasses.fields(KnockoutRun)}
    patching = {f.name for f in dataclasses.fields(PatchingRun)}
    assert knockout == shared | set(props["knockout"]["properties"]) - {"data"}
    assert patching == shared | {"threshold", "top_k"} | set(props["patching"]["properties"]) - {"data"}
    for build, cls in ((knockout_run, KnockoutRun), (patching_run, PatchingRun)):
        built = build(cfg, "mdqa")
        assert parse_slice(cls, json.loads(as_json(built)), cls.__name__) == built


def test_the_examples_an_intervention_runs_on():
    assert examples_used(24, None) == 24 and examples_used(24, 8) == 8 and examples_used(4, 8) == 4
    parts = knockout_run(_default(), "mdqa").parts(24)  # ranking 8, measured 8, no calibration (uniform)
    assert (parts.ranking, parts.measured, parts.calibration) == (range(0, 8), range(8, 16), range(16, 16))
