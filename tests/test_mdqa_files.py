"""Real MDQA from the official "Lost in the Middle" format: hand-made records, malformed ones, generated files
shaped like the release (tests/release_fixtures/mdqa.py), and the real oracle samples when present."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from release_fixtures.mdqa import GOLD_INDICES, read_jsonl_gz, release_name, write_release
from synthctx.data.sources import RecordError
from synthctx.data.tasks import encode, mdqa
from synthctx.data.tasks.mdqa.official import answer_offset, split_questions
from synthctx.data.tasks.mdqa.official import build as build_mdqa_from_files
from synthctx.plan.config import DefaultingValidator

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "mdqa_lost_in_the_middle.jsonl"
SAMPLES = REPO.parent / "shared" / "data" / "real-samples" / "nq-open-oracle.jsonl.gz"
N_QUESTIONS = 60


def norm(question: str) -> str:
    """The test's own normalisation (lower-cased word runs), independent of the loader's."""
    return " ".join(re.findall(r"\w+", question.lower()))


def mentions(text: str, answers: list[str]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(a)}(?![A-Za-z0-9_])", text, re.IGNORECASE) for a in answers)


def cfg(test: Path, train: Path, **over) -> dict:
    """The train/test form: two files that are the splits."""
    return {
        "source": {"kind": "files", "train": str(train), "test": str(test), "on_unalignable": "error"},
        "release_files": [],
        "test_share": 0.2,
        "file_gold_position": "place",
        "target_tokens": 2000,
        "max_documents": 20,
        "gold_position": "last",
        **over,
    }


def release_cfg(paths: list[Path], **over) -> dict:
    """The release form: every file pooled and split by question."""
    return {**cfg(paths[0], paths[0]), "gold_position": "uniform", "release_files": [str(p) for p in paths], **over}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> list[Path]:
    """The five gold_at_k files of 60 generated questions."""
    return write_release(tmp_path_factory.mktemp("mdqa-release"), N_QUESTIONS, seed=0)


@pytest.fixture(scope="module")
def other_train(tmp_path_factory) -> Path:
    """A training file whose questions are not the hand-made fixture's."""
    return write_release(tmp_path_factory.mktemp("mdqa-train"), 5, seed=1, gold_indices=(0,))[0]


# --- the train/test form ---


def test_official_records_become_records_with_exact_spans(tokenizer, other_train):
    records, dropped = build_mdqa_from_files(cfg(FIXTURE, other_train), "test", 3, 0, tokenizer)
    assert dropped == 0 and len(records) == 3
    for rec in records:
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e].lower() in [a.lower() for a in rec["answers"]]
        assert rec["gold_position"] == len(rec["documents"]) - 1
        assert rec["source"].startswith(str(FIXTURE))
    by_q = {r["question"]: r for r in records}
    assert by_q["what is the capital of the island of Orla"]["answers"][0] == "port sen"  # case-insensitive match
    assert by_q["who painted the ceiling of the hall of winds"]["answers"] == ["Mara Velt", "M. Velt"]


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda r: r.pop("question"), "question"),
        (lambda r: r.__setitem__("answers", []), "answers"),
        (lambda r: r["answers"].append(" "), "answers[1]"),  # a blank answer would credit an empty prediction
        (lambda r: [c.__setitem__("isgold", False) for c in r["ctxs"]], "ctxs[].isgold"),
        (lambda r: r["ctxs"][1].pop("text"), "ctxs[1].text"),
    ],
)
def test_a_malformed_record_names_file_line_and_field(tmp_path, tokenizer, other_train, mutate, field):
    lines = FIXTURE.read_text().splitlines()
    bad = json.loads(lines[1])
    mutate(bad)
    lines[1] = json.dumps(bad)
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=rf"{path}:2: field '{field}'".replace("[", r"\[").replace("]", r"\]")):
        build_mdqa_from_files(cfg(path, other_train), "test", 3, 0, tokenizer)


