"""The prologue every model job shares: its settings slice parsed, torch's threads set, the model and tokenizer
loaded, and the stamp (condition, dtype, weights) its results carry."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, TypeVar

from synthctx.jobs.outputs import set_threads
from synthctx.plan.settings import parse_slice

T = TypeVar("T")


def condition(a: argparse.Namespace) -> dict[str, Any]:
    """The condition a job runs for, as its command line names it."""
    return {"task": a.task, "data": a.data, "model": a.model, "seed": a.seed}


def job_settings(a: argparse.Namespace, settings_class: type[T], where: str) -> T:
    """The job's settings from its config slice, with torch's threads set as the rule's `threads:` says."""
    settings = parse_slice(settings_class, a.config, where)
    set_threads(a.threads)
    return settings


@dataclass(frozen=True)
class LoadedModel:
    """A condition's model (base plus its fine-tuned weights, if any) and the base model's tokenizer."""

    model: Any
    tokenizer: Any


def load_condition_model(a: argparse.Namespace, dtype: str) -> LoadedModel:
    """The base model of `--model-dir` with `--weights` applied, at `dtype`."""
    from synthctx.models.model_io import load_model, load_tokenizer

    return LoadedModel(load_model(a.model_dir, dtype, a.weights), load_tokenizer(a.model_dir))


def condition_stamp(a: argparse.Namespace, dtype: str) -> dict[str, Any]:
    """What every model job's result says about how it was made: the condition, the dtype, the weights."""
    from synthctx.models.model_io import describe_weights

    return {"condition": condition(a), "dtype": dtype, "weights": describe_weights(a.weights, dtype)}
