"""Reading official data releases: local .jsonl / .jsonl.gz / .json files or a hub data set (as fetched to a
local file by the workflow), checked by JSON schema, with every problem reported as `origin:line: field 'path': why`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from synthctx.data.records import DataError

GZIP_MAGIC = b"\x1f\x8b"


class RecordError(DataError):
    """A source record (or file) the builders cannot use; the message names file, line and field."""


def field_path(path: list[Any]) -> str:
    """["ctxs", 1, "text"] -> "ctxs[1].text"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def fail(origin: str, field: str, why: str) -> RecordError:
    return RecordError(f"{origin}: field '{field}': {why}")


def check_schema(origin: str, raw: Any, validator: Draft202012Validator) -> None:
    """Raise RecordError for the most relevant schema violation of `raw`, naming the field's JSON path."""
    err = best_match(validator.iter_errors(raw))
    if err is None:
        return
    path = list(err.absolute_path)
    if err.validator == "required":
        missing = next((p for p in err.validator_value if p not in err.instance), None)
        if missing is not None:
            raise fail(origin, field_path([*path, missing]), "missing")
    raise fail(origin, field_path(path), err.message)


def open_bytes(path: Path):
    """A binary handle on a plain or gzip-compressed file, told apart by its bytes rather than its name."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def iter_jsonl(path: Path) -> Iterator[tuple[str, int, Any]]:
    """(file, line number, parsed object) of every non-blank line. Lines are decoded one by one, so bytes
    that are not UTF-8 are reported with their line; a byte-order mark and CRLF line ends are accepted."""
    try:
        with open_bytes(path) as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise RecordError(f"{path}:{lineno}: not UTF-8 text (byte {err.start}: {err.reason})") from None
                if lineno == 1:
                    line = line.removeprefix("\ufeff")
                if not line.strip():
                    continue
                try:
                    yield str(path), lineno, json.loads(line)
                except json.JSONDecodeError as err:
                    raise RecordError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
    except (OSError, EOFError) as err:  # missing, unreadable, or a truncated or corrupt gzip stream
        raise RecordError(f"{path}: cannot be read: {err}") from None


def read_json(path: Path) -> Any:
    """One JSON document from a plain or gzip-compressed file (a topic file), with errors that name the file and
    the line instead of a traceback."""
    try:
        with open_bytes(path) as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise RecordError(f"{path}: cannot be read: {err}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RecordError(f"{path}:{line}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None


def hub_rows(source: dict[str, Any], split: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(data set[split], 1-based row, row) of a hub data set.

    In the workflow the local rule fetch_hub_data has written each split to a jsonl.gz file (one row per
    line, as `datasets` yields it) and the rule's slice names it in `source["fetched"][split]`: read that,
    offline. Without it (direct callers), the split is read through `datasets.load_dataset`."""
    name = source[f"{split}_split"]
    origin = f"{source['hub_id']}[{name}]"
    fetched = (source.get("fetched") or {}).get(split)
    if fetched:
        for _, line, row in iter_jsonl(Path(fetched)):
            yield origin, line, row
        return
    from datasets import load_dataset

    pinned = {"revision": source["revision"]} if source.get("revision") else {}
    ds = load_dataset(source["hub_id"], source.get("hub_config"), split=name, **pinned)
    for i, row in enumerate(ds, 1):
        yield origin, i, dict(row)


def iter_records(source: dict[str, Any], split: str) -> Iterator[tuple[str, int, Any]]:
    """(origin, line, raw record) from the split's file or hub data set, as config says."""
    if source["kind"] == "files":
        yield from iter_jsonl(Path(source[split]))
    else:
        yield from hub_rows(source, split)


def as_rows(value: Any) -> Any:
    """Hub data sets may store a list of records as a dict of columns; turn it back into rows."""
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        n = {len(v) for v in value.values()}
        if len(n) == 1:
            return [dict(zip(value, row, strict=True)) for row in zip(*value.values(), strict=True)]
    return value


NONEMPTY_STRING = {"type": "string", "pattern": r"\S"}


class Unalignable(DataError):
    """A source record whose answer (or a hop's) does not occur where it should: an error, or dropped and
    counted, as `on_unalignable` says."""


def source_name(source: dict[str, Any], split: str) -> str:
    """The file, or hub data set and split, a split is read from (for messages)."""
    return source[split] if source["kind"] == "files" else f"{source['hub_id']}[{source[f'{split}_split']}]"


def build_in_random_order(
    n_items: int, n: int, rng, build_one, on_unalignable: str, what: str, where: str = "the source"
):
    """`n` records from source items visited in a seeded random order: `build_one(item, index)` builds the
    record of one item or raises Unalignable. Returns (records, number dropped as unalignable)."""
    order = list(range(n_items))
    rng.shuffle(order)
    records: list = []
    dropped = 0
    for item in order:
        if len(records) >= n:
            break
        try:
            records.append(build_one(item, len(records)))
        except Unalignable as err:
            if on_unalignable == "error":
                raise RecordError(f"{err} (set on_unalignable: drop to skip and count such records)") from None
            dropped += 1
    if len(records) < n:
        raise RecordError(
            f"real {what}: only {len(records)} of {n} usable records in {where} ({dropped} dropped as unalignable)"
        )
    return records, dropped


def refuse_shared_questions(
    task: str,
    split: str,
    mine: list[tuple[str, int, Any]],
    theirs: list[tuple[str, int, Any]],
    advice: str,
    policy: str = "refuse",
) -> None:
    """Leakage guard for a split read from its own source: no question (normalised, `question_key`) of this
    split's records may also be in the other split's. Raises RecordError naming the first shared pair, or with
    `policy: report` (real_data.shared_questions) prints it and goes on."""
    from synthctx.data.matching import question_key

    theirs_at = {question_key(raw["question"]): (o, line) for o, line, raw in theirs}
    shared = [(o, line, raw) for o, line, raw in mine if question_key(raw["question"]) in theirs_at]
    if shared:
        o, line, raw = shared[0]
        o2, line2 = theirs_at[question_key(raw["question"])]
        other = "test" if split == "train" else "train"
        message = (
            f"{task} {split}: the {split} and {other} sources share {len(shared)} of their questions (normalised), "
            f"e.g. {o}:{line} and {o2}:{line2}: {raw['question']!r}"
        )
        if policy != "report":
            raise RecordError(f"{message}; {advice} (or set real_data.shared_questions: report to go on)")
        print(f"warning: {message} (real_data.shared_questions: report)", flush=True)


def refuse_repeated_ids(records: list[tuple[str, int, Any]], field: str) -> None:
    """Every record's `field` (an id) is unique across the records read: a repeated one names both lines."""
    first: dict[Any, str] = {}
    for origin, line, raw in records:
        key = raw[field]
        if key in first:
            raise fail(f"{origin}:{line}", field, f"repeated {field} {key!r}, first at {first[key]}")
        first[key] = f"{origin}:{line}"
