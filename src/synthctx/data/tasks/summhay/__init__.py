"""SummHay Citation (Laban et al. 2024): given a haystack and one insight, cite the documents that contain
it. The insight sentences in the cited documents are insight spans.

Own config keys: `min_gold`/`max_gold` (gold documents of a synthetic insight); for official topics only
(see official.py) `min_insight_recall` (alignment threshold), `haystacks_per_insight` (records per insight,
each its own random haystack) and `test_topics` (the test split as named topics or a share of one source's
topics; null: real_data's train and test are separate topics)."""

from __future__ import annotations

import os
from typing import Any

from synthctx.data.tasks.spec import TaskSpec
from synthctx.evaluation.metrics import citation_prf, parse_citations

CITATION_INSTRUCTION = (
    "Answer the question using the documents below. Reply with the answer only: "
    "the labels of the documents, separated by commas."
)


def score(record: dict[str, Any], text: str) -> dict[str, float]:
    """Citation P/R/F1 of every label cited: a label of no document in the context (D99 of D1..D20) is a wrong
    citation and counts in precision's denominator. Labels count when they have the form of the context's
    labels (the same letter, e.g. D), so other letter-number words of a free-form answer are not citations."""
    letters = {label[0].upper() for label in record["citation_ids"]}
    cited = [label for label in parse_citations(text) if label[0] in letters]
    prf = citation_prf(cited, record["gold_citation_ids"])
    return {"f1": prf["f1"], "citation_precision": prf["precision"], "citation_recall": prf["recall"]}


def check_config(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """min_gold <= max_gold <= max_documents; and train and test never share a topic: one source (the same
    file or folder, or hub split) for both needs `test_topics`, and `test_topics` needs one source."""
    problems = []
    if not cfg["min_gold"] <= cfg["max_gold"] <= cfg["max_documents"]:
        problems.append(
            (
                "max_gold",
                f"need min_gold ({cfg['min_gold']}) <= max_gold ({cfg['max_gold']}) <= "
                f"max_documents ({cfg['max_documents']})",
            )
        )
    source, cut = cfg["real_data"], cfg["test_topics"]
    if source["kind"] == "embedded":
        if cut is not None:
            problems.append(("test_topics", "cuts official topics: needs real_data.kind files or hub"))
        return problems
    if source["kind"] == "files":
        one = os.path.normpath(source["train"]) == os.path.normpath(source["test"])
        where = f"real_data.train and real_data.test ({source['train']}, {source['test']})"
    else:
        one = source["train_split"] == source["test_split"]
        where = f"real_data.train_split and test_split ({source['train_split']}, {source['test_split']})"
    if one and cut is None:
        problems.append(
            (
                "test_topics",
                f"{where} are one source, so every topic would be in both splits: name the test topics "
                f"(file names or topic ids) or give their share here",
            )
        )
    elif cut is not None and not one:
        problems.append(("test_topics", f"cuts one source into train and test, but {where} differ"))
    return problems


SPEC = TaskSpec(
    name="summhay",
    description="SummHay Citation: cite every document that holds an insight",
    instruction=CITATION_INSTRUCTION,
    metric="citation precision, recall and F1 of the cited labels against the gold documents' labels "
    "(a label of no document in the context is a wrong citation)",
    score=score,
    config_keys=("min_gold", "max_gold", "min_insight_recall", "haystacks_per_insight", "test_topics"),
    real_data_keys=("min_insight_recall", "haystacks_per_insight", "test_topics"),
    has_insights=True,
    # Insights stay template-based: each is phrased differently in every gold document and must stay
    # aligned to the statement the question quotes.
    writer_uses=("haystack",),
    check_config=check_config,
)
