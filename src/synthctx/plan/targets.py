"""What a run produces in the end: the aggregate tables, the report figures, and the default target.
Standard library only (and the task registry): the workflow imports it while planning."""

from __future__ import annotations

from typing import Any

from synthctx.plan.grid import head_kinds

# The tables the claims are judged from, in the order the claims rule passes them.
CLAIM_TABLES = (
    "conditions",
    "condition_means",
    "correlations",
    "leave_one_out",
    "knockout",
    "patching",
    "recall_by_step",
    "knockout_examples",
    "patching_examples",
    "examples",
)
TABLES = {name: f"results/aggregate/{name}.csv" for name in (*CLAIM_TABLES, "head_layers")}
CLAIMS_PAGE = "results/aggregate/claims.html"


def figures(config: dict[str, Any]) -> dict[str, Any]:
    """Each report figure's file; the heatmaps (per head kind and scoring mode) and the scatter plots (per
    mode) are lists, in the order Snakemake's `expand` would give them."""
    modes = config["heads"]["modes"]
    return {
        "f1": "results/figures/f1_by_condition.png",
        "seeds": "results/figures/recall_vs_f1_over_seeds.png",
        "steps": "results/figures/recall_over_training.png",
        "layers": "results/figures/heads_by_layer.png",
        "knockout": "results/figures/knockout_curves.png",
        "patching": "results/figures/patching_recovery.png",
        "heatmaps": [f"results/figures/head_scores_{k}_{m}.png" for k in head_kinds(config) for m in modes],
        "scatter": [f"results/figures/recall_vs_f1_{m}.png" for m in modes],
    }


def all_targets(config: dict[str, Any]) -> list[str]:
    """The study's default target: every table, the F1 figure (its rule writes the others) and the claims."""
    return [*TABLES.values(), figures(config)["f1"], CLAIMS_PAGE]
