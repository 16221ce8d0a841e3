"""Figures for the report (seaborn): F1 per condition, head-score heatmaps per head kind, recall vs F1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from synthctx.analysis.tables import as_floats, condition_kind, distinct_rows, missing_columns  # noqa: E402
from synthctx.data.files import atomic_path  # noqa: E402
from synthctx.plan import conditions  # noqa: E402


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
    save_figure(g.figure, path)


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
    save_figure(fig, path)


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
        save_figure(fig, path)
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
    if "primary" in correlations.columns:  # the configured baseline choice, not the one reported beside it
        correlations = correlations.filter(pl.col("primary").cast(pl.Boolean))
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
    save_figure(g.figure, path)


# ---------------------------------------------------------------------------------------------------------
# Interventions, seeds and training dynamics (issue 10). Every function takes aggregate tables of
# results/tables/ (analysis/aggregate.py writes them; docs/method.md defines their numbers) as polars frames
# and draws an annotated empty panel where a table, a facet or a column has nothing finite to show: the tiny
# test config produces exactly such degenerate numbers.

KNOCKOUT_CONTROLS = ("top", "bottom", "random_matched", "random_all")
PATCH_SETS = ("shared", "real_only", "all_real", "random")
REAL_GROUP, SYNTHETIC_GROUP = "real", "synthetic (mean)"
_EMPTY_NOTE = dict(ha="center", va="center", fontsize=8, color="0.35")


def _metadata(path: Path) -> dict[str, Any]:
    """Fixed (absent) software/date stamps, so two renders of the same data are byte-identical."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return {"Creator": None, "Producer": None, "CreationDate": None}
    if suffix == ".svg":
        return {"Creator": None, "Date": None}
    return {"Software": None}


def save_figure(fig, path: str | Path) -> None:
    """The figure written whole (atomic_path) and reproducibly: no software or date stamps, a fixed SVG id
    salt, so two renders of the same data are byte-identical in PNG, PDF and SVG alike."""
    path = Path(path)
    with atomic_path(path) as tmp, matplotlib.rc_context({"svg.hashsalt": "synthctx"}):
        fig.savefig(tmp, format=path.suffix[1:], dpi=110, bbox_inches="tight", metadata=_metadata(path))
    plt.close(fig)


def _empty_figure(path: str | Path, message: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, message, transform=ax.transAxes, **_EMPTY_NOTE)
    ax.axis("off")
    save_figure(fig, path)


def _empty_panel(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, **_EMPTY_NOTE)
    ax.set_xticks([])
    ax.set_yticks([])


def _group_of(data: str) -> str | None:
    """real vs synthetic: the two groups the intervention figures compare (others are left out)."""
    return {"real": REAL_GROUP, "synthetic": SYNTHETIC_GROUP}.get(condition_kind(data))


def _with_group(table: pl.DataFrame) -> pl.DataFrame:
    names = sorted({str(d) for d in table["data"].to_list() if d is not None})
    mapping = {d: _group_of(d) for d in names}
    return table.with_columns(
        pl.col("data").cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.String).alias("group")
    ).filter(pl.col("group").is_not_null())


def _grid(n_rows: int, n_cols: int, width: float = 3.3, height: float = 2.6):
    return plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False)


def _nested_mean(table: pl.DataFrame, keys: list[str], value: str, levels: list[str]) -> pl.DataFrame:
    """Mean over the innermost unit first (e.g. draws within a seed), then over each level from the last to
    the first of `levels` (e.g. ["condition", "seed"]: seeds within a condition, then conditions), so no
    unit weighs more for having more draws or seeds; lo/hi = min/max over every finite row.

    Returns keys + mean, lo, hi."""
    finite = table.filter(pl.col(value).is_not_null())
    means = finite.rename({value: "mean"})
    for depth in range(len(levels), -1, -1):
        means = means.group_by([*keys, *levels[:depth]]).agg(pl.col("mean").mean())
    spread = finite.group_by(keys).agg(pl.col(value).min().alias("lo"), pl.col(value).max().alias("hi"))
    return means.join(spread, on=keys, nulls_equal=True).sort(keys, nulls_last=False)


