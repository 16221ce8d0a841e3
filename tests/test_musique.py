"""MuSiQue: official files (hand-made fixture, malformed records), the embedded miniature, synthetic chains."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path

import pytest

from synthctx.data.sources import RecordError
from synthctx.data.tasks import encode
from synthctx.data.tasks.musique import embedded, official, synthetic

FIXTURE = Path(__file__).parent / "fixtures" / "musique_ans.jsonl"
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*musique*")) if SAMPLES_DIR.exists() else []
LEVELS = ("high", "low", "symbolic")


build_musique_from_files = official.build


def build_real_musique(cfg, split, n, seed, tokenizer):
    records, dropped = embedded.build(cfg, split, n, seed, tokenizer)
    assert dropped == 0, "the embedded builder never drops"
    return records


def build_synthetic_musique(needle, haystack, cfg, n, seed, tokenizer):
    records, dropped = synthetic.build(needle, haystack, cfg, n, seed, tokenizer)
    assert dropped == 0, "the synthetic builder never drops"
    return records


def files_cfg(path: Path, **over) -> dict:
    """Both splits read the one fixture file, so every question is in both: allowed here by `report`."""
    return {
        "source": {
            "kind": "files",
            "train": str(path),
            "test": str(path),
            "on_unalignable": "error",
            "shared_questions": "report",
        },
        "target_tokens": 2000,
        "max_documents": 40,
        "gold_position": "last",
        **over,
    }


def check_record(rec: dict, tokenizer) -> None:
    """Spans are exact, lie in the right documents, and map to tokens."""
    ctx, spans = rec["context"], rec["spans"]
    ((s, e),) = spans["answer"]
    assert ctx[s:e] == rec["answers"][0]
    docs = {d["doc_id"]: d for d in rec["documents"]}
    gold_texts = [docs[i]["text"] for i in rec["gold_doc_ids"]]
    assert [ctx[gs:ge] for gs, ge in spans["gold_document"]] == gold_texts
    last = rec["hops"][-1]["doc_id"]
    assert rec["documents"][rec["gold_position"]]["doc_id"] == last
    ((ls, le),) = [span for span, i in zip(spans["gold_document"], rec["gold_doc_ids"]) if i == last]
    assert ls <= s and e <= le, "the answer lies in the last hop's document"
    assert len(spans["insight"]) == len(rec["hops"]) - 1
    for (is_, ie), hop in zip(spans["insight"], rec["hops"][:-1]):
        assert ctx[is_:ie].lower() == hop["answer"].lower()
        ((hs, he),) = [span for span, i in zip(spans["gold_document"], rec["gold_doc_ids"]) if i == hop["doc_id"]]
        assert hs <= is_ and ie <= he, "each bridge lies in its own hop's document"
    enc = encode(tokenizer, rec, rec["answers"][0])
    assert all(enc.span_positions[role] for role in ("answer", "insight", "gold_document"))
    assert enc.answer_positions


# ---------------------------------------------------------------- official format


def test_fixture_records_have_exact_spans_and_clean_padding(tokenizer):
    records, dropped = build_musique_from_files(files_cfg(FIXTURE), "test", 4, 0, tokenizer)
    assert dropped == 0 and len(records) == 4
    raws = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    for rec in records:
        check_record(rec, tokenizer)
        assert rec["task"] == "musique" and rec["gold_position"] == len(rec["documents"]) - 1
        line = int(rec["source"].rsplit(":", 1)[1])
        raw = raws[line - 1]
        own = {(p["title"], p["paragraph_text"]) for p in raw["paragraphs"]}
        forbidden = [
            a.lower()
            for a in [raw["answer"], *raw["answer_aliases"]] + [h["answer"] for h in raw["question_decomposition"]]
        ]
        expected_padding = {
            (p["title"], p["paragraph_text"])
            for i, r in enumerate(raws)
            if i != line - 1
            for p in r["paragraphs"]
            if not any(f in (p["title"] + " " + p["paragraph_text"]).lower() for f in forbidden)
        } - own
        got = [(d["title"], d["text"]) for d in rec["documents"]]
        assert len(got) == len(set(got)), "no paragraph twice"
        assert set(got) - own == expected_padding, "all clean paragraphs of other records, and only those"
        assert own <= set(got), "the record's own paragraphs are all kept when they fit"
        supporting = [f"{FIXTURE}:{line}:{p['idx']}" for p in raw["paragraphs"] if p["is_supporting"]]
        assert sorted(rec["gold_doc_ids"]) == sorted(supporting)
    by_id = {r["source_id"]: r for r in records}
    three = by_id["3hop1__1002_2002_3002"]
    assert three["answers"] == ["Silver Riksdal", "silver riksdal", "riksdal"]  # found case-insensitively
    assert [three["context"][s:e] for s, e in three["spans"]["insight"]] == ["Korsholm", "Estmark"]
    assert "Ferry routes" not in [d["title"] for d in three["documents"]]  # holds the hop answer "Korsholm"
    assert "Fishing towns" not in [d["title"] for d in by_id["2hop__1001_2001"]["documents"]]  # holds "Vellby"
    assert by_id["2hop__1004_2004"]["answers"] == ["Aune", "river Aune", "Aune River"]


def test_order_and_position_follow_config(tokenizer):
    a, _ = build_musique_from_files(files_cfg(FIXTURE, gold_position="first"), "test", 4, 3, tokenizer)
    b, _ = build_musique_from_files(files_cfg(FIXTURE, gold_position="first"), "test", 4, 3, tokenizer)
    assert a == b
    for rec in a:
        assert rec["gold_position"] == 0
        raw_order = [d["doc_id"] for d in rec["documents"] if d["doc_id"].startswith(rec["source"] + ":")]
        assert raw_order[1:] == sorted(raw_order[1:], key=lambda i: int(i.rsplit(":", 1)[1])), (
            "the record's other paragraphs keep their relative order"
        )
    short, _ = build_musique_from_files(files_cfg(FIXTURE, target_tokens=170), "test", 4, 0, tokenizer)
    for rec in short:
        check_record(rec, tokenizer)
        assert len(rec["documents"]) < 10
        assert len(rec["gold_doc_ids"]) == len({h["doc_id"] for h in rec["hops"]}), "supporting always kept"


def test_hub_rows_in_column_layout_build_the_same_records(monkeypatch, tokenizer):
    """`datasets` returns a Sequence of objects as a dict of columns; the loader turns it back into rows."""
    import datasets

    def columns(items: list[dict]) -> dict:
        return {k: [it[k] for it in items] for k in items[0]}

    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    hub_rows = [
        {**r, "paragraphs": columns(r["paragraphs"]), "question_decomposition": columns(r["question_decomposition"])}
        for r in rows
    ]
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config, split: hub_rows)
    source = {
        "kind": "hub",
        "hub_id": "someone/musique",
        "hub_config": "answerable",
        "train_split": "train",
        "test_split": "validation",
        "on_unalignable": "error",
        "shared_questions": "report",  # the stand-in returns the same rows for both splits
    }
    hub, _ = build_musique_from_files({**files_cfg(FIXTURE), "source": source}, "test", 4, 0, tokenizer)
    files, _ = build_musique_from_files(files_cfg(FIXTURE), "test", 4, 0, tokenizer)
    strip = lambda rec: json.loads(json.dumps(rec).replace(str(FIXTURE), "someone/musique[validation]"))  # noqa: E731
    assert hub == [strip(r) for r in files]


def _write_mutated(tmp_path: Path, line: int, mutate) -> Path:
    lines = FIXTURE.read_text().splitlines()
    bad = json.loads(lines[line - 1])
    mutate(bad)
    lines[line - 1] = json.dumps(bad)
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _escaped(s: str) -> str:
    return s.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda r: r.pop("question"), "question"),
        (lambda r: r.pop("answer_aliases"), "answer_aliases"),
        (lambda r: r.__setitem__("answer_aliases", ["Vellby", " "]), "answer_aliases[1]"),
        (lambda r: r["paragraphs"][2].pop("paragraph_text"), "paragraphs[2].paragraph_text"),
        (
            lambda r: r["question_decomposition"][1].__setitem__("paragraph_support_idx", 17),
            "question_decomposition[1].paragraph_support_idx",
        ),
        (
            lambda r: r["question_decomposition"][0].__setitem__("paragraph_support_idx", 0),  # not supporting
            "question_decomposition[0].paragraph_support_idx",
        ),
        (lambda r: r.__setitem__("answerable", False), "answerable"),
    ],
)
def test_a_malformed_record_names_file_line_and_field(tmp_path, tokenizer, mutate, field):
    path = _write_mutated(tmp_path, 2, mutate)
    with pytest.raises(RecordError, match=_escaped(f"{path}:2: field '{field}'")):
        build_musique_from_files(files_cfg(path), "test", 1, 0, tokenizer)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (
            lambda r: r["question_decomposition"][1].__setitem__("answer", "Nowhere Town"),
            "question_decomposition[1].answer",
        ),
        (
            lambda r: (
                r.update(answer="pebbles", answer_aliases=[])
                or r["question_decomposition"][2].__setitem__("answer", "pebbles")
            ),
            "answer",
        ),
    ],
)
def test_unalignable_hop_answer_is_an_error_unless_dropped(tmp_path, tokenizer, mutate, field):
    path = _write_mutated(tmp_path, 2, mutate)
    with pytest.raises(RecordError, match=_escaped(f"{path}:2: field '{field}'")):
        build_musique_from_files(files_cfg(path), "test", 4, 0, tokenizer)
    cfg = files_cfg(path)
    cfg["source"]["on_unalignable"] = "drop"
    records, dropped = build_musique_from_files(cfg, "test", 3, 0, tokenizer)
    assert dropped == 1 and len(records) == 3
    assert not any(r["source"].endswith(":2") for r in records)
    with pytest.raises(RecordError, match="only 3 of 4"):
        build_musique_from_files(cfg, "test", 4, 0, tokenizer)


@pytest.mark.skipif(not SAMPLES, reason="no MuSiQue sample in shared/data/real-samples")
def test_real_samples_load(tokenizer):
    cfg = files_cfg(SAMPLES[0], gold_position="uniform", target_tokens=3000, max_documents=30)
    cfg["source"]["on_unalignable"] = "drop"
    records, dropped = build_musique_from_files(cfg, "test", 20, 0, tokenizer)
    assert len(records) == 20
    for rec in records:
        check_record(rec, tokenizer)


# ---------------------------------------------------------------- embedded miniature


def test_embedded_miniature_is_deterministic_with_exact_spans(tokenizer, data_cfg):
    cfg = {**data_cfg, "target_tokens": 1200}
    a = build_real_musique(cfg, "test", 10, 0, tokenizer)
    assert a == build_real_musique(cfg, "test", 10, 0, tokenizer)
    assert [r["question"] for r in a] != [r["question"] for r in build_real_musique(cfg, "test", 10, 1, tokenizer)]
    for rec in a:
        check_record(rec, tokenizer)
        year = rec["answers"][0]
        doc_a, doc_b = (next(d for d in rec["documents"] if d["doc_id"] == i) for i in rec["gold_doc_ids"])
        assert rec["gold_doc_ids"] == [h["doc_id"] for h in rec["hops"]] and len(rec["hops"]) == 2
        assert f'"{doc_a["title"]}"' in rec["question"]
        ((s, e),) = rec["spans"]["insight"]
        assert rec["context"][s:e] == doc_b["title"], "the bridge is B's title inside A"
        assert doc_a["text"].count(doc_b["title"]) >= 1 and doc_b["text"].count(year) == 1
        assert rec["context"].count(year) == 1
        for d in rec["documents"]:
            if d["doc_id"] not in rec["gold_doc_ids"]:
                assert year not in d["text"] and doc_b["title"].lower() not in (d["title"] + d["text"]).lower()
        assert len(rec["documents"]) > 5
        # LengthFitter counts every header as "Document [1]": a token more per two-digit index is allowed
        assert encode(tokenizer, rec, None).prompt_length <= cfg["target_tokens"] + max(8, len(rec["documents"]))


def test_embedded_miniature_splits_are_disjoint(tokenizer, data_cfg):
    train = build_real_musique(data_cfg, "train", 6, 0, tokenizer)
    test = build_real_musique(data_cfg, "test", 6, 0, tokenizer)
    docs = lambda recs: {d["doc_id"] for r in recs for d in r["documents"]}  # noqa: E731
    assert not docs(train) & docs(test)
    with pytest.raises(ValueError, match="two-hop chains"):
        build_real_musique(data_cfg, "test", 10_000, 0, tokenizer)


# ---------------------------------------------------------------- synthetic chains


@pytest.fixture(scope="module")
def musique_synthetic_cfg(synthetic_cfg) -> dict:
    return {**synthetic_cfg, "target_tokens": 700, "needle": {"symbol_length": 4}, "hops": 3}


@pytest.mark.parametrize("needle,haystack", list(itertools.product(LEVELS, LEVELS)))
def test_every_synthetic_variant_has_exact_spans_and_fits_length(tokenizer, musique_synthetic_cfg, needle, haystack):
    cfg = musique_synthetic_cfg
    recs = build_synthetic_musique(needle, haystack, cfg, 3, 5, tokenizer)
    assert recs == build_synthetic_musique(needle, haystack, cfg, 3, 5, tokenizer)
    for rec in recs:
        check_record(rec, tokenizer)
        assert len(rec["hops"]) == 3 and len(rec["gold_doc_ids"]) == 3
        ctx = rec["context"]
        assert ctx.count(rec["answers"][0]) == 1
        for s, e in rec["spans"]["insight"]:
            assert ctx.count(ctx[s:e]) == 2, "a bridge occurs as its hop's answer and as the next hop's subject"
        # LengthFitter counts every header as "Document [1]": a token more per two-digit index is allowed
        assert encode(tokenizer, rec, None).prompt_length <= cfg["target_tokens"] + max(8, len(rec["documents"]))
        assert len(rec["documents"]) > 3


@pytest.mark.parametrize("needle", LEVELS)
def test_hops_are_configurable_and_levels_look_as_claimed(tokenizer, musique_synthetic_cfg, needle):
    cfg = {**musique_synthetic_cfg, "hops": 2, "gold_position": "middle"}
    (rec,) = build_synthetic_musique(needle, "low", cfg, 1, 0, tokenizer)
    check_record(rec, tokenizer)
    assert len(rec["hops"]) == 2 and len(rec["spans"]["insight"]) == 1
    assert rec["gold_position"] == len(rec["documents"]) // 2
    assert "The grass is green." in rec["context"]
    first = rec["hops"][0]
    if needle == "high":
        assert rec["question"].startswith("In which country did ")
    elif needle == "low":
        assert rec["question"].startswith("What is the country of the place of death of ")
        assert f"{first['answer']} is the place of death of " in rec["context"]
    else:
        assert rec["question"].startswith("Look up the key ")
        assert f"'{first['answer']}': '{rec['answers'][0]}'" in rec["context"], "the value found is the next key"
    with pytest.raises(ValueError, match="hops"):
        build_synthetic_musique(needle, "low", {**cfg, "hops": 5}, 1, 0, tokenizer)


def test_symbolic_chain_lives_in_named_dictionaries(tokenizer, musique_synthetic_cfg):
    (rec,) = build_synthetic_musique("symbolic", "symbolic", musique_synthetic_cfg, 1, 0, tokenizer)
    hop_docs = [next(d for d in rec["documents"] if d["doc_id"] == h["doc_id"]) for h in rec["hops"]]
    assert all(d["text"].startswith("{") and d["title"] in rec["question"] for d in hop_docs)
    positions = [rec["question"].index(d["title"]) for d in hop_docs]
    assert positions == sorted(positions), "the question names the dictionaries in chain order"


def test_release_shaped_records_keep_their_twenty_paragraphs_and_pad_to_length(tmp_path, tokenizer):
    """Records shaped like MuSiQue-Ans v1.0 (20 paragraphs, 2-4 hops, "#1" references) build with exact spans;
    every paragraph of the record fits at 3,000 tokens and other records' paragraphs pad it, none holding
    an answer of the record."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from release_fixtures.musique import write_split

    path = write_split(tmp_path / "musique_ans_v1.0_dev.jsonl", 12, seed=3)
    raw = {json.loads(line)["id"]: json.loads(line) for line in path.read_text().splitlines()}
    assert all(len(r["paragraphs"]) == 20 for r in raw.values())
    records, dropped = build_musique_from_files(files_cfg(path, target_tokens=3000), "test", 8, 0, tokenizer)
    assert dropped == 0 and len(records) == 8
    for rec in records:
        check_record(rec, tokenizer)
        source = raw[rec["source_id"]]
        own = {f"{rec['source']}:{p['idx']}" for p in source["paragraphs"]}
        assert own <= {d["doc_id"] for d in rec["documents"]}, "all 20 own paragraphs fit"
        padding = [d for d in rec["documents"] if d["doc_id"] not in own]
        assert padding, "3,000 tokens hold more than the record's own paragraphs"
        answers = [h["answer"].lower() for h in source["question_decomposition"]] + [source["answer"].lower()]
        assert not any(a in (d["title"] + " " + d["text"]).lower() for d in padding for a in answers)
        assert len(tokenizer(rec["context"])["input_ids"]) <= 3000


