"""SummHay Citation: official topic files, the embedded miniature and the nine synthetic variants."""

from __future__ import annotations

import copy
import itertools
import json
import random
import sys
import types
from pathlib import Path

import pytest

from synthctx.data.sources import RecordError
from synthctx.data.wikipedia import load_passages, summaries_path
from synthctx.prompting import encode
from synthctx.tasks.summhay import embedded, official, synthetic
from synthctx.tasks.summhay.citations import place_golds
from synthctx.tasks.summhay.embedded import year_distractors, year_holders
from synthctx.tasks.summhay.official import topic_labels
from synthctx.tasks.summhay.synthetic import clean_haystack

FIXTURE = Path(__file__).parent / "fixtures" / "summhay_topic.json"
LEVELS = ("high", "low", "symbolic")
# insight id (last digit) -> the gold labels in the fixture's document order, and a phrase of its sentence
EXPECTED = {
    "1": (["D3", "D7", "D6"], "420 million"),
    "2": (["D1", "D8"], "forty percent"),
    "3": (["D7", "D5"], "roadworks"),
    "4": (["D3", "D5"], "university campus"),
    "5": (["D2", "D8"], "six minutes"),
}


build_summhay_from_files = official.build


def build_real_summhay(cfg, split, n, seed, tokenizer):
    records, dropped = embedded.build(cfg, split, n, seed, tokenizer)
    assert dropped == 0, "the embedded builder never drops"
    return records


def build_synthetic_summhay(needle, haystack, cfg, n, seed, tokenizer):
    records, dropped = synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    assert dropped == 0, "the synthetic builder never drops"
    return records


def files_cfg(path: Path, **over) -> dict:
    return {
        "source": {"kind": "files", "train": str(path), "test": str(path), "on_unalignable": "error"},
        "target_tokens": 2000,
        "max_documents": 20,
        "gold_position": "first",
        "min_insight_recall": 0.3,
        **over,
    }


def gold_positions(rec) -> list[int]:
    return [i for i, d in enumerate(rec["documents"]) if d["doc_id"] in rec["gold_doc_ids"]]


def check_citation_record(rec, tokenizer, target_tokens: int) -> None:
    """Every span exact, inside its gold document, in document order, and alignable to tokens."""
    ctx, spans = rec["context"], rec["spans"]
    golds = gold_positions(rec)
    assert [rec["documents"][i]["doc_id"] for i in golds] == rec["gold_doc_ids"]
    assert rec["gold_position"] in golds
    assert len(spans["answer"]) == len(spans["gold_document"]) == len(spans["insight"]) == len(golds)
    labels = rec["citation_ids"]
    assert len(set(labels)) == len(labels)
    for doc, label in zip(rec["documents"], labels):
        assert doc["text"].startswith(f"[{label}] ")
    assert rec["answers"] == [", ".join(labels[i] for i in golds)] == [", ".join(rec["gold_citation_ids"])]
    for i, (a, g, n) in zip(golds, zip(spans["answer"], spans["gold_document"], spans["insight"])):
        assert ctx[a[0] : a[1]] == labels[i]
        assert ctx[g[0] : g[1]] == rec["documents"][i]["text"]
        assert g[0] < a[0] < a[1] < n[0] < n[1] <= g[1]
    enc = encode(tokenizer, rec, rec["answers"][0])
    assert all(enc.span_positions[role] for role in ("answer", "gold_document", "insight"))
    assert enc.prompt_length <= target_tokens + 8


# ------------------------------------------------------------------------------------------ topic files


def test_fixture_topic_gives_one_item_per_cited_insight_with_exact_spans(tokenizer):
    records, dropped = build_summhay_from_files(files_cfg(FIXTURE), "test", 5, 0, tokenizer)
    assert dropped == 0 and len(records) == 5
    assert {r["insight_id"][-1] for r in records} == set(EXPECTED)  # insight 6 is in no document: no item
    first = next(r for r in records if r["insight_id"].endswith("1"))
    assert first["question"] == (
        "Which documents mention the following insight? Answer with their labels, separated "
        'by commas. Insight: "The projected cost of the tram line rose from 310 million to '
        '420 million euros."'
    )
    for rec in records:
        check_citation_record(rec, tokenizer, 2000)
        labels, phrase = EXPECTED[rec["insight_id"][-1]]
        assert sorted(rec["gold_citation_ids"]) == sorted(labels)
        assert len(rec["documents"]) == 8 and rec["gold_position"] == 0
        for s, e in rec["spans"]["insight"]:  # the paraphrasing sentence, not another sentence of the document
            assert phrase in rec["context"][s:e]
    with pytest.raises(RecordError, match="only 5 of 6"):
        build_summhay_from_files(files_cfg(FIXTURE), "test", 6, 0, tokenizer)


