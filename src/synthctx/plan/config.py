"""The one config pass, run before any job is planned: JSON-schema validation with messages that name the
key, the file and the line; the schema's defaults filled in; keys that default to another key resolved;
`dtype: auto` resolved for this machine; and every cross-field check, once. Rules then read only
complete, checked values."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from synthctx.data import tasks
from synthctx.plan.hardware import resolve_dtype
from synthctx.plan.settings import KnockoutRun, SliceError, intervention_parts

# Stage sections whose `dtype` may be `auto`; resolved once here, so it is in every slice and output.
DTYPE_SECTIONS = ("train", "evaluate", "heads", "interventions")
AUTO_DTYPES = ("float32", "bfloat16")  # what `auto` can stand for
# Task keys that default to a key of another section when a task does not set them.
TASK_KEY_DEFAULTS = {
    "max_passage_words": ("text", "max_passage_words"),
    "max_new_tokens": ("evaluate", "max_new_tokens"),
}


class ConfigError(ValueError):
    pass


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the deepest node along `path` in a composed YAML document."""
    line = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(key):  # the last one: a duplicated key's value is its last
                    line, nxt = k.start_mark.line + 1, v
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def locate(config_files: list[Path], path: list[Any]) -> str:
    """'file:line' of the last config file that sets `path` (later files override earlier ones)."""
    for f in reversed(config_files):
        try:
            root = yaml.compose(Path(f).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        line = _line_of(root, path)
        if line is not None and (len(path) <= 1 or _line_of(root, path[:1]) is not None):
            return f"{f}:{line}"
    return str(config_files[-1]) if config_files else "<config>"


def _explain(err: ValidationError) -> tuple[list[Any], str]:
    if err.context:
        err = best_match(err.context)
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            return path + [extra[0]], f"unknown key {'.'.join(map(str, path + [extra[0]]))!r}"
    if err.validator == "unevaluatedProperties" and isinstance(err.instance, dict):
        extra = sorted(k for k in err.instance if repr(k) in err.message)
        if extra:
            return path + [extra[0]], f"unknown key {'.'.join(map(str, path + [extra[0]]))!r}"
    key = ".".join(map(str, path)) or "<top level>"
    return path, f"key {key!r}: {err.message}"


def _filling_defaults(cls):
    """A validator class that also writes each property's schema `default` into the instance."""
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(cls, {"properties": properties})


DefaultingValidator = _filling_defaults(Draft202012Validator)


def _cross_field_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Constraints between keys that a JSON schema cannot state (each one here and nowhere else)."""
    problems = []
    for axis, table in (("tasks", "tasks"), ("models", "models")):
        for i, name in enumerate(config["grid"][axis]):
            if name not in config[table]:
                problems.append(
                    f"{locate(config_files, ['grid', axis, i])}: key 'grid.{axis}[{i}]': "
                    f"{name!r} is not defined under '{table}'"
                )
    for name, task in config["tasks"].items():
        if task["n_train"] > task["n_train_real"]:
            problems.append(
                f"{locate(config_files, ['tasks', name, 'n_train'])}: key 'tasks.{name}.n_train': "
                f"{task['n_train']} is more than n_train_real ({task['n_train_real']}): real (limited) "
                f"is a cut of the real training set"
            )
        position = task["gold_position"]
        if isinstance(position, int) and position >= task["max_documents"]:
            problems.append(
                f"{locate(config_files, ['tasks', name, 'gold_position'])}: key 'tasks.{name}.gold_position': "
                f"index {position} is beyond the last of at most {task['max_documents']} documents (max_documents; "
                f"indices count from 0)"
            )
        for key, why in tasks.get(name).check_config(task):
            problems.append(f"{locate(config_files, ['tasks', name, key])}: key 'tasks.{name}.{key}': {why}")
    return (
        problems
        + _intervention_problems(config, config_files)
        + _head_count_problems(config, config_files)
        + _model_problems(config, config_files)
        + _writer_problems(config, config_files)
    )


def _installed(package: str) -> bool:
    """Whether a Python package is installed, found without importing it (no torch while planning)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or an empty name
        return False


def _model_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Models of the grid that no job could build: a random_init architecture whose heads do not divide its
    width (or whose query heads are not whole groups of key/value heads), or a package the model's weights or
    tokenizer are read from that is not installed."""
    problems = []

    def problem(path: list[Any], why: str) -> None:
        problems.append(f"{locate(config_files, path)}: key '{'.'.join(map(str, path))}': {why}")

    for name in config["grid"]["models"]:
        spec = config["models"].get(name, {})
        packages = [(["package"], spec.get("package"))] if spec.get("source") == "gguf_package" else []
        packages += [(["tokenizer", "package"], (spec.get("tokenizer") or {}).get("package"))]
        for key, package in packages:
            if package and not _installed(package):
                problem(["models", name, *key], f"Python package {package!r} is not installed (see README: make setup)")
        arch = spec.get("architecture") if spec.get("source") == "random_init" else None
        if not arch:
            continue
        where = ["models", name, "architecture"]
        heads, kv_heads = arch["num_attention_heads"], arch["num_key_value_heads"]
        if "head_dim" not in arch and arch["hidden_size"] % heads:
            problem(
                [*where, "hidden_size"],
                f"{arch['hidden_size']} is not divisible by num_attention_heads ({heads}): each head would get a "
                f"fraction of the width (or set head_dim)",
            )
        if heads % kv_heads:
            problem(
                [*where, "num_attention_heads"],
                f"{heads} is not divisible by num_key_value_heads ({kv_heads}): query heads share key/value heads "
                f"in whole groups",
            )
    return problems


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _writer_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """The LLM writer's endpoint carries the API key: https unless the server is on this machine, and no
    credentials in the URL itself (it is copied into every synthetic set's metadata)."""
    from urllib.parse import urlsplit

    url = config.get("writer", {}).get("base_url")
    if not url:
        return []
    where = f"{locate(config_files, ['writer', 'base_url'])}: key 'writer.base_url'"
    parts, problems = urlsplit(url), []
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        problems.append(
            f"{where}: plain http to {parts.hostname} would send the API key in clear; use https (http is "
            f"accepted for a server on this machine: {', '.join(LOOPBACK_HOSTS)})"
        )
    if parts.query or parts.username or parts.password:
        problems.append(
            f"{where}: a query string or user:password in the URL would be stored in metadata; give the key "
            f"through writer.api_key_env (the name of an environment variable)"
        )
    return problems


def _head_count(spec: dict[str, Any], prepared: Path) -> int | None:
    """Attention heads of a model (layers x query heads) where planning can know them: a random model's
    architecture, or a prepared model's config.json; None otherwise (a hub or GGUF model not yet prepared)."""
    arch = spec.get("architecture")
    if arch is None and (prepared / "config.json").is_file():
        try:
            arch = json.loads((prepared / "config.json").read_text())
        except ValueError:
            return None
        arch = arch.get("text_config", arch)
    try:
        return int(arch["num_hidden_layers"]) * int(arch["num_attention_heads"])
    except (TypeError, KeyError, ValueError):
        return None


def _head_count_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Head counts a model cannot honour: more top-k heads than it has, or knockout controls that need more
    heads than exist (the top k, plus the excluded top heads the random controls must avoid)."""
    problems = []
    knockout = config["interventions"]["knockout"]
    for name in config["grid"]["models"]:
        heads = _head_count(config["models"].get(name, {}), Path("resources/models") / name)
        if heads is None:
            continue
        largest_k = max(KnockoutRun.resolve_k(item, heads) for item in knockout["k"])  # fractions of this model
        asks = [
            (["head_sets", "top_k"], config["head_sets"]["top_k"], "head_sets.top_k"),
            (["interventions", "knockout", "k"], largest_k, "the largest interventions.knockout.k"),
            (
                ["interventions", "knockout", "exclude_top"],
                knockout["exclude_top"] + largest_k,
                "interventions.knockout.exclude_top + the largest k (random controls avoid the top heads)",
            ),
        ]
        for path, needed, what in asks:
            if needed > heads:
                key = ".".join(path)
                problems.append(
                    f"{locate(config_files, path)}: key '{key}': {what} is {needed}, but model {name!r} has "
                    f"only {heads} attention heads"
                )
    return problems


def _intervention_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Interventions reuse the grid's seeds and the head scores' modes; matched random heads need room."""
    cfg, problems = config["interventions"], []

    def problem(path: list[Any], why: str) -> None:
        key = ".".join(str(p) for p in path)
        problems.append(f"{locate(config_files, path)}: key '{key}': {why}")

    for i, seed in enumerate(cfg["seeds"]):
        if seed not in config["grid"]["seeds"]:
            problem(["interventions", "seeds", i], f"seed {seed} is not in grid.seeds {config['grid']['seeds']}")
    if cfg["ranked_by"] not in config["heads"]["modes"]:
        problem(
            ["interventions", "ranked_by"], f"{cfg['ranked_by']!r} is not among heads.modes {config['heads']['modes']}"
        )
    counts = [k for k in cfg["knockout"]["k"] if k >= 1]  # fractions depend on the model: checked per model above
    if counts and cfg["knockout"]["exclude_top"] < max(counts):
        problem(
            ["interventions", "knockout", "exclude_top"],
            f"{cfg['knockout']['exclude_top']} is less than the largest k ({max(counts)}): matched random heads "
            f"could be top-k heads",
        )
    return problems + _held_out_problems(config, config_files)


def _held_out_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Each task of the grid that interventions run on must hold the ranking, measured and (mean knockout)
    calibration parts of its real test split, disjoint (synthctx.plan.settings.intervention_parts)."""
    cfg = config["interventions"]
    if not (cfg["knockout"]["data"] or cfg["patching"]["data"]):
        return []
    calibration = cfg["knockout"]["calibration_examples"] if cfg["knockout"]["semantics"] == "mean" else 0
    problems = []
    for task in config["grid"]["tasks"]:
        if task not in config["tasks"]:
            continue  # reported above
        n_test = config["tasks"][task]["n_test"]
        try:
            intervention_parts(n_test, cfg["ranking_examples"], cfg["n_examples"], calibration)
        except SliceError as err:
            where = locate(config_files, ["tasks", task, "n_test"])
            problems.append(f"{where}: key 'tasks.{task}.n_test': {str(err).replace('<task>', task)}")
    return problems


def _resolve(config: dict[str, Any], auto_dtype: str | None) -> None:
    """Keys whose default is another key's value, and `dtype: auto` (`auto_dtype` when given, else this
    machine's native type)."""
    for task in config["tasks"].values():
        for key, (section, source) in TASK_KEY_DEFAULTS.items():
            task.setdefault(key, config[section][source])
    for section in DTYPE_SECTIONS:
        dtype = config[section]["dtype"]
        config[section]["dtype"] = auto_dtype if dtype == "auto" and auto_dtype else resolve_dtype(dtype)


def _duplicate_keys(config_files: list[Path]) -> list[str]:
    """Keys set twice in one mapping of a config file: YAML keeps the last silently, which hides an edit."""
    problems = []

    def walk(node: yaml.Node, path: list[str], where: Path) -> None:
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in node.value:
                line = k.start_mark.line + 1
                if k.value in first:
                    key = ".".join([*path, str(k.value)])
                    problems.append(f"{where}:{line}: key '{key}' is set twice (first at line {first[k.value]})")
                first.setdefault(k.value, line)
                walk(v, [*path, str(k.value)], where)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, [*path, str(i)], where)

    for f in config_files:
        try:
            root = yaml.compose(Path(f).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # unreadable or not YAML: Snakemake has already said so
        if root is not None:
            walk(root, [], Path(f))
    return problems


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    """Snakemake's rule for a later config file: mappings merge key by key, anything else replaces."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def load_config_files(config_files: list[Path]) -> dict[str, Any]:
    """The configuration Snakemake would build from these files, in order; a file that is not valid YAML is
    named with its line and column (Snakemake's own message names neither)."""
    merged: dict[str, Any] = {}
    for path in config_files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must hold keys at the top level (a YAML mapping)")
        _merge(merged, data)
    return merged


def validate_config(
    config: dict[str, Any], schema: dict[str, Any], config_files: list[Path], auto_dtype: str | None = None
) -> None:
    """Validate `config` in place (defaults filled, derived keys and dtype resolved); raise ConfigError listing
    every problem as 'file:line: key ...: message'.

    `auto_dtype` is what `dtype: auto` becomes: the planning machine's answer, handed by the workflow to jobs
    that re-read the config on other hardware (a cluster node); None resolves it on this machine."""
    if auto_dtype is not None and auto_dtype not in AUTO_DTYPES:
        raise ConfigError(f"dtype auto resolved to {auto_dtype!r}: expected one of {', '.join(AUTO_DTYPES)}")
    problems = _duplicate_keys(config_files)
    errors = DefaultingValidator(schema).iter_errors(config)
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path, message = _explain(err)
        problems.append(f"{locate(config_files, path)}: {message}")
    if not problems:
        problems += _cross_field_problems(config, config_files)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    _resolve(config, auto_dtype)
