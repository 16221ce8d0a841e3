"""Report figures for interventions, seeds and training dynamics: written, deterministic, and never a crash
on the empty or all-NaN tables the tiny config produces (tables built by hand from /tmp/spec/formats.md)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from synthctx.analysis import figures
from synthctx.plan import conditions

TASKS = ("mdqa", "musique")
DATA = ("real", "high-low", "symbolic-symbolic", "none")


def _label(data: str) -> str:
    return conditions.parse(data).label


def knockout_table(value=lambda i: 0.5 - 0.02 * i) -> pl.DataFrame:
    rows, i = [], 0
    for task in TASKS:
        for data in DATA:
            for seed in (0, 1):
                base = {"task": task, "data": data, "model": "tiny", "seed": seed, "condition": _label(data)}
                base |= {"semantics": "uniform", "n_examples": 8}
                none = {"head_kind": None, "control": "none", "k": 0, "draw": 0, "n_heads": 0}
                rows.append({**base, **none, "f1": 0.6, "gold_logprob": -2.0})
                for kind in ("retrieval", "insight") if task == "musique" else ("retrieval",):
                    for control in figures.KNOCKOUT_CONTROLS:
                        for k in (1, 2, 4):
                            for draw in range(3 if control.startswith("random") else 1):
                                i += 1
                                v = value(i)
                                row = {"head_kind": kind, "control": control, "k": k, "draw": draw, "n_heads": k}
                                rows.append({**base, **row, "f1": v, "gold_logprob": -2.0 - v})
    out = pl.DataFrame(rows, infer_schema_length=None)
    return out.with_columns(
        pl.col("f1").alias("f1_ci_low"),
        pl.col("f1").alias("f1_ci_high"),
        (pl.col("f1") - 0.6).alias("delta_f1"),
        (pl.col("gold_logprob") + 2.0).alias("delta_gold_logprob"),
    )


def patching_table(recovery=lambda i: 0.1 * (i % 7)) -> pl.DataFrame:
    rows, i = [], 0
    for task in TASKS:
        for data in ("high-low", "symbolic-symbolic"):
            for seed in (0, 1):
                for head_set in figures.PATCH_SETS:
                    for draw in range(2 if head_set == "random" else 1):
                        i += 1
                        r = recovery(i)
                        rows.append(
                            {
                                "task": task,
                                "data": data,
                                "model": "tiny",
                                "seed": seed,
                                "condition": _label(data),
                                "set_rule": "top_k",
                                "head_kind": "retrieval",
                                "head_set": head_set,
                                "draw": draw,
                                "n_heads": 4,
                                "f1_recovery": r,
                                "f1_recovery_ci_low": r - 0.1,
                                "f1_recovery_ci_high": r + 0.1,
                                "logprob_recovery": r / 2,
                                "logprob_recovery_ci_low": r / 2 - 0.1,
                                "logprob_recovery_ci_high": r / 2 + 0.1,
                            }
                        )
    return pl.DataFrame(rows)


def condition_means_table(nan: bool = False) -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for kind in ("retrieval", "insight"):
            for j, data in enumerate(DATA):
                f1, recall = 0.2 + 0.1 * j, 1.0 - 0.2 * j
                rows.append(
                    {
                        "task": task,
                        "model": "tiny",
                        "data": data,
                        "condition": _label(data),
                        "head_kind": kind,
                        "scoring_mode": "teacher_forced",
                        "set_rule": "threshold",
                        "n_seeds": 2 if j else 1,
                        "f1_mean": math.nan if nan else f1,
                        "f1_ci_low": f1 - 0.05 if j else math.nan,
                        "f1_ci_high": f1 + 0.05 if j else math.nan,
                        "recall_mean": math.nan if nan else recall,
                        "recall_ci_low": recall - 0.1,
                        "recall_ci_high": recall + 0.1,
                    }
                )
    return pl.DataFrame(rows)


def recall_by_step_table() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for data in DATA[:3]:
            for seed in (0, 1):
                for step in (1, 2, 4):
                    rows.append(
                        {
                            "task": task,
                            "data": data,
                            "model": "tiny",
                            "seed": seed,
                            "condition": _label(data),
                            "head_kind": "retrieval",
                            "set_rule": "threshold",
                            "step": step,
                            "recall": min(1.0, 0.2 * step + 0.05 * seed),
                            "n_heads": step,
                        }
                    )
    return pl.DataFrame(rows)


def head_layers_table() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for data in DATA:
            for seed in (0, 1):
                for layer in (0, 2, 5) if data == "real" else (1, 2):
                    rows.append(
                        {
                            "task": task,
                            "data": data,
                            "model": "tiny",
                            "seed": seed,
                            "condition": _label(data),
                            "head_kind": "retrieval",
                            "scoring_mode": "teacher_forced",
                            "set_rule": "threshold",
                            "layer": layer,
                            "n_heads": layer + seed + 1,
                        }
                    )
    return pl.DataFrame(rows)


def _nan_columns(table: pl.DataFrame) -> pl.DataFrame:
    """Every float column NaN: the degenerate numbers of the tiny config."""
    return table.with_columns(pl.lit(math.nan).alias(c) for c, t in table.schema.items() if t == pl.Float64)


CASES = {
    "knockout": (figures.knockout_curves, knockout_table),
    "patching": (figures.patching_recovery, patching_table),
    "recall_seeds": (figures.recall_vs_f1_seeds, condition_means_table),
    "recall_steps": (figures.recall_over_training, recall_by_step_table),
    "head_layers": (figures.head_layers, head_layers_table),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_written_and_byte_identical_on_a_second_call(tmp_path, name):
    draw, build = CASES[name]
    table = build()
    first, second = tmp_path / "a" / f"{name}.png", tmp_path / "b" / f"{name}.png"
    draw(table, first)
    draw(table, second)
    assert first.stat().st_size > 5000, "a figure with data has more than an empty canvas"
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.rglob("*.tmp*")), "the temporary file is renamed into place"


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("variant", ["empty", "no_rows_schema", "nan", "missing_columns"])
def test_degenerate_tables_give_an_annotated_figure(tmp_path, name, variant):
    draw, build = CASES[name]
    full = build()
    table = {
        "empty": pl.DataFrame(),
        "no_rows_schema": full.head(0),
        "nan": _nan_columns(full),
        "missing_columns": full.select(full.columns[:2]),
    }[variant]
    out = tmp_path / f"{name}.png"
    draw(table, out)
    assert out.stat().st_size > 1000


def test_recall_nan_everywhere_but_one_task(tmp_path):
    """One task all NaN, another fine: the good panels are drawn, the NaN task is simply absent."""
    table = condition_means_table()
    table = table.with_columns(
        pl.when(pl.col("task") == "mdqa").then(math.nan).otherwise(pl.col("f1_mean")).alias("f1_mean")
    )
    figures.recall_vs_f1_seeds(table, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 5000


def test_patching_undefined_recovery_in_one_panel(tmp_path):
    """Recovery NaN (real == synthetic) for one task: that panel is annotated, the other drawn."""
    table = patching_table().with_columns(
        pl.when(pl.col("task") == "mdqa").then(math.nan).otherwise(pl.col("f1_recovery")).alias("f1_recovery")
    )
    figures.patching_recovery(table, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 5000


def test_knockout_without_semantics_column_and_null_none_rows(tmp_path):
    """The semantics column is optional; the k=0 rows carry no head kind."""
    figures.knockout_curves(knockout_table().drop("semantics"), tmp_path / "k.png")
    assert (tmp_path / "k.png").stat().st_size > 5000


def test_nested_mean_weights_each_unit_once():
    """Random draws are averaged within a seed before seeds, and seeds within a condition before
    conditions: a condition with more draws does not weigh more."""
    table = pl.DataFrame(
        {
            "g": ["x"] * 5,
            "condition": ["a", "a", "a", "b", "b"],
            "seed": [0, 0, 1, 0, 0],
            "v": [0.0, 1.0, 1.0, 4.0, 4.0],
        }
    )
    out = figures._nested_mean(table, ["g"], "v", ["condition", "seed"])
    # a: seed 0 -> 0.5, seed 1 -> 1.0, mean 0.75; b: 4.0; mean of conditions 2.375
    assert out.row(0, named=True) == {"g": "x", "mean": 2.375, "lo": 0.0, "hi": 4.0}


def test_head_layers_missing_layers_count_as_zero():
    """A run that lists layers 0 and 2 only has 0 heads at layer 1 (sparse table), not a missing value;
    seeds are averaged within a condition before conditions."""
    table = pl.DataFrame(
        {
            "data": ["high-low", "high-low", "high-low", "low-low"],
            "seed": [0, 0, 1, 0],
            "layer": [0, 2, 1, 1],
            "n_heads": [2.0, 4.0, 2.0, 6.0],
        }
    )
    # high-low: seed 0 -> [2, 0, 4], seed 1 -> [0, 2, 0], mean [1, 1, 2]; low-low: [0, 6, 0]
    assert figures._layer_profile(table, 3).tolist() == [0.5, 3.5, 1.0]


def test_groups_and_condition_order():
    assert figures._group_of("real") == figures.REAL_GROUP
    assert figures._group_of("high-low") == figures.SYNTHETIC_GROUP
    assert figures._group_of("none") is None and figures._group_of("real-limited") is None
    labels = ["baseline", "symbolic", "high/low", "real (limited)", "real", None]
    assert figures._condition_order(labels) == ["real", "real (limited)", "high/low", "symbolic", "baseline"]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_other_formats_are_deterministic_too(tmp_path, suffix):
    figures.recall_over_training(recall_by_step_table(), tmp_path / f"a{suffix}")
    figures.recall_over_training(recall_by_step_table(), tmp_path / f"b{suffix}")
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