def test_the_paraphrase_is_aligned_even_when_it_is_not_the_first_mention(tokenizer):
    records, _ = build_summhay_from_files(files_cfg(FIXTURE), "test", 5, 0, tokenizer)
    rec = next(r for r in records if r["insight_id"].endswith("1"))
    d7 = rec["citation_ids"].index("D7")
    s, e = rec["spans"]["insight"][gold_positions(rec).index(d7)]
    assert rec["context"][s:e] == (
        "Meanwhile the council confirmed that the budget has climbed to 420 million euros, up from 310 million."
    )


def test_cutting_to_length_keeps_every_gold_document(tokenizer):
    records, dropped = build_summhay_from_files(files_cfg(FIXTURE, target_tokens=380), "test", 5, 0, tokenizer)
    assert dropped == 0
    assert all(len(r["documents"]) < 8 for r in records)
    for rec in records:
        check_citation_record(rec, tokenizer, 380)
        assert sorted(rec["gold_citation_ids"]) == sorted(EXPECTED[rec["insight_id"][-1]][0])
    # too short for the three gold documents of insight 1: that item is dropped, the others remain
    records, dropped = build_summhay_from_files(files_cfg(FIXTURE, target_tokens=280), "test", 4, 0, tokenizer)
    assert dropped == 1 and "1" not in {r["insight_id"][-1] for r in records}
    _, dropped_other_seed = build_summhay_from_files(files_cfg(FIXTURE, target_tokens=280), "test", 1, 7, tokenizer)
    assert dropped_other_seed == 1


def test_gold_position_places_the_first_gold_and_spreads_the_others(tokenizer):
    records, _ = build_summhay_from_files(files_cfg(FIXTURE, gold_position="last"), "test", 5, 0, tokenizer)
    for rec in records:
        n, k = len(rec["documents"]), len(rec["gold_doc_ids"])
        assert rec["gold_position"] == n - 1
        assert gold_positions(rec) == sorted((n - 1 + j * n // k) % n for j in range(k))
    docs = [{"doc_id": f"g{j}"} for j in range(3)] + [{"doc_id": f"x{j}"} for j in range(6)]
    placed, positions = place_golds(docs[:3], docs[3:], 4, None)
    assert positions == [4, 7, 1] and [placed[p]["doc_id"] for p in positions] == ["g0", "g1", "g2"]
    assert [d["doc_id"] for d in placed if d["doc_id"].startswith("x")] == [f"x{j}" for j in range(6)]


def test_labels_come_from_document_ids():
    assert topic_labels(["12", 3, "7"]) == ["D12", "D3", "D7"]
    assert topic_labels(["65b0ff", "65a0ff", "65c0ff"]) == ["D2", "D1", "D3"]
    assert topic_labels(["1", "01"]) == ["D2", "D1"]  # numbers that collide fall back to ranks


def write_topic(path: Path, topic) -> Path:
    path.write_text(json.dumps(topic))
    return path


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda t: t.pop("subtopics"), "subtopics"),
        (lambda t: t["subtopics"][1]["insights"][0].pop("insight"), "subtopics[1].insights[0].insight"),
        (
            lambda t: t["subtopics"][0]["insights"][2].__setitem__("insight_id", "7a1c00000000000000001001"),
            "subtopics[0].insights[2].insight_id",
        ),
        (lambda t: t["documents"][1].pop("document_text"), "documents[1].document_text"),
        (
            lambda t: t["documents"][4].__setitem__("document_id", "7a1c0000000000000000a003"),
            "documents[4].document_id",
        ),
        (
            lambda t: t["documents"][3].__setitem__("insights_included", "7a1c00000000000000001005"),
            "documents[3].insights_included",
        ),
        (
            lambda t: t["documents"][2]["insights_included"].append("no-such-insight"),
            "documents[2].insights_included[2]",
        ),
    ],
)
def test_a_malformed_topic_names_file_and_json_path_before_anything_is_built(tmp_path, tokenizer, mutate, field):
    topic = json.loads(FIXTURE.read_text())
    write_topic(tmp_path / "a_good.json", topic)  # sorted first: a lazy loader would build from it and pass
    bad = copy.deepcopy(topic)
    mutate(bad)
    path = write_topic(tmp_path / "b_bad.json", bad)
    pattern = rf"{path}: field '{field}'".replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(RecordError, match=pattern):
        build_summhay_from_files(files_cfg(tmp_path), "test", 1, 0, tokenizer)


