"""Each stage's slice parses into its typed settings at the CLI edge; schema and settings name the same keys."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from synthctx.plan.config import validate_config
from synthctx.plan.settings import (
    CorrelationSettings,
    EvaluateSettings,
    HeadSetSettings,
    HeadSettings,
    InterventionSettings,
    SliceError,
    TrainSettings,
    parse_slice,
)
from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
SECTIONS = {
    "train": TrainSettings,
    "evaluate": EvaluateSettings,
    "heads": HeadSettings,
    "head_sets": HeadSetSettings,
    "correlation": CorrelationSettings,
    "interventions": InterventionSettings,
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
