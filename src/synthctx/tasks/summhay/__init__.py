"""SummHay Citation (Laban et al. 2024): given a haystack and one insight, cite the documents that contain
it. The insight sentences in the cited documents are insight spans."""

from __future__ import annotations

from typing import Any

from synthctx.metrics import citation_prf, parse_citations
from synthctx.tasks.spec import TaskSpec

CITATION_INSTRUCTION = (
    "Answer the question using the documents below. Reply with the answer only: "
    "the labels of the documents, separated by commas."
)


def score(record: dict[str, Any], text: str) -> dict[str, float]:
    cited = parse_citations(text, valid_labels=record["citation_ids"])
    prf = citation_prf(cited, record["gold_citation_ids"])
    return {"f1": prf["f1"], "citation_precision": prf["precision"], "citation_recall": prf["recall"]}


def check_config(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    if not cfg["min_gold"] <= cfg["max_gold"] <= cfg["max_documents"]:
        return [
            (
                "max_gold",
                f"need min_gold ({cfg['min_gold']}) <= max_gold ({cfg['max_gold']}) <= "
                f"max_documents ({cfg['max_documents']})",
            )
        ]
    return []


SPEC = TaskSpec(
    name="summhay",
    description="SummHay Citation: cite every document that holds an insight",
    instruction=CITATION_INSTRUCTION,
    metric="citation precision, recall and F1 of the cited labels against the gold documents' labels",
    score=score,
    config_keys=("min_gold", "max_gold", "min_insight_recall"),
    has_insights=True,
    # Insights stay template-based: each is phrased differently in every gold document and must stay
    # aligned to the statement the question quotes.
    writer_uses=("haystack",),
    check_config=check_config,
)
