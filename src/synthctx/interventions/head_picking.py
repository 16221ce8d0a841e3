"""Which heads an intervention changes: the rules that pick them (top, bottom, matched random, random, the
real model's heads shared with or missing from the synthetic model's) and the configurations built from them.

Every random draw has a generator of its own, seeded by (seed, control, k, draw, head kind), so one draw can be
reproduced without the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthctx.heads.head_sets import select_heads, top_k_heads
from synthctx.models.anatomy import Head
from synthctx.plan.settings import KnockoutRun

__all__ = [
    "Configuration",
    "bottom_k_heads",
    "knockout_configurations",
    "matched_random_heads",
    "patching_configurations",
    "random_heads",
    "resolved_counts",
]


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator per (seed, control, k, draw, kind): every draw is reproducible on its own."""
    words = [seed] + [
        k if isinstance(k, int) else int.from_bytes(k.encode()[:8].ljust(8, b"\0"), "little") for k in keys
    ]
    return np.random.default_rng(np.random.SeedSequence(words))


def bottom_k_heads(scores: np.ndarray, k: int, rng: np.random.Generator) -> list[Head]:
    """The k lowest-scoring heads; ties (many heads score 0) broken in a seeded random order, not by position."""
    flat = np.nan_to_num(scores, nan=np.inf).ravel()
    order = np.lexsort((rng.permutation(flat.size), flat))[:k]
    n_heads = scores.shape[1]
    return sorted((int(i // n_heads), int(i % n_heads)) for i in order)


def matched_random_heads(top: list[Head], excluded: set[Head], n_heads: int, rng: np.random.Generator) -> list[Head]:
    """As many heads per layer as `top` has there, drawn uniformly among that layer's heads outside `excluded`."""
    per_layer: dict[int, int] = {}
    for layer, _ in top:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    out = []
    for layer, count in sorted(per_layer.items()):
        pool = [h for h in range(n_heads) if (layer, h) not in excluded]
        if len(pool) < count:
            raise ValueError(
                f"layer {layer} has {len(pool)} heads outside the excluded top heads, {count} are needed: "
                f"lower interventions.knockout.exclude_top"
            )
        out += [(layer, int(h)) for h in rng.choice(pool, size=count, replace=False)]
    return sorted(out)


def random_heads(
    n: int, n_layers: int, n_heads: int, rng: np.random.Generator, excluded: frozenset[Head] = frozenset()
) -> list[Head]:
    """n heads drawn uniformly from all heads outside `excluded` (a control must not contain the heads it
    controls for)."""
    pool = [i for i in range(n_layers * n_heads) if (i // n_heads, i % n_heads) not in excluded]
    if len(pool) < n:
        raise ValueError(f"{len(pool)} heads lie outside the {len(excluded)} excluded ones, {n} are needed")
    picked = rng.choice(pool, size=n, replace=False)
    return sorted((int(i // n_heads), int(i % n_heads)) for i in picked)


@dataclass(frozen=True)
class Configuration:
    head_kind: str | None
    control: str  # none | top | bottom | random_matched | random_all (knockout); shared | real_only | ... (patching)
    k: int
    draw: int
    heads: tuple[Head, ...]
    k_spec: tuple[int | float, ...] = ()  # the config's k items that resolved to k (knockout)
    drawn_outside: str | None = None  # random controls: the heads they were drawn outside of


def knockout_configurations(
    scores: dict[str, np.ndarray], k_items: tuple[int | float, ...], draws: int, exclude_top: int, seed: int
) -> list[Configuration]:
    """The unmodified model, then per head kind and k (each item of `k_items` resolved on the model's heads,
    items giving the same count once): the top-k heads, the bottom-k, `draws` matched random sets (same count
    per layer) and `draws` random sets from all heads, both random controls outside the `exclude_top` best."""
    configs = [Configuration(None, "none", 0, 0, ())]
    outside = f"top_{exclude_top}"
    for kind, matrix in scores.items():
        n_layers, n_heads = matrix.shape
        excluded = top_k_heads(matrix, exclude_top)
        for k, specs in resolved_counts(k_items, n_layers * n_heads).items():
            top = sorted(top_k_heads(matrix, k))
            configs.append(Configuration(kind, "top", k, 0, tuple(top), specs))
            bottom = bottom_k_heads(matrix, k, _rng(seed, "bottom", k, kind))
            configs.append(Configuration(kind, "bottom", k, 0, tuple(bottom), specs))
            for d in range(draws):
                heads = matched_random_heads(top, excluded, n_heads, _rng(seed, "random_matched", k, d, kind))
                configs.append(Configuration(kind, "random_matched", k, d, tuple(heads), specs, outside))
            for d in range(draws):
                rng = _rng(seed, "random_all", k, d, kind)
                heads = random_heads(k, n_layers, n_heads, rng, frozenset(excluded))
                configs.append(Configuration(kind, "random_all", k, d, tuple(heads), specs, outside))
    return configs


def resolved_counts(k_items: tuple[int | float, ...], total_heads: int) -> dict[int, tuple[int | float, ...]]:
    """Each distinct head count the config's k items give on a model of `total_heads` heads, with its items."""
    out: dict[int, tuple[int | float, ...]] = {}
    for spec in k_items:
        k = KnockoutRun.resolve_k(spec, total_heads)
        out[k] = (*out.get(k, ()), spec)
    return out


def patching_configurations(
    synthetic: dict[str, np.ndarray],
    real: dict[str, np.ndarray],
    rule: str,
    threshold: float,
    top_k: int,
    draws: int,
    seed: int,
) -> list[Configuration]:
    """Per head kind: heads both models select (shared), heads only the real model selects, all real heads,
    and `draws` random sets of the size of all real heads, drawn outside the real heads."""
    configs = []
    for kind, real_scores in real.items():
        n_layers, n_heads = real_scores.shape
        ref = select_heads(real_scores, rule, threshold, top_k)
        cand = select_heads(synthetic[kind], rule, threshold, top_k)
        for name, heads in (("shared", ref & cand), ("real_only", ref - cand), ("all_real", ref)):
            configs.append(Configuration(kind, name, len(heads), 0, tuple(sorted(heads))))
        for d in range(draws):
            rng = _rng(seed, "random", len(ref), d, kind)
            heads = random_heads(len(ref), n_layers, n_heads, rng, frozenset(ref))
            configs.append(Configuration(kind, "random", len(ref), d, tuple(heads), drawn_outside="all_real"))
    return configs