def _knockout_panel(ax, curves: pl.DataFrame, no_knockout: float | None, palette: dict, label: str) -> None:
    """One panel: a line and a min-max band per control over k, the no-knockout mean dashed."""
    for control in KNOCKOUT_CONTROLS:
        c = curves.filter(pl.col("control") == control).sort("k")
        if not c.height:
            continue
        k = c["k"].to_numpy()
        ax.plot(k, c["mean"].to_numpy(), marker="o", ms=3, color=palette[control], lw=1.3)
        ax.fill_between(k, c["lo"].to_numpy(), c["hi"].to_numpy(), color=palette[control], alpha=0.18)
    if no_knockout is not None:
        ax.axhline(no_knockout, color="0.4", ls="--", lw=1)
    ax.set_xticks(sorted({int(v) for v in curves["k"].to_list()}))
    ax.set_xlabel("heads knocked out (k)", fontsize=8)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=7)


def _legend_below(fig, handles: list, title: str, ncol: int | None = None) -> None:
    """The figure's one legend, under the panels (in one row unless `ncol` says otherwise)."""
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=max(len(handles), 1) if ncol is None else ncol,
        fontsize=8,
        title=title,
        title_fontsize=8,
    )


def knockout_curves(knockout: pl.DataFrame, path: str | Path) -> None:
    """F1 and gold log-prob after knocking out k heads, top-k vs the controls, per task x model x head kind.

    Columns: task, data, model, seed, condition, semantics, head_kind, control, k, draw, f1, gold_logprob.
    Rows of panels: F1 (real model), F1 (mean over synthetic conditions), log-prob (real), log-prob
    (synthetic mean). Line = mean over draws, then seeds, then (synthetic) conditions; band = min-max over
    every draw x seed x condition run; dashed grey = the same group's no-knockout (control "none") mean.
    Real (limited) and the baseline are left out, to keep 3 tasks x ~6 conditions readable."""
    need = ("task", "data", "model", "seed", "condition", "head_kind", "control", "k", "draw")
    if missing := missing_columns(knockout, need):
        _empty_figure(path, f"knockout table lacks columns {', '.join(missing)}")
        return
    table = as_floats(knockout, "f1", "gold_logprob", "k")
    if "semantics" not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.String).alias("semantics"))
    table = _with_group(table.with_columns(pl.col("semantics").cast(pl.String)))
    metrics = [("f1", "F1"), ("gold_logprob", "gold log-prob")]
    has_value = any(table[m].drop_nulls().len() for m, _ in metrics if m in table.columns)
    if not table.height or not has_value:
        _empty_figure(path, "no knockout results with a finite F1 or log-prob\n(real and synthetic conditions)")
        return
    for m, _ in metrics:
        if m not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.Float64).alias(m))
    curves = table.filter((pl.col("control") != "none") & pl.col("head_kind").is_not_null() & pl.col("k").is_not_null())
    none = table.filter(pl.col("control") == "none")
    panel_keys = ["task", "model", "semantics", "head_kind"]
    panels = sorted(
        distinct_rows(curves, panel_keys), key=lambda p: (str(p[0]), str(p[1]), str(p[2]), p[3] != "retrieval")
    )
    if not panels:
        _empty_figure(path, "knockout table has only the no-knockout rows (no head kind, no k)")
        return
    groups = [REAL_GROUP, SYNTHETIC_GROUP]
    palette = dict(zip(KNOCKOUT_CONTROLS, sns.color_palette("colorblind", len(KNOCKOUT_CONTROLS))))
    fig, axes = _grid(len(metrics) * len(groups), len(panels))
    run, keys = ["condition", "seed"], [*panel_keys, "group", "control", "k"]
    for mi, (metric, label) in enumerate(metrics):
        stats = _nested_mean(curves, keys, metric, run)
        ref = _nested_mean(none, ["task", "model", "semantics", "group"], metric, run)
        for gi, group in enumerate(groups):
            for ci, (task, model, sem, kind) in enumerate(panels):
                ax = axes[mi * len(groups) + gi][ci]
                head = f"{task}, {model}, {kind} heads" + (f" ({sem})" if sem else "")
                ax.set_title(f"{head}\n{group}", fontsize=8)
                sel = stats.filter(
                    (pl.col("task") == task)
                    & (pl.col("model") == model)
                    & pl.col("semantics").eq_missing(sem)
                    & (pl.col("head_kind") == kind)
                    & (pl.col("group") == group)
                )
                if not sel.height:
                    _empty_panel(ax, f"no finite {label}\nfor {group} conditions")
                    continue
                r = ref.filter(
                    (pl.col("task") == task)
                    & (pl.col("model") == model)
                    & pl.col("semantics").eq_missing(sem)
                    & (pl.col("group") == group)
                )
                _knockout_panel(ax, sel, r["mean"][0] if r.height else None, palette, label)
    handles = [Line2D([], [], color=palette[c], marker="o", ms=3, label=c) for c in KNOCKOUT_CONTROLS]
    handles.append(Line2D([], [], color="0.4", ls="--", label="no knockout (k=0)"))
    _legend_below(fig, handles, "line: mean over draws, seeds (and synthetic conditions); band: min-max over them")
    fig.tight_layout()
    save_figure(fig, path)