def test_unalignable_answers_are_an_error_unless_dropped(tmp_path, tokenizer, other_train):
    rec = json.loads(FIXTURE.read_text().splitlines()[0])
    rec["question"] = "who painted the floor of the hall of winds"
    rec["answers"] = ["Nobody At All"]
    path = tmp_path / "one.jsonl"
    path.write_text(FIXTURE.read_text() + json.dumps(rec) + "\n")
    with pytest.raises(RecordError, match=r"one.jsonl:4: field 'answers'"):
        build_mdqa_from_files(cfg(path, other_train), "test", 4, 0, tokenizer)
    c = cfg(path, other_train)
    c["source"]["on_unalignable"] = "drop"
    records, dropped = build_mdqa_from_files(c, "test", 3, 0, tokenizer)
    assert dropped == 1 and len(records) == 3


def test_train_and_test_files_sharing_questions_are_refused_naming_both(release, tokenizer):
    at0, at4 = release[0], release[1]  # the same questions, gold at 0 and at 4
    for split in ("train", "test"):
        with pytest.raises(RecordError) as err:
            build_mdqa_from_files(cfg(at4, at0), split, 3, 0, tokenizer)
        assert str(at0) in str(err.value) and str(at4) in str(err.value)
        assert f"share {N_QUESTIONS} of their questions" in str(err.value)


def test_a_question_shared_only_up_to_case_and_punctuation_is_refused(tmp_path, tokenizer, other_train):
    rec = read_jsonl_gz(other_train)[2]
    rec["question"] = rec["question"].upper() + " ?"
    path = tmp_path / "test.jsonl"
    path.write_text(FIXTURE.read_text() + json.dumps(rec) + "\n")
    with pytest.raises(RecordError, match=rf"share 1 of their questions.*and {other_train}:3"):
        build_mdqa_from_files(cfg(path, other_train), "test", 3, 0, tokenizer)


# --- the release form: one pool of questions, split by question ---


def test_the_split_never_shares_a_question_and_covers_every_one(release, tokenizer):
    c = release_cfg(release, target_tokens=400)
    built = {}
    for split in ("train", "test"):
        n = len(split_questions(c, split))
        records, dropped = build_mdqa_from_files(c, split, n, 0, tokenizer)
        assert dropped == 0
        built[split] = [norm(r["question"]) for r in records]
        assert len(set(built[split])) == n, "one record per question, however many files hold it"
    everything = {norm(r["question"]) for r in read_jsonl_gz(release[0])}
    assert not set(built["train"]) & set(built["test"])
    assert set(built["train"]) | set(built["test"]) == everything
    assert 0.1 < len(built["test"]) / N_QUESTIONS < 0.35  # test_share 0.2 of 60 questions


def test_the_split_depends_on_the_question_only(release, tmp_path):
    """Not on the seed, the file order or which other questions are in the pool."""
    c = release_cfg(release)

    def test_questions(config) -> set[str]:
        return {norm(g[0][2]["question"]) for g in split_questions(config, "test")}

    reference = test_questions(c)
    assert test_questions(release_cfg(release[::-1])) == reference
    assert test_questions(release_cfg(release[2:3])) == reference
    subset = tmp_path / "subset.jsonl"  # a third of the questions, in another order, in another file
    rows = read_jsonl_gz(release[3])[::-3]
    subset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert test_questions(release_cfg([subset])) == reference & {norm(r["question"]) for r in rows}


def test_records_are_the_same_for_any_file_order_and_differ_by_seed(release, tokenizer):
    c, n = release_cfg(release, target_tokens=600), 6
    records = build_mdqa_from_files(c, "test", n, 0, tokenizer)[0]
    assert build_mdqa_from_files(release_cfg(release[::-1], target_tokens=600), "test", n, 0, tokenizer)[0] == records
    other_seed = build_mdqa_from_files(c, "test", n, 1, tokenizer)[0]
    assert other_seed != records
    assert {norm(r["question"]) for r in other_seed} <= {norm(g[0][2]["question"]) for g in split_questions(c, "test")}


def test_several_gold_at_k_files_hold_each_question_once(release, tokenizer):
    c = release_cfg(release, target_tokens=4000, file_gold_position="keep")
    groups = split_questions(c, "test")
    assert all(len(g) == len(GOLD_INDICES) for g in groups), "one copy per file"
    records, _ = build_mdqa_from_files(c, "test", len(groups), 0, tokenizer)
    assert len({norm(r["question"]) for r in records}) == len(groups)
    with pytest.raises(RecordError) as err:
        build_mdqa_from_files(c, "test", len(groups) + 1, 0, tokenizer)
    assert f"only {len(groups)} of {len(groups) + 1} usable records in {', '.join(c['release_files'])}" in str(
        err.value
    )
    # each record drew one copy with the seeded rng: gold positions from several files
    drawn = {r["source_gold_index"] for r in records}
    assert len(drawn) > 1 and drawn <= set(GOLD_INDICES)
    for rec in records:
        assert rec["source"].split(":")[0].endswith(release_name(rec["source_gold_index"]))