def test_train_and_test_sources_sharing_a_question_are_refused_by_default(tmp_path, tokenizer):
    lines = FIXTURE.read_text().splitlines()
    train, test = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text("\n".join(lines[:2]) + "\n")
    shared = json.loads(lines[1])
    shared["id"] = "2hop__other"
    shared["question"] = shared["question"].upper() + "  "  # the same question, normalised
    test.write_text("\n".join([*lines[2:], json.dumps(shared)]) + "\n")
    cfg = files_cfg(train)
    cfg["source"] = {**cfg["source"], "test": str(test), "shared_questions": "refuse"}
    with pytest.raises(
        RecordError, match=re.escape(f"share 1 of their questions (normalised), e.g. {test}:3 and {train}:2")
    ):
        build_musique_from_files(cfg, "test", 1, 0, tokenizer)
    cfg["source"]["shared_questions"] = "report"
    records, _ = build_musique_from_files(cfg, "test", 2, 0, tokenizer)
    assert len(records) == 2
    cfg["source"]["test"] = str(train)  # both splits on one file: everything is shared
    cfg["source"]["shared_questions"] = "refuse"
    with pytest.raises(RecordError, match="share 2 of their questions"):
        build_musique_from_files(cfg, "train", 1, 0, tokenizer)


def test_a_repeated_id_names_both_lines(tmp_path, tokenizer):
    lines = FIXTURE.read_text().splitlines()
    copy = json.loads(lines[0])
    copy["question"] = "a different question with the same id?"
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([*lines, json.dumps(copy)]) + "\n")
    with pytest.raises(
        RecordError, match=re.escape(f"{path}:5: field 'id': repeated id {copy['id']!r}, first at {path}:1")
    ):
        build_musique_from_files(files_cfg(path), "test", 1, 0, tokenizer)


def test_too_few_usable_records_name_the_file(tmp_path, tokenizer):
    empty = tmp_path / "train.jsonl"
    empty.write_text("")
    cfg = files_cfg(empty)
    cfg["source"] = {**cfg["source"], "test": str(FIXTURE)}
    with pytest.raises(RecordError, match=re.escape(f"only 0 of 2 usable records in {empty} (0 dropped")):
        build_musique_from_files(cfg, "train", 2, 0, tokenizer)