def _patching_panel(ax, recovery: pl.DataFrame, conds: list[str], palette: dict, label: str) -> None:
    """One panel: a bar per head set and condition (mean, widest interval), 'undef.' where it has none."""
    width = 0.8 / max(len(conds), 1)
    for j, cond in enumerate(conds):
        for i, head_set in enumerate(PATCH_SETS):
            row = recovery.filter((pl.col("condition") == cond) & (pl.col("head_set") == head_set))
            x = i - 0.4 + width * (j + 0.5)
            if not row.height:
                continue
            mean, lo, hi = row.row(0)[-3:]
            if mean is None:
                ax.text(x, 0, "undef.", rotation=90, fontsize=6, ha="center", va="bottom", color="0.35")
                continue
            err = None
            if lo is not None and hi is not None:
                err = [[max(mean - lo, 0.0)], [max(hi - mean, 0.0)]]
            ax.bar(x, mean, width=width, color=palette[cond], yerr=err, capsize=2, error_kw={"lw": 0.8})
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axhline(1, color="0.3", lw=0.8, ls=":")
    ax.set_xticks(range(len(PATCH_SETS)), PATCH_SETS, fontsize=7)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=7)


def patching_recovery(patching: pl.DataFrame, path: str | Path) -> None:
    """Share of the real-synthetic gap recovered by patching real-model heads into a synthetic model.

    Columns: task, model, condition, seed, set_rule, head_kind, head_set, draw, f1_recovery(_ci_low/_high),
    logprob_recovery(_ci_low/_high). One panel per task x model x head kind x set rule, F1 row and log-prob
    row; bars per head set, one colour per synthetic condition. Bar = mean over seeds and random draws;
    error bar = the widest per-run bootstrap interval (min of the lows, max of the highs) over them.
    A head set whose recovery is undefined everywhere (real == synthetic) is marked 'undef.'."""
    need = ("task", "model", "condition", "seed", "head_kind", "head_set")
    if missing := missing_columns(patching, need):
        _empty_figure(path, f"patching table lacks columns {', '.join(missing)}")
        return
    metrics = [("f1_recovery", "F1 recovery"), ("logprob_recovery", "log-prob recovery")]
    cols = [f"{m}{s}" for m, _ in metrics for s in ("", "_ci_low", "_ci_high")]
    table = as_floats(patching, *cols)
    for c in cols:
        if c not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    if "set_rule" not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.String).alias("set_rule"))
    table = table.with_columns(pl.col("set_rule").cast(pl.String))
    if not table.height:
        _empty_figure(path, "no patching results")
        return
    panel_keys = ["task", "model", "head_kind", "set_rule"]
    panels = distinct_rows(table, panel_keys)
    conds = _condition_order(table["condition"].to_list())
    palette = dict(zip(conds, sns.color_palette("colorblind", max(len(conds), 1))))
    fig, axes = _grid(len(metrics), len(panels), width=max(3.3, 0.9 * len(conds) + 1.5))
    keys = [*panel_keys, "condition", "head_set"]
    for mi, (metric, label) in enumerate(metrics):
        agg = (
            table.group_by(keys)
            .agg(
                pl.col(metric).mean().alias("mean"),
                pl.col(f"{metric}_ci_low").min().alias("lo"),
                pl.col(f"{metric}_ci_high").max().alias("hi"),
            )
            .sort(keys)
        )
        for ci, (task, model, kind, rule) in enumerate(panels):
            ax = axes[mi][ci]
            ax.set_title(f"{task}, {model}, {kind} heads" + (f" ({rule})" if rule else ""), fontsize=8)
            sel = agg.filter(
                (pl.col("task") == task)
                & (pl.col("model") == model)
                & (pl.col("head_kind") == kind)
                & pl.col("set_rule").eq_missing(rule)
            )
            if not sel["mean"].drop_nulls().len():
                _empty_panel(ax, f"{label} undefined everywhere\n(real and synthetic F1 equal, or no rows)")
                continue
            _patching_panel(ax, sel, conds, palette, label)
    handles = [Patch(color=palette[c], label=c) for c in conds]
    _legend_below(
        fig,
        handles,
        "synthetic condition; bar: mean over seeds and random draws; error bar: widest bootstrap interval;"
        " dotted line: the real model (recovery 1)",
    )
    fig.tight_layout()
    save_figure(fig, path)


