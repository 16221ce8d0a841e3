"""SummHay Citation: official topic files, the embedded miniature and the nine synthetic variants."""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import sys
import types
from pathlib import Path

import pytest

from release_fixtures.summhay import make_topic, write_release
from synthctx.data.sources import RecordError
from synthctx.data.tasks import encode
from synthctx.data.tasks.summhay import SPEC, embedded, official, synthetic
from synthctx.data.tasks.summhay.citations import align_insight, content_tokens, place_golds
from synthctx.data.tasks.summhay.embedded import year_distractors, year_holders
from synthctx.data.tasks.summhay.official import topic_labels, topics_of_split
from synthctx.data.tasks.summhay.synthetic import clean_haystack
from synthctx.data.wikipedia import load_passages, summaries_path

FIXTURE = Path(__file__).parent / "fixtures" / "summhay_topic.json"
FIXTURE_TOPIC_ID = "7a1c00000000000000000001"
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
    """Train and test read `path`, cut by topic: the fixture's topic (and any copy of it) is the test split."""
    return {
        "source": {"kind": "files", "train": str(path), "test": str(path), "on_unalignable": "error"},
        "target_tokens": 2000,
        "max_documents": 20,
        "gold_position": "first",
        "min_insight_recall": 0.3,
        "haystacks_per_insight": 1,
        "test_topics": [FIXTURE_TOPIC_ID],
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
    with pytest.raises(RecordError, match=f"only 5 usable of 6 asked .* topic.* {FIXTURE}"):
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
    records, _ = build_summhay_from_files(files_cfg(tmp_path), "test", 10, 0, tokenizer)
    assert {r["source"] for r in records} == {str(tmp_path / "t1.json"), str(tmp_path / "t2.json")}
    for rec in records:  # a haystack never mixes topics
        assert all(d["doc_id"].startswith(rec["source"] + ":") for d in rec["documents"])
    # the copy goes where the topic it copies goes: none is left for training
    with pytest.raises(RecordError, match="leaves no topic .* for train"):
        build_summhay_from_files(files_cfg(tmp_path), "train", 1, 0, tokenizer)


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


# ------------------------------------------------------------------------- topics shaped like the release

# Small release-like topics (the release: ~100 documents of ~800 tokens, 5-23 citing documents per insight)
SMALL = {
    "n_documents": 30,
    "n_subtopics": 3,
    "insights_per_subtopic": (3, 4),
    "citations": (3, 8),
    "filler_sentences": (2, 5),
}


def release_cfg(folder: Path, **over) -> dict:
    source = {"kind": "files", "train": str(folder), "test": str(folder), "on_unalignable": "drop"}
    return {
        **files_cfg(folder),
        "source": source,
        "target_tokens": 1500,
        "max_documents": 30,
        "gold_position": "uniform",
        "test_topics": ["topic_news1", "topic_conv1"],
        **over,
    }


def raw_id(doc: dict) -> str:
    return doc["doc_id"].rsplit(":", 1)[1]


@pytest.mark.parametrize(
    "text,insight,expected",
    [
        (  # two consecutive sentences carry it; -ed/-s/-ing forms differ
            "The council met on Tuesday evening. The tram line in Varnholt will now cost 420 million euros. "
            "Rising steel prices are the main reason. Members asked for an independent review.",
            "The projected cost of the tram line rose to 420 million euros because steel prices increased.",
            "The tram line in Varnholt will now cost 420 million euros. Rising steel prices are the main reason.",
        ),
        (  # a number in words, plurals; the next sentence adds one word of the insight: not enough to widen
            "Planners presented the timetable. During rush hours, trams are planned every six minutes, and the "
            "fares stay low. Buses will run every hour at night.",
            "Trams are planned to run every 6 minutes during rush hour.",
            "During rush hours, trams are planned every six minutes, and the fares stay low.",
        ),
        (  # a turn of a conversation, one fact per sentence
            "Anna: The route is finally settled.\nMarek: It starts at Dorvel Station. It ends at the university "
            "campus. There will be twelve stops on the way.\nAnna: Good to know.",
            "The line will connect Dorvel Station with the university campus, serving 12 stops.",
            "Marek: It starts at Dorvel Station. It ends at the university campus. There will be twelve stops on "
            "the way.",
        ),
    ],
)
def test_alignment_finds_a_paraphrase_in_a_sentence_or_a_short_window(text, insight, expected):
    found = align_insight(text, insight)
    assert text[found.start : found.end] == expected
    assert found.recall >= 0.3 and found.sentences == expected.count(".")


def test_content_words_are_lightly_normalised():
    assert content_tokens("Studies: 3,300 units (forty percent, 40%) were planned; planning them") == [
        "studi",
        "3300",
        "unit",
        "40",
        "percent",
        "40",
        "percent",
        "plan",
        "plan",
    ]
    assert content_tokens("Three hundred trees in the U.S.") == content_tokens("300 tree") == ["300", "tre"]


def test_paraphrased_insights_of_release_like_topics_align_to_their_paraphrases():
    """Documents never copy an insight; most insights still align in every citing document, and the span
    found is (part of) the paraphrase the generator planted there."""
    for domain in ("news", "conversation"):
        topic, planted = make_topic(1, domain)
        assert len(topic["documents"]) == 100
        cited = aligned = on_paraphrase = spans = 0
        for sub in topic["subtopics"]:
            for ins in sub["insights"]:
                golds = [d for d in topic["documents"] if ins["insight_id"] in d["insights_included"]]
                assert 5 <= len(golds) <= 20
                assert not any(ins["insight"] in d["document_text"] for d in golds)
                found = [align_insight(d["document_text"].strip(), ins["insight"]) for d in golds]
                cited += 1
                if min(f.recall for f in found) < 0.3:
                    continue
                aligned += 1
                for doc, f in zip(golds, found):
                    text = doc["document_text"].strip()
                    at = text.index(planted[(doc["document_id"], ins["insight_id"])])
                    end = at + len(planted[(doc["document_id"], ins["insight_id"])])
                    spans += 1
                    on_paraphrase += f.start < end and at < f.end
        assert aligned / cited >= 0.75, (domain, aligned, cited)
        assert on_paraphrase / spans >= 0.97, (domain, on_paraphrase, spans)


def test_release_topics_give_several_haystacks_per_insight_that_keep_every_gold_and_fit(tmp_path, tokenizer, capsys):
    planted = write_release(tmp_path, n_news=2, n_conv=2, **SMALL)
    cfg = release_cfg(tmp_path, haystacks_per_insight=3)
    records, dropped = build_summhay_from_files(cfg, "test", 30, 0, tokenizer)
    assert records == build_summhay_from_files(cfg, "test", 30, 0, tokenizer)[0]
    log = capsys.readouterr().out
    for name in ("topic_news1", "topic_conv1"):
        assert re.search(rf"summhay test: .*{name}\.json: \d+ of \d+ cited insights aligned \(\d+%", log)
    assert "topic_news2" not in log and dropped > 0
    topics = {str(p): json.loads(p.read_text()) for p in planted}
    by_insight: dict[str, list[dict]] = {}
    for rec in records:
        check_citation_record(rec, tokenizer, cfg["target_tokens"])
        topic = topics[rec["source"]]
        golds = [d["document_id"] for d in topic["documents"] if rec["insight_id"] in d["insights_included"]]
        assert rec["haystack_document_ids"] == [raw_id(d) for d in rec["documents"]]
        assert sorted(rec["haystack_document_ids"][i] for i in gold_positions(rec)) == sorted(golds)
        assert len(rec["documents"]) < len(topic["documents"])  # a subset of the topic: not everything fits
        for (s, e), i in zip(rec["spans"]["insight"], gold_positions(rec)):
            paraphrase = planted[Path(rec["source"])][(rec["haystack_document_ids"][i], rec["insight_id"])]
            assert set(rec["context"][s:e].split()) & set(paraphrase.split())
        by_insight.setdefault(rec["insight_id"], []).append(rec)
    assert max(len(recs) for recs in by_insight.values()) > 1
    for recs in by_insight.values():
        assert len(recs) <= 3 and len({r["haystack"] for r in recs}) == len(recs)
        assert len({frozenset(r["haystack_document_ids"]) for r in recs}) == len(recs), "distinct document sets"


def test_usable_items_grow_with_haystacks_per_insight_and_too_few_name_the_topic_files(tmp_path, tokenizer):
    write_release(tmp_path, n_news=1, n_conv=1, **SMALL)
    usable = {}
    for per_insight in (1, 2, 4):
        cfg = release_cfg(tmp_path, haystacks_per_insight=per_insight, test_topics=["topic_news1"])
        with pytest.raises(RecordError, match=r"only \d+ usable of 1000 asked") as err:
            build_summhay_from_files(cfg, "test", 1000, 0, tokenizer)
        assert str(tmp_path / "topic_news1.json") in str(err.value) and "topic_conv1" not in str(err.value)
        usable[per_insight] = int(re.search(r"only (\d+) usable", str(err.value)).group(1))
        records, _ = build_summhay_from_files(cfg, "test", usable[per_insight], 0, tokenizer)
        assert len(records) == usable[per_insight]
    assert usable[1] < usable[2] <= 2 * usable[1] and usable[2] < usable[4] <= 4 * usable[1]


def test_a_topic_cut_never_puts_a_topic_in_both_splits(tmp_path, tokenizer):
    folder = tmp_path / "topics"
    files = sorted(write_release(folder, n_news=3, n_conv=3, **SMALL))
    (folder / "topic_zcopy.json").write_text((folder / "topic_news2.json").read_text())  # a copy travels along
    names = {"topic_news2.json", "topic_zcopy.json", "topic_conv3.json"}
    for cut in (["topic_news2", "topic_conv3.json"], 0.4):
        cfg = release_cfg(folder, test_topics=cut)
        train, test = topics_of_split(cfg, "train"), topics_of_split(cfg, "test")
        assert not {t.key for t in train} & {t.key for t in test}
        assert sorted(Path(t.origin).name for t in train + test) == sorted(
            p.name for p in [*files, folder / "topic_zcopy.json"]
        )
        copy_side = [t for t in train + test if t.origin.endswith("zcopy.json")][0] in test
        assert copy_side == any(t.origin.endswith("news2.json") for t in test)
        if isinstance(cut, list):
            assert {Path(t.origin).name for t in test} == names
        else:  # a share of the 6 distinct topics, by a stable hash of their ids
            assert len({t.key for t in test}) == 2 and test == topics_of_split(cfg, "test")
    cfg = release_cfg(folder, test_topics=["topic_news2", "topic_conv3"])
    train_recs, _ = build_summhay_from_files(cfg, "train", 20, 0, tokenizer)
    test_recs, _ = build_summhay_from_files(cfg, "test", 20, 0, tokenizer)
    assert not {r["topic_id"] for r in train_recs} & {r["topic_id"] for r in test_recs}
    assert {Path(r["source"]).name for r in test_recs} <= names
    with pytest.raises(RecordError, match=r"'topic_news9' names no topic of .* \(its topics: .*topic_conv1"):
        topics_of_split(release_cfg(folder, test_topics=["topic_news9"]), "test")


def test_separate_train_and_test_folders_may_not_share_a_topic(tmp_path):
    write_release(tmp_path / "train", n_news=2, n_conv=0, **SMALL)
    write_release(tmp_path / "test", n_news=0, n_conv=1, **SMALL)
    cfg = release_cfg(tmp_path, test_topics=None)
    cfg["source"] |= {"train": str(tmp_path / "train"), "test": str(tmp_path / "test")}
    assert [Path(t.origin).name for t in topics_of_split(cfg, "test")] == ["topic_conv1.json"]
    shared = tmp_path / "train" / "topic_news1.json"
    copied = tmp_path / "test" / "same_topic_other_name.json"
    copied.write_text(shared.read_text())
    for split, first, second in (("test", copied, shared), ("train", shared, copied)):
        with pytest.raises(RecordError, match=rf"{first} \({split}\) and {second} .* one topic \(the same topic_id\)"):
            topics_of_split(cfg, split)
    topic = json.loads(shared.read_text())
    topic["topic_id"] = "an edited copy, renamed"
    copied.write_text(json.dumps(topic))
    copied.with_name("exact_copy.json").write_text(shared.read_text().replace("\n", "\n "))  # same content
    copied.unlink()
    with pytest.raises(RecordError, match=r"exact_copy.json \(test\) and .*topic_news1.json \(train\) are one topic"):
        topics_of_split(cfg, "test")
    # one folder for both splits needs a cut; a cut needs one source
    with pytest.raises(RecordError, match=r"real_data.train and real_data.test both read .*train, so every topic"):
        topics_of_split(release_cfg(tmp_path / "train", test_topics=None), "train")
    with pytest.raises(RecordError, match="test_topics cuts one source into train and test, but"):
        topics_of_split({**cfg, "test_topics": ["topic_news1"]}, "train")


def test_label_keys_must_agree_with_the_included_insights(tmp_path, tokenizer):
    topic, _ = make_topic(3, "news", **SMALL)
    doc = topic["documents"][4]
    other = next(
        ins["insight_id"]
        for sub in topic["subtopics"]
        for ins in sub["insights"]
        if ins["insight_id"] not in doc["insights_included"]
    )
    doc[f"label_{other}"] = 1
    path = write_topic(tmp_path / "topic_news1.json", topic)
    with pytest.raises(RecordError, match=rf"{path}: field 'documents\[4\]\.label_{other}': 1 disagrees"):
        topics_of_split(release_cfg(path, test_topics=["topic_news1"]), "test")


def test_the_hub_copy_is_one_split_of_topic_rows_cut_by_topic(monkeypatch, tokenizer):
    topics = [make_topic(seed, "news", **SMALL)[0] for seed in (1, 2)]
    columns = {key: [d[key] for d in topics[1]["documents"]] for key in topics[1]["documents"][0]}
    rows = [topics[0], {**topics[1], "documents": columns}]  # a row may hold its documents as columns
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda *a, **k: rows))
    source = {
        "kind": "hub",
        "hub_id": "Salesforce/summary-of-a-haystack",
        "hub_config": None,
        "train_split": "train",
        "test_split": "train",
        "on_unalignable": "drop",
    }
    cfg = {**release_cfg(Path("unused")), "source": source, "test_topics": ["row 1"]}
    test, _ = build_summhay_from_files(cfg, "test", 5, 0, tokenizer)
    train, _ = build_summhay_from_files(cfg, "train", 5, 0, tokenizer)
    assert {r["source"] for r in test} == {"Salesforce/summary-of-a-haystack[train] row 1"}
    assert {r["topic_id"] for r in train} == {topics[0]["topic_id"]}


def test_the_config_check_keeps_train_and_test_topics_apart():
    block = {"min_gold": 2, "max_gold": 3, "max_documents": 20, "test_topics": None}
    files = {"kind": "files", "train": "data/topics", "test": "data/topics/", "on_unalignable": "drop"}
    hub = {"kind": "hub", "hub_id": "Salesforce/summary-of-a-haystack", "train_split": "train", "test_split": "train"}
    check = SPEC.check_config
    assert check({**block, "real_data": {"kind": "embedded"}}) == []
    for source in (files, hub):
        assert [k for k, _ in check({**block, "real_data": source})] == ["test_topics"]
        assert check({**block, "real_data": source, "test_topics": ["topic_news5"]}) == []
        assert check({**block, "real_data": source, "test_topics": 0.2}) == []
    apart = {**files, "train": "data/train", "test": "data/test"}
    assert check({**block, "real_data": apart}) == []
    assert "differ" in check({**block, "real_data": apart, "test_topics": ["topic_news5"]})[0][1]
    assert "needs real_data.kind" in check({**block, "real_data": {"kind": "embedded"}, "test_topics": 0.5})[0][1]


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