def test_broken_json_and_empty_folders_name_the_path(tmp_path, tokenizer):
    (tmp_path / "broken.json").write_text('{"documents": [')
    with pytest.raises(RecordError, match=rf"{tmp_path / 'broken.json'}: not valid JSON"):
        build_summhay_from_files(files_cfg(tmp_path), "test", 1, 0, tokenizer)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordError, match="no topic JSON files"):
        build_summhay_from_files(files_cfg(empty), "test", 1, 0, tokenizer)


def test_a_folder_of_topics_is_read_in_sorted_order(tmp_path, tokenizer):
    topic = json.loads(FIXTURE.read_text())
    write_topic(tmp_path / "t1.json", topic)
    write_topic(tmp_path / "t2.json", topic)
    records, _ = build_summhay_from_files(files_cfg(tmp_path), "train", 10, 0, tokenizer)
    assert {r["source"] for r in records} == {str(tmp_path / "t1.json"), str(tmp_path / "t2.json")}
    for rec in records:  # a haystack never mixes topics
        assert all(d["doc_id"].startswith(rec["source"] + ":") for d in rec["documents"])


def test_an_unalignable_insight_is_an_error_unless_dropped(tmp_path, tokenizer):
    topic = json.loads(FIXTURE.read_text())
    topic["subtopics"][1]["insights"][1]["insight"] = "Penguins prefer cold water near southern glaciers."
    path = write_topic(tmp_path / "unalignable.json", topic)
    with pytest.raises(RecordError, match=r"unalignable.json: field 'subtopics\[1\]\.insights\[1\]\.insight'"):
        build_summhay_from_files(files_cfg(path), "test", 1, 0, tokenizer)
    cfg = files_cfg(path)
    cfg["source"]["on_unalignable"] = "drop"
    records, dropped = build_summhay_from_files(cfg, "test", 4, 0, tokenizer)
    assert dropped == 1 and len(records) == 4 and "5" not in {r["insight_id"][-1] for r in records}


def test_hub_rows_are_topics(monkeypatch, tokenizer):
    topic = json.loads(FIXTURE.read_text())
    calls = []

    def load_dataset(hub_id, config, split):
        calls.append((hub_id, config, split))
        return [topic]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    source = {
        "kind": "hub",
        "hub_id": "someone/summhay",
        "hub_config": None,
        "train_split": "train",
        "test_split": "train",
        "on_unalignable": "error",
    }
    cfg = {**files_cfg(FIXTURE), "source": source}
    records, dropped = build_summhay_from_files(cfg, "test", 2, 0, tokenizer)
    assert calls == [("someone/summhay", None, "train")] and dropped == 0 and len(records) == 2
    assert records[0]["source"] == "someone/summhay[train] row 0"
    topic["documents"][0]["insights_included"] = None
    with pytest.raises(RecordError, match=r"someone/summhay\[train\] row 0: field 'documents\[0\]\.insights_included'"):
        build_summhay_from_files(cfg, "test", 2, 0, tokenizer)


# ------------------------------------------------------------------------------------ embedded miniature


@pytest.fixture(scope="module")
def summhay_cfg(data_cfg) -> dict:
    return {**data_cfg, "min_gold": 2, "max_gold": 3}


def test_embedded_miniature_is_deterministic_with_exact_spans_and_clean_distractors(tokenizer, summhay_cfg):
    a = build_real_summhay(summhay_cfg, "test", 8, 0, tokenizer)
    assert a == build_real_summhay(summhay_cfg, "test", 8, 0, tokenizer)
    other_seed = build_real_summhay(summhay_cfg, "test", 8, 1, tokenizer)
    assert [r["question"] for r in a] != [r["question"] for r in other_seed]
    assert {len(r["gold_doc_ids"]) for r in a} <= {2, 3}
    for rec in a:
        check_citation_record(rec, tokenizer, summhay_cfg["target_tokens"])
        year = rec["year"]
        assert rec["question"].startswith(f"Which documents mention the year {year}?")
        golds = gold_positions(rec)
        for i, doc in enumerate(rec["documents"]):
            assert (doc["title"] + doc["text"]).count(year) == (1 if i in golds else 0)
        for s, e in rec["spans"]["insight"]:
            assert year in rec["context"][s:e] and rec["context"][s:e].rstrip()[-1] in ".!?\"')"


