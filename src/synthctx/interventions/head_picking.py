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

__all__ = [
    "Configuration",
    "bottom_k_heads",
    "knockout_configurations",
    "matched_random_heads",
    "patching_configurations",
    "random_heads",
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


def random_heads(n: int, n_layers: int, n_heads: int, rng: np.random.Generator) -> list[Head]:
    """n heads drawn uniformly from all heads."""
    picked = rng.choice(n_layers * n_heads, size=n, replace=False)
    return sorted((int(i // n_heads), int(i % n_heads)) for i in picked)


@dataclass(frozen=True)
class Configuration:
    head_kind: str | None
    control: str  # none | top | bottom | random_matched | random_all (knockout); shared | real_only | ... (patching)
    k: int
    draw: int
    heads: tuple[Head, ...]


def knockout_configurations(
    scores: dict[str, np.ndarray], ks: tuple[int, ...], draws: int, exclude_top: int, seed: int
) -> list[Configuration]:
    """The unmodified model, then per head kind and k: the top-k heads, the bottom-k, `draws` matched random
    sets (same count per layer, outside the `exclude_top` best) and `draws` random sets from all heads."""
    configs = [Configuration(None, "none", 0, 0, ())]
    for kind, matrix in scores.items():
        n_layers, n_heads = matrix.shape
        excluded = top_k_heads(matrix, exclude_top)
        for k in ks:
            top = sorted(top_k_heads(matrix, k))
            configs.append(Configuration(kind, "top", k, 0, tuple(top)))
            configs.append(
                Configuration(kind, "bottom", k, 0, tuple(bottom_k_heads(matrix, k, _rng(seed, "bottom", k, kind))))
            )
            for d in range(draws):
                rng = _rng(seed, "random_matched", k, d, kind)
                configs.append(
                    Configuration(
                        kind, "random_matched", k, d, tuple(matched_random_heads(top, excluded, n_heads, rng))
                    )
                )
            for d in range(draws):
                rng = _rng(seed, "random_all", k, d, kind)
                configs.append(Configuration(kind, "random_all", k, d, tuple(random_heads(k, n_layers, n_heads, rng))))
    return configs  # fmt: skip


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
    and `draws` random sets of the size of all real heads."""
    configs = []
    for kind, real_scores in real.items():
        n_layers, n_heads = real_scores.shape
        ref = select_heads(real_scores, rule, threshold, top_k)
        cand = select_heads(synthetic[kind], rule, threshold, top_k)
        for name, heads in (("shared", ref & cand), ("real_only", ref - cand), ("all_real", ref)):
            configs.append(Configuration(kind, name, len(heads), 0, tuple(sorted(heads))))
        for d in range(draws):
            heads = random_heads(len(ref), n_layers, n_heads, _rng(seed, "random", len(ref), d, kind))
            configs.append(Configuration(kind, "random", len(ref), d, tuple(heads)))
    return configs  # fmt: skip
