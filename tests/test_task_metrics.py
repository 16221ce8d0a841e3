"""Each task's headline metric on hand-made predictions: MDQA/MuSiQue answer F1, SummHay citation F1."""

from __future__ import annotations

import pytest

from synthctx.data import tasks
from synthctx.data.tasks.musique import cited_documents
from synthctx.evaluation.evaluation_summary import summarise


def score_prediction(record: dict, text: str) -> dict:
    return tasks.get(record["task"]).score(record, text)


def _record(task: str, **extra) -> dict:
    docs = [{"doc_id": f"d{i}", "title": "", "text": "x"} for i in range(4)]
    return {"task": task, "answers": ["Brevania"], "documents": docs, "gold_doc_ids": ["d1", "d3"], **extra}


def test_mdqa_scores_token_f1_and_substring_em():
    m = score_prediction(_record("mdqa", answers=["the Eiffel Tower", "Eiffel Tower"]), "Eiffel Tower, Paris.")
    assert m == {"f1": pytest.approx(0.8), "substring_em": 1.0}
    assert score_prediction(_record("mdqa"), "") == {"f1": 0.0, "substring_em": 0.0}


def test_musique_takes_the_best_alias_and_scores_support_only_when_documents_are_cited():
    rec = _record("musique", answers=["Kingdom of Brevania", "Brevania"])
    assert score_prediction(rec, "Brevania.") == {"f1": 1.0, "substring_em": 1.0}
    cited = score_prediction(rec, "Brevania (Document [2], document [2], Document 3)")
    assert cited["support_f1"] == pytest.approx(2 * 0.5 * 0.5 / 1.0)  # cites 2 and 3; gold are 2 and 4
    assert cited_documents("see Document [02] and Document[4]") == ["2", "4"]


def test_summhay_citation_f1_ignores_duplicates_and_counts_labels_not_in_the_context_as_wrong():
    rec = _record("summhay", citation_ids=["D3", "D12", "D40"], gold_citation_ids=["D12", "D40"])
    assert score_prediction(rec, "D12, D40") == {"f1": 1.0, "citation_precision": 1.0, "citation_recall": 1.0}
    m = score_prediction(rec, "[D12], D12, D99, D3")  # D99 is no document of this context: a wrong citation
    # cited {D12, D99, D3}, gold {D12, D40}: P = 1/3, R = 1/2, F1 = 2 (1/3)(1/2) / (1/3 + 1/2) = 0.4
    assert m["citation_precision"] == pytest.approx(1 / 3) and m["citation_recall"] == 0.5
    assert m["f1"] == pytest.approx(0.4)
    # the brief's case: D3, D99 against gold {D3, D12}: P = 1/2 (was 1.0), R = 1/2
    two = _record("summhay", citation_ids=["D3", "D12", "D40"], gold_citation_ids=["D3", "D12"])
    assert score_prediction(two, "D3, D99") == pytest.approx(
        {"f1": 0.5, "citation_precision": 0.5, "citation_recall": 0.5}
    )
    # letter-number words of another form than the context's labels are not citations
    assert score_prediction(two, "D3 and D12, as of Q3 2020")["citation_precision"] == 1.0
    assert score_prediction(rec, "")["f1"] == 0.0
    assert "substring_em" not in m, "EM of a joined label list would mean nothing"


def test_summary_averages_each_metric_over_the_predictions_that_have_it():
    preds = [
        {"metrics": {"f1": 1.0, "substring_em": 1.0, "support_f1": 0.5}},
        {"metrics": {"f1": 0.0, "substring_em": 0.0}},
    ]
    s = summarise("musique", preds)
    assert s["f1"] == 0.5 and s["support_f1"] == 0.5 and s["n_support_f1"] == 1 and s["n_examples"] == 2
    assert "answer + aliases" in s["metric"]
