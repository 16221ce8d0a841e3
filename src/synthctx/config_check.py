"""Config validation with messages that name the key, the file and the line, before any job is planned."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match


class ConfigError(ValueError):
    pass


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the deepest node along `path` in a composed YAML document."""
    line = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(key):
                    line, nxt = k.start_mark.line + 1, v
                    break
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


def _cross_field_problems(config: dict[str, Any], config_files: list[Path]) -> list[str]:
    """Constraints between keys that a JSON schema cannot state."""
    problems = []
    for name, task in config["tasks"].items():
        if task["n_train"] > task["n_train_real"]:
            problems.append(f"{locate(config_files, ['tasks', name, 'n_train'])}: key 'tasks.{name}.n_train': "
                            f"{task['n_train']} is more than n_train_real ({task['n_train_real']}): real (limited) "
                            f"is a cut of the real training set")
        if "min_gold" in task and not task["min_gold"] <= task["max_gold"] <= task["max_documents"]:
            problems.append(f"{locate(config_files, ['tasks', name, 'max_gold'])}: key 'tasks.{name}.max_gold': "
                            f"need min_gold ({task['min_gold']}) <= max_gold ({task['max_gold']}) <= "
                            f"max_documents ({task['max_documents']})")
    return problems


def check_config(config: dict[str, Any], schema: dict[str, Any], config_files: list[Path]) -> None:
    """Raise ConfigError listing every problem as 'file:line: key ...: message'."""
    problems = []
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        path, message = _explain(err)
        problems.append(f"{locate(config_files, path)}: {message}")
    if not problems:
        for axis, table in (("tasks", "tasks"), ("models", "models")):
            for i, name in enumerate(config["grid"][axis]):
                if name not in config[table]:
                    problems.append(f"{locate(config_files, ['grid', axis, i])}: key 'grid.{axis}[{i}]': "
                                    f"{name!r} is not defined under '{table}'")
    if not problems:
        problems += _cross_field_problems(config, config_files)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
