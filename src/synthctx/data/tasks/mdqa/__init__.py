"""MDQA (multi-document QA, Liu et al. "Lost in the Middle"): one gold passage among distractors, a short
answer copied from it.

Own config keys (official data only; see official.py): `release_files` (the release's gold_at_k files, pooled
and split by question), `test_share` (the test split's share of their questions) and `file_gold_position`
(`place` the gold passage by `gold_position`, or `keep` the file's position)."""

from __future__ import annotations

import os
from typing import Any

from synthctx.data.prompting import ANSWER_INSTRUCTION
from synthctx.data.tasks.spec import TaskSpec
from synthctx.evaluation.metrics import max_token_f1, substring_exact_match


def score(record: dict[str, Any], text: str) -> dict[str, float]:
    return {"f1": max_token_f1(text, record["answers"]), "substring_em": substring_exact_match(text, record["answers"])}


def check_config(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """The source and the MDQA keys agree: release files are read as files, and name real_data's files (the
    workflow's declared inputs); a train/test pair is two different files; `keep` needs a file position."""
    source, files = cfg["real_data"], cfg["release_files"]
    problems = []
    if files:
        if source["kind"] != "files":
            problems.append(("release_files", f"needs real_data.kind: files (not {source['kind']})"))
        else:
            listed = {os.path.normpath(f) for f in files}
            for split in ("train", "test"):
                if os.path.normpath(source[split]) not in listed:
                    problems.append(
                        (
                            "release_files",
                            f"real_data.{split} ({source[split]}) is not one of release_files: with release_files "
                            f"set, every listed file is read and split by question (test_share), and real_data's "
                            f"train and test must name files of the list",
                        )
                    )
    elif source["kind"] == "files" and os.path.normpath(source["train"]) == os.path.normpath(source["test"]):
        problems.append(
            (
                "real_data",
                f"train and test are the same file ({source['train']}): training would see the test questions; "
                f"list the file under release_files to split its questions by test_share",
            )
        )
    if cfg["file_gold_position"] == "keep" and source["kind"] == "embedded":
        problems.append(("file_gold_position", "keep needs official data (real_data.kind files or hub)"))
    return problems


SPEC = TaskSpec(
    name="mdqa",
    description="multi-document QA: one gold passage among distractors, a short answer",
    instruction=ANSWER_INSTRUCTION,
    metric="token F1 (SQuAD normalisation), max over gold answers; substring exact match",
    score=score,
    config_keys=("release_files", "test_share", "file_gold_position"),
    real_data_keys=("release_files", "test_share", "file_gold_position"),
    input_file_keys=("release_files",),
    check_config=check_config,
)