def recall_vs_f1_seeds(
    condition_means: pl.DataFrame, path: str | Path, *, mode: str = "teacher_forced", rule: str = "threshold"
) -> None:
    """Seed-averaged head recall (x) vs real-task F1 (y) per task x model (columns) and head kind (rows),
    with the intervals over seeds on both axes (none drawn where a condition has one seed)."""
    need = ("task", "model", "condition", "head_kind", "f1_mean", "recall_mean")
    if missing := missing_columns(condition_means, need):
        _empty_figure(path, f"condition means table lacks columns {', '.join(missing)}")
        return
    cols = ("f1_mean", "f1_ci_low", "f1_ci_high", "recall_mean", "recall_ci_low", "recall_ci_high", "n_seeds")
    table = as_floats(condition_means, *cols)
    for c in ("scoring_mode", "set_rule"):
        if c in table.columns:
            table = table.filter(pl.col(c) == (mode if c == "scoring_mode" else rule))
    table = table.filter(
        pl.col("f1_mean").is_not_null() & pl.col("recall_mean").is_not_null() & pl.col("condition").is_not_null()
    )
    if not table.height:
        _empty_figure(path, f"no condition with both a mean recall and a mean F1\n({rule}, {mode})")
        return
    for c in cols:
        if c not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    columns, kinds = distinct_rows(table, ["task", "model"]), _kinds(table)
    conds = _condition_order(table["condition"].to_list())
    palette = dict(zip(conds, sns.color_palette("colorblind", len(conds))))
    fig, axes = _grid(len(kinds), len(columns), width=3.6, height=3.2)
    for ax, sel in _head_kind_panels(axes, table, kinds, columns, "{task} has no {kind} recall"):
        for r in sorted(sel.iter_rows(named=True), key=lambda r: conds.index(r["condition"])):
            x, y = r["recall_mean"], r["f1_mean"]

            def err(lo, hi, centre):
                return None if lo is None or hi is None else [[max(centre - lo, 0.0)], [max(hi - centre, 0.0)]]

            ax.errorbar(
                x,
                y,
                xerr=err(r["recall_ci_low"], r["recall_ci_high"], x),
                yerr=err(r["f1_ci_low"], r["f1_ci_high"], y),
                fmt="o",
                ms=5,
                color=palette[r["condition"]],
                capsize=2,
                lw=0.8,
            )
            seeds = "" if r["n_seeds"] is None else f" ({int(r['n_seeds'])})"
            ax.annotate(f"{r['condition']}{seeds}", (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6)
        ax.set_xlabel(f"head recall vs real model ({rule}, {mode})", fontsize=8)
        ax.set_ylabel("real-task F1", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(
        "mean over seeds; bars: interval over seeds (none with one seed); label: condition (seeds)", fontsize=8
    )
    fig.tight_layout()
    save_figure(fig, path)


def recall_over_training(recall_by_step: pl.DataFrame, path: str | Path, *, rule: str = "threshold") -> None:
    """Recall of the real model's final heads by each condition's training snapshots, per task x model
    (columns) and head kind (rows); line = mean over seeds, band = min-max over seeds."""
    need = ("task", "model", "seed", "condition", "head_kind", "step", "recall")
    if missing := missing_columns(recall_by_step, need):
        _empty_figure(path, f"recall-by-step table lacks columns {', '.join(missing)}")
        return
    table = as_floats(recall_by_step, "recall", "step")
    if "set_rule" in table.columns:
        table = table.filter(pl.col("set_rule") == rule)
    table = table.filter(pl.col("recall").is_not_null() & pl.col("step").is_not_null())
    if not table.height:
        _empty_figure(path, f"no training snapshot with a defined recall ({rule})")
        return
    columns, kinds = distinct_rows(table, ["task", "model"]), _kinds(table)
    conds = _condition_order(table["condition"].to_list())
    palette = dict(zip(conds, sns.color_palette("colorblind", len(conds))))
    stats = (
        table.group_by(["task", "model", "head_kind", "condition", "step"])
        .agg(
            pl.col("recall").mean().alias("mean"),
            pl.col("recall").min().alias("lo"),
            pl.col("recall").max().alias("hi"),
        )
        .sort(["task", "model", "head_kind", "condition", "step"])
    )
    fig, axes = _grid(len(kinds), len(columns), width=3.6, height=2.8)
    for ax, sel in _head_kind_panels(axes, stats, kinds, columns, "{task} has no {kind} recall by step"):
        for cond in conds:
            c = sel.filter(pl.col("condition") == cond)
            if not c.height:
                continue
            s = c["step"].to_numpy()
            ax.plot(s, c["mean"].to_numpy(), marker="o", ms=3, lw=1.2, color=palette[cond], label=cond)
            ax.fill_between(s, c["lo"].to_numpy(), c["hi"].to_numpy(), color=palette[cond], alpha=0.18)
        ax.set_xlabel("training step", fontsize=8)
        ax.set_ylabel(f"recall of real model's final heads ({rule})", fontsize=7)
        ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=palette[c], marker="o", ms=3, label=c) for c in conds]
    _legend_below(fig, handles, "line: mean over seeds; band: min-max over seeds", ncol=min(len(handles), 6))
    fig.tight_layout()
    save_figure(fig, path)


