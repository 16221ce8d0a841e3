"""Held-out intervention examples: the real test split is cut, in file order, into a ranking part, a measured
part and a calibration part, disjoint; planning refuses a split too short for them, naming the keys; the
knockout and patching jobs rank the heads on the ranking records only and record every part's ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from synthctx.cli import build_parser
from synthctx.data.tasks import build_synthetic
from synthctx.jobs.outputs import write_jsonl_atomic as write_jsonl
from synthctx.plan.config import ConfigError, load_config_files, validate_config
from synthctx.plan.settings import KnockoutRun, PatchingRun, SliceError, intervention_parts
from synthctx.plan.slices import as_json
from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
KEYS = ("interventions.ranking_examples", "interventions.n_examples", "interventions.knockout.calibration_examples")


def test_the_three_parts_are_disjoint_and_in_file_order():
    parts = intervention_parts(10, 3, 4, 2)
    assert (list(parts.ranking), list(parts.measured), list(parts.calibration)) == (
        [0, 1, 2],
        [3, 4, 5, 6],
        [7, 8],
    )
    rest = intervention_parts(10, 3, None, 2)  # null: every example between ranking and calibration
    assert (list(rest.ranking), list(rest.measured), list(rest.calibration)) == ([0, 1, 2], [3, 4, 5, 6, 7], [8, 9])
    exact = intervention_parts(6, 2, 2, 2)
    assert (list(exact.ranking), list(exact.measured), list(exact.calibration)) == ([0, 1], [2, 3], [4, 5])
    assert list(intervention_parts(5, 2, 3, 0).calibration) == []


@pytest.mark.parametrize("sizes", [(6, 3, 3, 1), (6, 4, None, 2), (6, 0, 2, 0), (4, 2, 2, 1)])
def test_a_split_too_short_is_refused_naming_the_keys(sizes):
    with pytest.raises(SliceError) as err:
        intervention_parts(*sizes)
    assert all(key in str(err.value) for key in (*KEYS, "tasks.<task>.n_test"))


def _validated(tmp_path: Path, override: str) -> dict:
    extra = tmp_path / "override.yaml"
    extra.write_text(override)
    files = [REPO / "config/config.yaml", extra]
    cfg = load_config_files(files)
    validate_config(cfg, SCHEMA, files)
    return cfg


def test_the_default_split_holds_the_parts(tmp_path):
    cfg = _validated(tmp_path, "grid: {tasks: [mdqa, musique, summhay]}\n")
    iv = cfg["interventions"]
    assert (iv["ranking_examples"], iv["n_examples"]) == (8, 8)  # 8 + 8 of n_test 24, 20, 20
    assert [cfg["tasks"][t]["n_test"] for t in ("mdqa", "musique", "summhay")] == [24, 20, 20]


def test_planning_refuses_a_split_too_short_naming_the_keys(tmp_path):
    override = "grid: {tasks: [mdqa, musique]}\ninterventions: {ranking_examples: 10, n_examples: 12}\n"
    with pytest.raises(ConfigError) as err:  # 10 + 12 = 22: fits MDQA's 24, not MuSiQue's 20
        _validated(tmp_path, override)
    msg = str(err.value)
    assert "key 'tasks.musique.n_test'" in msg and "tasks.musique.n_test (20)" in msg, msg
    assert "tasks.mdqa.n_test" not in msg, msg
    assert all(key in msg for key in KEYS), msg


def test_calibration_counts_under_mean_semantics_only(tmp_path):
    base = "grid: {tasks: [musique]}\ninterventions: {ranking_examples: 8, n_examples: 8, knockout: {%s}}\n"
    _validated(tmp_path, base % "semantics: uniform, calibration_examples: 5")  # 16 of 20: fits
    _validated(tmp_path, base % "semantics: mean, calibration_examples: 4")  # 20 of 20: fits
    with pytest.raises(ConfigError, match=r"tasks\.musique\.n_test \(20\) cannot hold"):
        _validated(tmp_path, base % "semantics: mean, calibration_examples: 5")  # 21 of 20


# --- the jobs, on a tiny model ---

COMMON = {
    "dtype": "float32", "ranking_examples": 2, "n_examples": 2, "ranked_by": "teacher_forced", "argmax_over": "all",
    "insight_normalization": "answer_steps", "copy_match": "exact", "head_kinds": ["retrieval"], "max_new_tokens": 3,
}  # fmt: skip
KNOCKOUT = KnockoutRun(
    **{**COMMON, "head_kinds": ("retrieval",)}, calibration_examples=2, semantics="mean", scope="answer", k=(1,),
    random_draws=3, exclude_top=2,
)  # fmt: skip
PATCHING = PatchingRun(
    **{**COMMON, "head_kinds": ("retrieval",)}, calibration_examples=0, set_rule="top_k", threshold=0.0, top_k=2,
    random_draws=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def split(tmp_path_factory, tokenizer, synthetic_cfg) -> tuple[Path, list[dict]]:
    """Seven test records (one more than the parts need: the last is in none of them)."""
    folder = tmp_path_factory.mktemp("held_out")
    records, _ = build_synthetic("mdqa", "low", "low", {**synthetic_cfg, "target_tokens": 150}, 7, 0, tokenizer)
    write_jsonl(folder / "test.jsonl", records)
    (folder / "scores.json").write_text(json.dumps({"n_layers": 2, "n_heads": 4, "condition": {"data": "real"}}))
    return folder, records


def _run(stage: str, settings, folder: Path, model_dir: Path, out: Path, *extra: str) -> None:
    argv = [stage, "--config", as_json(settings), "--task", "mdqa", "--data", "low-low", "--model", "tiny",
            "--seed", "0", "--model-dir", str(model_dir), "--records", str(folder / "test.jsonl"),
            "--scores", str(folder / "scores.json"), "--out", str(out), *extra]  # fmt: skip
    a = build_parser().parse_args(argv)
    a.fn(a)


def _reference_scores(tiny_model_dir: Path, records: list[dict]) -> np.ndarray:
    """The heads stage's scorer, called here on the ranking records alone (teacher-forced, every example)."""
    from synthctx.heads.scoring import score_heads
    from synthctx.models.model_io import load_model, load_tokenizer

    model = load_model(tiny_model_dir, "float32")
    scored = score_heads(model, load_tokenizer(tiny_model_dir), records, {}, "teacher_forced", "all", "answer_steps",
                         "exact")  # fmt: skip
    return np.asarray(scored["retrieval"]["scores"])


