"""Each stage's config slice as a typed, frozen object: the planner builds the slice from it
(synthctx.plan.slices), so its shape is written once, and the job parses it back at its edge: a slice that
lacks a key or carries one the stage does not know fails there, naming it, before any model is loaded.
Standard library only: the workflow imports it while planning."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class SliceError(ValueError):
    pass


def parse_slice(cls: type[T], data: dict[str, Any], where: str) -> T:
    """`data` (a JSON slice) as `cls`; nested dataclass fields are parsed the same way, lists become tuples."""
    if not isinstance(data, dict):
        raise SliceError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in data]
    unknown = sorted(k for k in data if k not in names)
    if missing or unknown:
        raise SliceError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    values = {}
    for name in names:
        value, hint = data[name], hints[name]
        if dataclasses.is_dataclass(hint):
            value = parse_slice(hint, value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)


@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class ContextExtension:
    rope_theta: float | None
    max_position_embeddings: int | None

    def active(self) -> dict[str, Any]:
        """The settings that change the model (null keeps the model's own)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class TrainSettings:
    method: str
    dtype: str
    attn_implementation: str
    lora: LoraSettings
    context_extension: ContextExtension
    learning_rate: float
    max_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    warmup_steps: int
    log_every: int
    checkpoint_every: int
    snapshot_every: int | None
    max_length: int
    gradient_checkpointing: bool


@dataclass(frozen=True)
class EvaluateSettings:
    dtype: str
    max_new_tokens: int


@dataclass(frozen=True)
class HeadSettings:
    dtype: str
    modes: tuple[str, ...]
    argmax_over: str
    insight_normalization: str
    copy_match: str
    snapshot_examples: int | None


@dataclass(frozen=True)
class HeadSetSettings:
    threshold: float
    top_k: int


@dataclass(frozen=True)
class CorrelationSettings:
    n_bootstrap: int
    n_permutations: int
    confidence: float
    seed: int
    include_baseline: bool


def examples_used(n_available: int, n_examples: int | None) -> int:
    """How many test examples `n_examples` asks for out of `n_available` (all when None); the held-out parts
    of an intervention are cut by intervention_parts."""
    return n_available if n_examples is None else min(n_available, n_examples)


PARTS_KEYS = (
    "interventions.ranking_examples + interventions.n_examples + interventions.knockout.calibration_examples "
    "(calibration counted under knockout.semantics mean only)"
)


@dataclass(frozen=True)
class ExampleParts:
    """Three disjoint, consecutive cuts of the real test split, in file order: the heads are ranked on the
    first, measured on the second, and mean-knockout calibration reads the third, so no example that chose
    the heads (or calibrated the means) also tests them."""

    ranking: range
    measured: range
    calibration: range


def intervention_parts(n_test: int, ranking: int, n_examples: int | None, calibration: int) -> ExampleParts:
    """Split `n_test` records into ranking, measured and calibration parts; `n_examples` None measures every
    record between the other two. Refuses (SliceError naming the keys) a split too short for all three."""
    measured = n_test - ranking - calibration if n_examples is None else n_examples
    if ranking < 1 or measured < 1 or ranking + measured + calibration > n_test:
        asked = f"{ranking} + {'the rest' if n_examples is None else n_examples} + {calibration}"
        raise SliceError(
            f"tasks.<task>.n_test ({n_test}) cannot hold {PARTS_KEYS} = {asked} disjoint real test examples "
            f"(at least one ranking and one measured example)"
        )
    end = ranking + measured
    return ExampleParts(range(0, ranking), range(ranking, end), range(end, end + calibration))


@dataclass(frozen=True)
class InterventionRun:
    """What every intervention job depends on: the shared interventions keys, the held-out parts of the test
    split (`calibration_examples`: the mean-knockout calibration part, 0 under other semantics, reserved in
    patching's split too so that both measure the same examples), the head-scoring settings the job ranks
    heads with, and the task's answer length."""

    dtype: str
    ranking_examples: int
    n_examples: int | None
    calibration_examples: int
    ranked_by: str
    argmax_over: str
    insight_normalization: str
    copy_match: str
    head_kinds: tuple[str, ...]
    max_new_tokens: int

    def parts(self, n_available: int) -> ExampleParts:
        return intervention_parts(n_available, self.ranking_examples, self.n_examples, self.calibration_examples)


@dataclass(frozen=True)
class KnockoutRun(InterventionRun):
    """What one knockout job depends on: the interventions section less the choice of conditions."""

    semantics: str
    scope: str
    k: tuple[int | float, ...]
    random_draws: int
    exclude_top: int

    @staticmethod
    def resolve_k(spec: int | float, total_heads: int) -> int:
        """A `k` item as a count of heads: an integer >= 1 is the count itself, a fraction 0 < f < 1 of the
        model's `total_heads` (layers x query heads) becomes max(1, round(f * total_heads))."""
        if isinstance(spec, bool) or not isinstance(spec, int | float):
            raise ValueError(f"interventions.knockout.k item {spec!r}: a count >= 1 or a fraction in (0, 1)")
        if 0 < spec < 1:
            return max(1, round(spec * total_heads))  # round half to even, as Python's round
        if spec >= 1 and float(spec).is_integer():
            return int(spec)
        raise ValueError(f"interventions.knockout.k item {spec!r}: a count >= 1 or a fraction in (0, 1)")


@dataclass(frozen=True)
class PatchingRun(InterventionRun):
    """What one patching job depends on: the head-set rule and its setting, and the draws."""

    set_rule: str
    threshold: float
    top_k: int
    random_draws: int