def _head_kind_panels(axes, table: pl.DataFrame, kinds: list[str], columns: list[tuple], empty: str) -> Iterator:
    """(axes, rows) of each panel of a head kind (row) x task and model (column) grid, each panel titled; a
    panel without rows gets the note `empty` ({task} and {kind} filled in) and is not yielded."""
    for ri, kind in enumerate(kinds):
        for ci, (task, model) in enumerate(columns):
            ax = axes[ri][ci]
            ax.set_title(f"{task}, {model}, {kind} heads", fontsize=8)
            sel = table.filter((pl.col("task") == task) & (pl.col("model") == model) & (pl.col("head_kind") == kind))
            if not sel.height:
                _empty_panel(ax, empty.format(task=task, kind=kind))
                continue
            yield ax, sel


def _layer_profile(table: pl.DataFrame, n_layers: int) -> np.ndarray:
    """Heads per layer, mean over seeds within a condition (data), then over conditions; a layer a run does
    not list counts as 0 for that run (the table may list only layers with selected heads)."""
    per_cond = []
    for _, cond in table.sort("data", "seed").group_by(["data"], maintain_order=True):
        runs = []
        for _, run in cond.group_by(["seed"], maintain_order=True):
            counts = np.zeros(n_layers)
            np.add.at(counts, run["layer"].to_numpy(), run["n_heads"].to_numpy())
            runs.append(counts)
        per_cond.append(np.mean(runs, axis=0))
    return np.mean(per_cond, axis=0) if per_cond else np.zeros(n_layers)


