"""The training-data axis of a condition: what a model was fine-tuned on, as one path segment.

  real           the real task's training split (the reference of every head-set comparison)
  real-limited   its first n_train records, the size of a synthetic set
  <needle>-<haystack>  a synthetic variant, e.g. high-low or symbolic-symbolic
  none           no fine-tuning: the base model, evaluated and scored like the others
Standard library only: the workflow imports it while planning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS = ("high", "low", "symbolic")
REAL, REAL_LIMITED, NONE = "real", "real-limited", "none"


@dataclass(frozen=True)
class TrainingData:
    name: str
    kind: str  # real | real-limited | synthetic | none
    needle: str | None = None  # realism levels of a synthetic variant
    haystack: str | None = None

    @property
    def label(self) -> str:
        """How tables and figures name the condition (the paper's names)."""
        if self.kind == "synthetic":
            return self.needle if self.needle == self.haystack == "symbolic" else f"{self.needle}/{self.haystack}"
        return {REAL: "real", REAL_LIMITED: "real (limited)", NONE: "baseline"}[self.kind]


def synthetic(needle: str, haystack: str) -> str:
    return f"{needle}-{haystack}"


def parse(name: str) -> TrainingData:
    if name in (REAL, REAL_LIMITED, NONE):
        return TrainingData(name, name)
    needle, _, haystack = name.partition("-")
    if needle not in LEVELS or haystack not in LEVELS:
        raise ValueError(
            f"unknown training data {name!r}: real, real-limited, none or <needle>-<haystack> with "
            f"levels {', '.join(LEVELS)}"
        )
    return TrainingData(name, "synthetic", needle, haystack)


def training_data(task: dict[str, Any]) -> list[str]:
    """A task's training-data conditions from its config block, in the order tables list them. The real
    model is always trained and scored (it is the reference), whether `real` reports it or not."""
    out = [REAL] if task["real"] else []
    out += [REAL_LIMITED] if task["real_limited"] else []
    out += [synthetic(n, h) for n, h in task["variants"]]
    return out + ([NONE] if task["baseline"] else [])


def all_names() -> list[str]:
    return [REAL, REAL_LIMITED, NONE] + [synthetic(n, h) for n in LEVELS for h in LEVELS]
