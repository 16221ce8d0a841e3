"""Figures for the report (seaborn): F1 per condition, head-score heatmaps per head kind, recall vs F1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from synthctx import conditions  # noqa: E402


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def f1_by_condition(table: pl.DataFrame, path: Path) -> None:
    per = table.unique(["task", "model", "seed", "condition"]).sort(["task", "model", "condition"]).to_pandas()
    g = sns.catplot(
        data=per,
        x="condition",
        y="f1",
        col="task",
        row="model",
        kind="bar",
        errorbar=None,
        height=3.2,
        aspect=1.8,
        color="#4c72b0",
    )
    g.set_axis_labels("training data (needle/haystack)", "real-task F1 (the task's metric)")
    for ax in g.axes.flat:
        ax.tick_params(axis="x", rotation=30)
        for c in ax.containers:
            ax.bar_label(c, fmt="%.2f", fontsize=8)
    _save(g.figure, path)


def score_heatmaps(scores: list[dict[str, Any]], kind: str, mode: str, path: Path) -> None:
    """One panel per condition: the head kind's score per (layer, head), shared colour scale."""
    panels = [s for s in scores if kind in s["head_kinds"] and mode in s["head_kinds"][kind]["modes"]]
    if not panels:
        raise ValueError(f"no head scores of kind {kind!r} in mode {mode!r}")
    n = len(panels)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 4.2 * rows), squeeze=False)
    result = [p["head_kinds"][kind]["modes"][mode] for p in panels]
    vmax = max([float(np.nanmax(np.asarray(r["scores"], dtype=float))) for r in result if r["n_scored"]] + [1e-6])
    for ax, p, r in zip(axes.flat, panels, result):
        c = p["condition"]
        sns.heatmap(np.asarray(r["scores"], dtype=float), ax=ax, vmin=0, vmax=vmax, cmap="viridis", cbar=False)
        ax.set_title(f"{c['task']} {conditions.parse(c['data']).label} (n={r['n_scored']})", fontsize=9)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.colorbar(axes.flat[0].collections[0], ax=axes, shrink=0.6, label=f"{kind} score ({mode})")
    _save(fig, path)


def recall_vs_f1(table: pl.DataFrame, correlations: pl.DataFrame, mode: str, rule: str, path: Path) -> None:
    """Head recall against the real-data model vs real-task F1: one panel per head kind x task."""
    rows = table.filter((pl.col("scoring_mode") == mode) & (pl.col("set_rule") == rule))
    part = (
        rows.with_columns(pl.col("recall", "f1").cast(pl.Float64).fill_nan(None))
        .drop_nulls(["recall", "f1"])
        .to_pandas()
    )
    if part.empty:  # e.g. generate mode when no model answered any example correctly
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.text(
            0.5,
            0.5,
            f"no condition has a defined recall in {mode} mode\n(no scored examples)",
            ha="center",
            va="center",
        )
        ax.axis("off")
        _save(fig, path)
        return
    g = sns.relplot(
        data=part,
        x="recall",
        y="f1",
        hue="condition",
        style="model",
        col="task",
        row="head_kind",
        s=80,
        height=3.6,
        aspect=1.1,
        facet_kws={"sharex": False, "sharey": False},
    )
    for (kind, task), ax in g.axes_dict.items():
        sub = correlations.filter(
            (pl.col("task") == task)
            & (pl.col("scoring_mode") == mode)
            & (pl.col("set_rule") == rule)
            & (pl.col("x") == "recall")
            & (pl.col("method") == "spearman")
            & (pl.col("head_kind") == kind)
        )
        scored = rows.filter((pl.col("task") == task) & (pl.col("head_kind") == kind))
        if not scored.height:
            why = f"{task} has no {kind} spans: not scored"
        elif scored.filter(pl.col("is_reference"))["n_reference_heads"].max() == 0:
            why = f"the real-data model has no {kind} head\n(none above the threshold): recall undefined"
        else:
            why = ""
        if why:
            ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=8, transform=ax.transAxes)
        if sub.height:
            r = sub.row(0, named=True)
            ax.set_title(
                f"{task}, {kind} heads: Spearman {r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}],"
                f" p={r['p_permutation']:.2f}, n={r['n']}",
                fontsize=8,
            )
        else:
            ax.set_title(f"{task}, {kind} heads", fontsize=8)
    g.set_axis_labels(f"head recall vs real model ({rule}, {mode})", "real-task F1")
    _save(g.figure, path)