def _condition_order(labels) -> list[str]:
    """Condition labels in the paper's order: real, real (limited), the synthetic variants, baseline."""
    names = [conditions.REAL, conditions.REAL_LIMITED]
    names += [n for n in conditions.all_names() if conditions.parse(n).kind == "synthetic"] + [conditions.NONE]
    rank = {conditions.parse(n).label: i for i, n in enumerate(names)}
    present = {str(x) for x in labels if x is not None}
    return sorted(present, key=lambda x: (rank.get(x, len(rank)), x))


def _kinds(table: pl.DataFrame) -> list[str]:
    """Head kinds, retrieval first (the paper's main kind), then the rest by name."""
    return sorted({str(k) for k in table["head_kind"].to_list() if k is not None}, key=lambda k: (k != "retrieval", k))


def head_layers(
    head_layers: pl.DataFrame, path: str | Path, *, mode: str = "teacher_forced", rule: str = "threshold"
) -> None:
    """Selected heads per layer, real model vs the mean over synthetic conditions, per task x model
    (columns) and head kind (rows). Layers a run does not list count as 0 heads for that run."""
    need = ("task", "data", "model", "seed", "head_kind", "layer", "n_heads")
    if missing := missing_columns(head_layers, need):
        _empty_figure(path, f"head-layers table lacks columns {', '.join(missing)}")
        return
    table = as_floats(head_layers, "n_heads", "layer")
    for c, want in (("scoring_mode", mode), ("set_rule", rule)):
        if c in table.columns:
            table = table.filter(pl.col(c) == want)
    table = _with_group(table.filter(pl.col("layer").is_not_null()))
    if not table.height or not table["n_heads"].drop_nulls().len():
        _empty_figure(path, f"no selected heads by layer for real or synthetic conditions\n({rule}, {mode})")
        return
    table = table.with_columns(pl.col("layer").cast(pl.Int64), pl.col("n_heads").fill_null(0.0))
    columns, kinds = distinct_rows(table, ["task", "model"]), _kinds(table)
    groups = [REAL_GROUP, SYNTHETIC_GROUP]
    palette = dict(zip(groups, sns.color_palette("colorblind", 2)))
    fig, axes = _grid(len(kinds), len(columns), width=4.2, height=2.6)
    for ax, sel in _head_kind_panels(axes, table, kinds, columns, "{task} has no selected {kind} heads"):
        layers = np.arange(int(sel["layer"].max()) + 1)
        for gi, group in enumerate(groups):
            g = sel.filter(pl.col("group") == group)
            if not g.height:
                continue
            ax.bar(layers - 0.2 + 0.4 * gi, _layer_profile(g, len(layers)), width=0.4, color=palette[group])
        ax.set_xlabel("layer", fontsize=8)
        ax.set_ylabel("selected heads (mean per run)", fontsize=7)
        ax.tick_params(labelsize=7)
    handles = [Patch(color=palette[g], label=g) for g in groups]
    title = f"heads selected ({rule}, {mode}) per layer: mean over seeds, then over synthetic conditions"
    _legend_below(fig, handles, title, ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