def test_the_knockout_job_ranks_on_the_ranking_records_only(tmp_path, tiny_model_dir, split, monkeypatch):
    from synthctx.heads import scoring
    from synthctx.interventions import experiments

    folder, records = split
    calibrated, ranked = [], []
    calibrate, score = experiments.calibration_means, scoring.score_heads

    def calibration_spy(model, tokenizer, recs):
        calibrated.extend(r["id"] for r in recs)
        return calibrate(model, tokenizer, recs)

    def scoring_spy(model, tokenizer, recs, *args):
        ranked.extend(r["id"] for r in recs)
        return score(model, tokenizer, recs, *args)

    monkeypatch.setattr(experiments, "calibration_means", calibration_spy)
    monkeypatch.setattr(scoring, "score_heads", scoring_spy)
    out = tmp_path / "knockout.json"
    _run("knockout", KNOCKOUT, folder, tiny_model_dir, out)
    result, ids = json.loads(out.read_text()), [r["id"] for r in records]
    assert result["ranked_on"] == "held-out ranking examples"
    assert (result["ranking_ids"], result["example_ids"], result["calibration_ids"]) == (ids[:2], ids[2:4], ids[4:6])
    assert calibrated == ids[4:6] and ranked == ids[:2]  # what the job handed the scorer and the calibration
    expected = _reference_scores(tiny_model_dir, records[:2])
    got = result["ranking_scores"]["retrieval"]
    assert got["scored_ids"] == ids[:2] and np.array_equal(np.asarray(got["scores"]), expected)
    (top,) = [r for r in result["rows"] if r["control"] == "top"]
    if expected.max() > 0:  # the top head is the ranking records' best
        assert expected[tuple(top["heads"][0])] == expected.max()
    else:  # a random tiny model's heads copy nothing: no head ranks, none is knocked out
        assert top["heads"] == []


def test_the_patching_job_ranks_both_models_on_the_ranking_records(tmp_path, tiny_model_dir, split, monkeypatch):
    """The donor is the base model here (its weights argument names no adapter), so both rankings equal the
    scorer's on the ranking records."""
    from synthctx.models import model_io

    folder, records = split
    load = model_io.load_model
    monkeypatch.setattr(model_io, "load_model", lambda model_dir, dtype, weights=None: load(model_dir, dtype))
    out = tmp_path / "patching.json"
    (folder / "real.json").write_text(json.dumps({"condition": {"task": "mdqa", "data": "real"}}))
    donor = ["--reference", str(folder / "real.json"), "--donor", str(tmp_path / "base-model")]
    _run("patch", PATCHING, folder, tiny_model_dir, out, *donor)
    result, ids = json.loads(out.read_text()), [r["id"] for r in records]
    assert (result["ranking_ids"], result["example_ids"], result["calibration_ids"]) == (ids[:2], ids[2:4], [])
    expected = _reference_scores(tiny_model_dir, records[:2])
    for model in ("patched", "donor"):
        assert np.array_equal(np.asarray(result["ranking_scores"][model]["retrieval"]["scores"]), expected)


def test_the_job_refuses_a_short_split_before_loading_a_model(tmp_path, split):
    folder, records = split
    short = tmp_path / "short"
    short.mkdir()
    write_jsonl(short / "test.jsonl", records[:5])  # 2 + 2 + 2 calibration examples need 6
    (short / "scores.json").write_text((folder / "scores.json").read_text())
    with pytest.raises(SliceError, match=r"tasks\.mdqa\.n_test \(5\) cannot hold interventions\.ranking_examples"):
        _run("knockout", KNOCKOUT, short, tmp_path / "no-model-here", tmp_path / "knockout.json")