@pytest.mark.parametrize("k", [0, 9, 19])
def test_gold_kept_at_the_files_index(release, tokenizer, k):
    path = release[GOLD_INDICES.index(k)]
    c = release_cfg([path], target_tokens=6000, file_gold_position="keep")  # room for the 20 passages, no more
    records, _ = build_mdqa_from_files(c, "test", 5, 0, tokenizer)
    for rec in records:
        assert len(rec["documents"]) == 20 and rec["padding_documents"] == 0
        assert rec["gold_position"] == rec["source_gold_index"] == k
        assert rec["gold_doc_ids"] == [rec["documents"][k]["doc_id"]] == [f"{rec['source']}:{k}"]
    # padded, the file's position is scaled to the prompt's documents: first stays first, last stays last
    c = release_cfg([path], target_tokens=6000, max_documents=80, file_gold_position="keep")
    for rec in build_mdqa_from_files(c, "test", 5, 0, tokenizer)[0]:
        n = len(rec["documents"])
        assert n > 20 and rec["gold_position"] == round(k * (n - 1) / 19)
    # place: where gold_position says, whatever the file
    c = release_cfg([path], target_tokens=6000, gold_position="last")
    assert all(r["gold_position"] == 19 for r in build_mdqa_from_files(c, "test", 5, 0, tokenizer)[0])


def test_padding_reaches_the_target_with_other_questions_passages(release, tokenizer):
    target = 8192
    c = release_cfg(release, target_tokens=target, max_documents=80)
    groups = split_questions(c, "test")
    records, _ = build_mdqa_from_files(c, "test", len(groups), 0, tokenizer)
    own_questions = {norm(r["question"]) for r in records}
    pool = [ctx for g in groups for ctx in g[0][2]["ctxs"]]
    risky = 0  # passages of the pool that mention some record's answer: what the padding must avoid
    for rec in records:
        risky += sum(mentions(p["title"] + "\n" + p["text"], rec["answers"]) for p in pool)
        n_tokens = len(encode(tokenizer, rec, None).input_ids)
        # stops at the first passage that does not fit (~150 tokens); the fitter counts a separator as 1 token
        assert target - 300 <= n_tokens <= target + len(rec["documents"]), n_tokens
        assert 20 < len(rec["documents"]) <= 80 and rec["padding_documents"] == len(rec["documents"]) - 20
        own = [d for d in rec["documents"] if d["doc_id"].startswith(rec["source"] + ":")]
        padding = [d for d in rec["documents"] if d not in own]
        assert len(own) == 20 and len(padding) == rec["padding_documents"]
        assert not any(mentions(d["title"] + "\n" + d["text"], rec["answers"]) for d in padding)
        texts = [(d["title"], d["text"]) for d in rec["documents"]]
        assert len(set(texts)) == len(texts), "no passage twice"
        for d in padding:  # from another question of the same split
            origin, line, _ = d["doc_id"].rsplit(":", 2)
            question = read_jsonl_gz(Path(origin))[int(line) - 1]["question"]
            assert norm(question) in own_questions and norm(question) != norm(rec["question"])
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e] == rec["answers"][0]
    assert risky > 0, "the fixture's pool holds answer-bearing passages for the filter to avoid"


# --- finding the answer ---


def test_answers_are_found_as_whole_words_first():
    assert answer_offset("Route 2018 was renumbered in 1990; the new Route 201 opened.", ["201"]) == ("201", 49)
    assert answer_offset("Russia and the US signed it.", ["us"]) == ("US", 15)
    assert answer_offset("Port Senna lies north of port sen.", ["Port Sen"]) == ("port sen", 25)
    assert answer_offset("The 2018 season.", ["201"]) == ("201", 4)  # a substring only when no whole word
    assert answer_offset("Nothing here.", ["201"]) is None