def test_year_distractors_are_every_passage_without_the_year(data_cfg):
    pool = load_passages(str(summaries_path(data_cfg["text_package"])), data_cfg["max_passage_words"])["real_test"]
    year = max(sorted(year_holders(pool).items()), key=lambda kv: len(kv[1]))[0]
    labels = [f"D{i}" for i in range(len(pool))]
    docs = list(year_distractors(pool, year, labels, random.Random(0)))
    without = [p for p in pool if year not in p.text and year not in p.title]
    assert len(without) < len(pool) and sorted(d["title"] for d in docs) == sorted(p.title for p in without)
    assert [d["text"].split("] ")[0] for d in docs] == [f"[{label}" for label in labels[: len(docs)]]


def test_embedded_train_and_test_share_no_passage(tokenizer, summhay_cfg):
    docs = lambda recs: {d["doc_id"] for r in recs for d in r["documents"]}  # noqa: E731
    assert not docs(build_real_summhay(summhay_cfg, "train", 6, 0, tokenizer)) & docs(
        build_real_summhay(summhay_cfg, "test", 6, 0, tokenizer)
    )


# ------------------------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synthetic_summhay_cfg(synthetic_cfg) -> dict:
    """Room for three gold documents of every haystack level and a few distractors."""
    return {**synthetic_cfg, "target_tokens": 700, "min_gold": 2, "max_gold": 3}


@pytest.mark.parametrize("needle,haystack", list(itertools.product(LEVELS, LEVELS)))
def test_every_synthetic_variant_has_k_golds_and_exact_spans(tokenizer, synthetic_summhay_cfg, needle, haystack):
    cfg = synthetic_summhay_cfg
    recs = build_synthetic_summhay(needle, haystack, cfg, 4, 3, tokenizer)
    assert recs == build_synthetic_summhay(needle, haystack, cfg, 4, 3, tokenizer)
    for rec in recs:
        assert rec["needle_realism"] == needle and rec["haystack_realism"] == haystack and rec["task"] == "summhay"
        check_citation_record(rec, tokenizer, cfg["target_tokens"])
        k = len(rec["gold_doc_ids"])
        assert 2 <= k <= 3
        insights = [rec["context"][s:e] for s, e in rec["spans"]["insight"]]
        statement = rec["question"].split('Insight: "', 1)[1][:-1]
        if needle == "high":  # one finding, a different phrasing in every gold document
            person = statement.split("'s ")[0]
            assert len(set(insights)) == k and all(person in t for t in insights)
            marker = person
        else:
            assert insights == [statement] * k
            marker = statement.split("'")[1] if needle == "symbolic" else statement.split()[3]
        golds = gold_positions(rec)
        assert [i for i, d in enumerate(rec["documents"]) if marker in d["title"] + d["text"]] == golds
    assert any(len(r["documents"]) > len(r["gold_doc_ids"]) for r in recs), "distractors fill the context"


def test_synthetic_levels_look_like_what_they_claim(tokenizer, synthetic_summhay_cfg):
    sym = build_synthetic_summhay("symbolic", "symbolic", synthetic_summhay_cfg, 2, 0, tokenizer)[0]
    assert all(d["text"].split("] ", 1)[1].startswith("{") for d in sym["documents"])
    low = build_synthetic_summhay("low", "low", synthetic_summhay_cfg, 2, 0, tokenizer)[0]
    assert "The grass is green." in low["context"] and 'Insight: "The finding of ' in low["question"]
    high = build_synthetic_summhay("high", "high", {**synthetic_summhay_cfg, "gold_position": "first"}, 2, 0, tokenizer)
    assert all(r["gold_position"] == 0 for r in high)
    assert all(d["doc_id"].startswith(("wiki:", "synthetic:")) for r in high for d in r["documents"])
    wiki = [d["doc_id"] for d in high[0]["documents"] if d["doc_id"].startswith("wiki:")]
    assert len(wiki) == len(set(wiki))


def test_clean_haystack_skips_documents_with_a_marker_and_repeated_passages(synthetic_cfg, data_cfg):
    stream = clean_haystack("symbolic", synthetic_cfg["haystack"], random.Random(0), (), ["A"])
    assert all("A" not in d["title"] + str(d["units"]) for d in itertools.islice(stream, 5))
    pool = load_passages(str(summaries_path(data_cfg["text_package"])), data_cfg["max_passage_words"])["synthetic"]
    ids = [d["id"] for d in itertools.islice(clean_haystack("high", {}, random.Random(0), pool[:40], []), 40)]
    assert sorted(ids) == sorted({f"wiki:{p.title}" for p in pool[:40]})


def test_a_target_too_short_for_the_gold_documents_is_an_error(tokenizer, synthetic_summhay_cfg):
    with pytest.raises(ValueError, match="gold documents alone exceed target_tokens=150"):
        build_synthetic_summhay("low", "low", {**synthetic_summhay_cfg, "target_tokens": 150}, 1, 0, tokenizer)
