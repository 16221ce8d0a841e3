"""Reading the aggregate tables (results/tables/*.csv) the claims and the figures both test and draw: which
columns a table lacks, its numbers as floats, its distinct rows of some columns, a condition's kind.

A table may come from a run too small to fill it: no rows, no such column, or NaN where a number is
undefined; these helpers keep such tables readable so each caller can say what is missing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from synthctx.plan import conditions


def missing_columns(table: pl.DataFrame, columns: Iterable[str]) -> list[str]:
    """The columns the table lacks, in the order asked."""
    return [c for c in columns if c not in table.columns]


def as_floats(table: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Numeric columns as Float64 with NaN turned into null (CSV readers give either); columns the table
    lacks are skipped, the others left untouched."""
    present = [c for c in columns if c in table.columns]
    return table.with_columns(pl.col(present).cast(pl.Float64, strict=False).fill_nan(None))


def distinct_rows(table: pl.DataFrame, columns: list[str], *, none_as: str = "") -> list[tuple]:
    """The distinct values of `columns`, sorted as text with a missing value sorting as `none_as`."""
    if not table.height:
        return []
    rows = table.select(columns).unique().rows()
    return sorted(rows, key=lambda r: tuple(none_as if v is None else str(v) for v in r))


def condition_kind(data: Any) -> str | None:
    """The kind of a training-data condition (real, synthetic, baseline, ...), None for a label that is
    not one."""
    try:
        return conditions.parse(str(data)).kind
    except ValueError:
        return None