def test_the_answer_span_is_the_whole_word(tmp_path, tokenizer, other_train):
    rec = json.loads(FIXTURE.read_text().splitlines()[1])
    rec["question"], rec["answers"] = "which route opened after the renumbering", ["201"]
    rec["ctxs"][1]["text"] = "Route 2018 was renumbered in 1990; the new Route 201 opened."
    path = tmp_path / "route.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    ((record,), _) = build_mdqa_from_files(cfg(path, other_train), "test", 1, 0, tokenizer)
    ((s, e),) = record["spans"]["answer"]
    gold_text = record["documents"][record["gold_position"]]["text"]
    assert record["context"][s - 49 : e] == gold_text[:52] and record["context"][s:e] == "201"


# --- configuration ---


def mdqa_block(**over) -> dict:
    block = yaml.safe_load((REPO / "config/config.yaml").read_text())["tasks"]["mdqa"]
    return {**block, "release_files": [], "test_share": 0.2, "file_gold_position": "place", **over}


def test_config_checks_name_the_problem():
    files = {"kind": "files", "train": "a.jsonl", "test": "a.jsonl", "on_unalignable": "drop"}
    assert mdqa.SPEC.check_config(mdqa_block()) == []
    ((key, why),) = mdqa.SPEC.check_config(mdqa_block(real_data=files))
    assert key == "real_data" and "same file" in why
    assert mdqa.SPEC.check_config(mdqa_block(real_data=files, release_files=["./a.jsonl", "b.jsonl"])) == []
    ((key, why),) = mdqa.SPEC.check_config(
        mdqa_block(real_data={**files, "test": "c.jsonl"}, release_files=["a.jsonl"])
    )
    assert key == "release_files" and "real_data.test (c.jsonl)" in why
    hub = {"kind": "hub", "hub_id": "x/y", "train_split": "a", "test_split": "b", "on_unalignable": "drop"}
    ((key, why),) = mdqa.SPEC.check_config(mdqa_block(real_data=hub, release_files=["a.jsonl"]))
    assert key == "release_files" and "kind: files" in why
    ((key, _),) = mdqa.SPEC.check_config(mdqa_block(file_gold_position="keep"))
    assert key == "file_gold_position"


def test_the_paper_config_reads_the_release_files():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    block = yaml.safe_load((REPO / "config/paper.yaml").read_text())["tasks"]["mdqa"]
    errors = list(
        DefaultingValidator(
            {"$defs": schema["$defs"], **schema["properties"]["tasks"]["properties"]["mdqa"]}
        ).iter_errors(block)
    )
    assert not errors, errors[0].message
    assert mdqa.SPEC.check_config(block) == []
    assert [Path(p).name for p in block["release_files"]] == [release_name(k) for k in GOLD_INDICES]
    assert block["n_test"] <= 505 and block["n_train_real"] <= 2150  # the split of the 2,655 questions at 0.2
    # a 100-word passage and its header take ~140 tokens: 120 a document leaves the token target binding
    assert block["test_share"] == 0.2 and block["max_documents"] * 120 >= block["target_tokens"]


# --- the real samples (the release's 2,655 questions with the gold passage only) ---


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared real samples not present")
def test_real_samples_load_and_split(tokenizer):
    c = release_cfg([SAMPLES], file_gold_position="keep")
    c["source"]["on_unalignable"] = "drop"
    sizes = {split: len(split_questions(c, split)) for split in ("train", "test")}
    assert sizes == {"train": 2150, "test": 505}  # every record passed the format check on the way
    records, dropped = build_mdqa_from_files(c, "test", 50, 0, tokenizer)
    assert len(records) == 50 and dropped < 50
    for rec in records:
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e].lower() == rec["answers"][0].lower()
        assert rec["source_gold_index"] == 0 and rec["gold_position"] == 0  # one passage, kept first
        assert rec["padding_documents"] == len(rec["documents"]) - 1 > 0  # padded with other questions' gold


def test_a_question_repeated_within_one_file_names_both_lines(tmp_path, tokenizer, other_train):
    lines = FIXTURE.read_text().splitlines()
    again = json.loads(lines[0])
    again["question"] = again["question"].upper()
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([*lines, json.dumps(again)]) + "\n")
    with pytest.raises(
        RecordError, match=rf"{path}:{len(lines) + 1}: field 'question': repeats the question of line 1"
    ):
        build_mdqa_from_files(cfg(path, other_train), "test", 1, 0, tokenizer)
