"""Hand-built per-example tables (the columns of knockout_examples.csv / patching_examples.csv) for the
claims' paired tests: each list holds one value per example, the same examples in every configuration."""

from __future__ import annotations

import polars as pl


def _ids(n: int) -> list[str]:
    return [f"ex{i}" for i in range(n)]


def ko_examples(
    top: list[float],
    rand: list[float] | list[list[float]],
    none: list[float] | None = None,
    *,
    f1: dict[str, list[float]] | None = None,
    task: str = "mdqa",
    run: tuple[str, str, int] = ("m", "real", 0),
    control: str = "random_matched",
    kind: str = "retrieval",
    k: int = 10,
    scope: str | None = None,
) -> pl.DataFrame:
    """Knockout rows of one run: `top`, `rand` (one list per draw, or one list) and `none` are gold
    log-probabilities per example; `f1` maps "top" / "rand" / "none" to F1 per example (default 0.5 each)."""
    n = len(top)
    draws = rand if rand and isinstance(rand[0], list) else [rand]
    none = none if none is not None else [0.0] * n
    f1 = f1 or {}
    model, data, seed = run
    rows = []

    def add(control_: str, kind_: str | None, k_: int, draw: int, lp: list[float], f: list[float]) -> None:
        for i, example_id in enumerate(_ids(n)):
            rows.append(
                {
                    "task": task, "data": data, "model": model, "seed": seed, "condition": data,
                    "semantics": "uniform", "scope": scope, "head_kind": kind_, "control": control_, "k": k_,
                    "draw": draw, "example": i, "example_id": example_id, "f1": f[i], "gold_logprob": lp[i],
                }
            )  # fmt: skip

    add("none", None, 0, 0, none, f1.get("none", [0.5] * n))
    add("top", kind, k, 0, top, f1.get("top", [0.5] * n))
    for d, values in enumerate(draws):
        add(control, kind, k, d, values, f1.get("rand", [0.5] * n))
    return pl.DataFrame(rows, infer_schema_length=None)


def patch_examples(
    patched: list[float],
    random: list[float],
    synthetic: list[float] | None = None,
    real: list[float] | None = None,
    *,
    task: str = "mdqa",
    run: tuple[str, str, int] = ("m", "high-low", 0),
    head_set: str = "all_real",
    kind: str = "retrieval",
) -> pl.DataFrame:
    """Patching rows of one run: patched (with `head_set`), patched with a random set, and the unpatched
    synthetic and the real model, per example; F1 carries the same numbers as the gold log-probability."""
    n = len(patched)
    synthetic = synthetic if synthetic is not None else [0.0] * n
    real = real if real is not None else [1.0] * n
    model, data, seed = run
    rows = []
    for head_set_, values in ((head_set, patched), ("random", random)):
        for i, example_id in enumerate(_ids(n)):
            rows.append(
                {
                    "task": task, "data": data, "model": model, "seed": seed, "condition": data,
                    "set_rule": "top_k", "head_kind": kind, "head_set": head_set_, "draw": 0, "n_heads": 3,
                    "example": i, "example_id": example_id,
                    **{m: values[i] for m in ("f1", "gold_logprob")},
                    **{f"synthetic_{m}": synthetic[i] for m in ("f1", "gold_logprob")},
                    **{f"real_{m}": real[i] for m in ("f1", "gold_logprob")},
                }
            )  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None)


def eval_examples(
    f1: dict[str, list[float] | list[list[float]]], *, task: str = "mdqa", model: str = "m"
) -> pl.DataFrame:
    """Per-example evaluation rows (the columns of examples.csv): f1[data] is F1 per example, one list per
    seed (or one list: seed 0), the same examples ex0, ex1, ... in every condition."""
    rows = []
    for data, values in f1.items():
        per_seed = values if values and isinstance(values[0], list) else [values]
        for seed, seed_values in enumerate(per_seed):
            for i, (example_id, v) in enumerate(zip(_ids(len(seed_values)), seed_values)):
                rows.append(
                    {
                        "task": task, "data": data, "model": model, "seed": seed, "condition": data,
                        "example": i, "example_id": example_id, "f1": v,
                    }
                )  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None)
