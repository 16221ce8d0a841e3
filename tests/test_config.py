"""Bad configuration fails before anything is planned, naming the key, the file and the line."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synthctx.config_check import ConfigError, check_config
from workflow_helpers import REPO, copy_workflow, snakemake

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = REPO / "config/config.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_embedded_default_and_the_tiny_fixture_are_valid():
    check_config(load(DEFAULT), SCHEMA, [DEFAULT])
    merged = load(DEFAULT)
    merged.update(load(REPO / "tests/fixtures/tiny.yaml"))
    merged["models"] = {**load(DEFAULT)["models"], **merged["models"]}
    check_config(merged, SCHEMA, [DEFAULT])


def _with(tmp_path: Path, text_edit) -> tuple[dict, Path]:
    path = tmp_path / "config.yaml"
    path.write_text(text_edit(DEFAULT.read_text()))
    return load(path), path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_key_is_named_with_file_and_line(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("  max_steps: 20", "  max_step: 20"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "unknown key 'train.max_step'" in msg
    assert f"{path}:{_line_of(path, 'max_step:')}" in msg


def test_ill_typed_key_is_named_with_file_and_line(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("    n_test: 24", "    n_test: many"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "'tasks.mdqa.n_test'" in msg and "'many' is not of type 'integer'" in msg
    assert f"{path}:{_line_of(path, 'n_test:')}" in msg


def test_bad_realism_level_and_undefined_model(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("      - [low, low]", "      - [low, medium]"))
    with pytest.raises(ConfigError, match=r"tasks\.mdqa\.variants\.3\.1"):
        check_config(cfg, SCHEMA, [path])
    cfg, path = _with(tmp_path, lambda t: t.replace("models: [smollm2-135m]", "models: [llama-3-8b]"))
    with pytest.raises(ConfigError, match=r"grid\.models\[0\].*'llama-3-8b' is not defined under 'models'"):
        check_config(cfg, SCHEMA, [path])


def test_snakemake_refuses_a_bad_config_before_planning_and_writes_nothing(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: fast\n")
    run = snakemake(work, "-n", "--configfile", str(bad), timeout=120)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert f"{bad}:2: key 'train.learning_rate'" in out
    assert "Building DAG" not in out
    assert not (work / "results").exists() and not (work / "resources").exists()


def test_a_task_only_takes_its_own_keys(tmp_path):
    """MuSiQue's `hops` under MDQA is an unknown key, named with its line; MuSiQue without it fails too."""
    cfg, path = _with(tmp_path, lambda t: t.replace("    n_train_real: 48 ", "    hops: 2\n    n_train_real: 48 ", 1))
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "unknown key 'tasks.mdqa.hops'" in msg
    assert f"{path}:{_line_of(path, 'hops: 2')}" in msg
    cfg, path = _with(tmp_path, lambda t: t.replace("    hops: 2 ", "    # hops: 2 "))
    with pytest.raises(ConfigError, match=r"'tasks.musique'.*'hops' is a required property"):
        check_config(cfg, SCHEMA, [path])
    cfg, path = _with(tmp_path, lambda t: t.replace("    max_gold: 3", "    max_gold: 0"))
    with pytest.raises(ConfigError, match=r"'tasks.summhay.max_gold'"):
        check_config(cfg, SCHEMA, [path])


def test_constraints_between_keys(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("    min_gold: 2 ", "    min_gold: 4 "))
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA, [path])
    assert f"{path}:{_line_of(path, 'max_gold:')}: key 'tasks.summhay.max_gold': need min_gold (4)" in str(err.value)
    cfg, path = _with(tmp_path, lambda t: t.replace("    n_train: 24 ", "    n_train: 96 ", 1))
    with pytest.raises(ConfigError, match=r"'tasks.mdqa.n_train': 96 is more than n_train_real \(48\)"):
        check_config(cfg, SCHEMA, [path])
