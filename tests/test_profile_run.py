"""benchmarks/profile_run.py on a hand-built run folder: per-rule sums, the start-up/load/compute split, the run's
wall-time decomposition, the critical path from given edges, and the FLOP count of a tiny config. No snakemake."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("profile_run", REPO / "benchmarks" / "profile_run.py")
profile_run = importlib.util.module_from_spec(_spec)
sys.modules["profile_run"] = profile_run  # dataclasses look their module up
_spec.loader.exec_module(profile_run)

PATTERNS = profile_run.rule_patterns(REPO / "workflow" / "rules")
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
RUN_START = time.mktime(time.strptime("2026-12-02 19:00:00", "%Y-%m-%d %H:%M:%S"))


def _timing(total, startup, load, compute, stage="train"):
    body = {"compute_s": compute, "load_s": load, "stage": stage, "startup_s": startup, "total_s": total}
    return "synthctx-timing " + json.dumps(body, sort_keys=True) + "\n"


def _write(root: Path, rel: str, text: str, mtime: float = RUN_START + 20) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


MAIN_LOG = """\
Assuming unrestricted shared filesystem usage.
  Command: /x/.venv/bin/snakemake --cores 2 --configfile tiny.yaml
Building DAG of jobs...
[Wed Dec  2 19:00:00 2026]
rule fine_tune:
    jobid: 1
[Wed Dec  2 19:00:10 2026]
Finished jobid: 1 (Rule: fine_tune)
[Wed Dec  2 19:00:30 2026]
Finished jobid: 2 (Rule: fine_tune)
"""

DRY_RUN_LOG = """\
[Wed Dec  2 20:00:00 2026]
rule fine_tune:
    jobid: 1
[Wed Dec  2 20:00:00 2026]
rule evaluate:
    jobid: 2
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""


@pytest.fixture
def run_folder(tmp_path):
    """fine_tune x2 (benchmarks 10 s and 20 s, timed logs), evaluate x1 (benchmark 5 s, a log from before the
    timing lines), aggregate (log only: total_s 4), a main log from 19:00:00 to 19:00:30, and later a dry run
    and a DAG print that ran nothing."""
    _write(tmp_path, "benchmarks/train/mdqa/real/m/0.tsv", BENCH_HEADER + "10.0\t0:00:10\t1\t1\t1\t1\t0\t0\t90\t9\n")
    _write(
        tmp_path, "benchmarks/train/mdqa/low-low/m/0.tsv", BENCH_HEADER + "20.0\t0:00:20\t1\t1\t1\t1\t0\t0\t90\t19\n"
    )
    _write(tmp_path, "benchmarks/eval/mdqa/real/m/0.tsv", BENCH_HEADER + "5.0\t0:00:05\t1\t1\t1\t1\t0\t0\t90\t4\n")
    _write(tmp_path, "logs/train/mdqa/real/m/0.log", "{'loss': 1.0}\n" + _timing(9.5, 2.0, 1.5, 6.0))
    _write(tmp_path, "logs/train/mdqa/low-low/m/0.log", "step 1\n" + _timing(19.0, 3.0, 2.0, 14.0))
    _write(tmp_path, "logs/eval/mdqa/real/m/0.log", "f1 0.5\n")
    _write(tmp_path, "logs/aggregate/conditions.log", _timing(4.0, 1.0, 0.0, 3.0, "aggregate"))
    _write(tmp_path, ".snakemake/log/2026-12-02T190000.000000.snakemake.log", MAIN_LOG)
    _write(tmp_path, ".snakemake/log/2026-12-02T200000.000000.snakemake.log", DRY_RUN_LOG)
    _write(tmp_path, ".snakemake/log/2026-12-02T200100.000000.snakemake.log", "Building DAG of jobs...\n")
    return tmp_path


def test_paths_map_to_the_most_specific_rule():
    def rule(kind, rel):
        return profile_run.match_path(PATTERNS, kind, rel)

    assert rule("log", "logs/data/mdqa/real/m/0.log")[0] == "real_train_data"
    assert rule("log", "logs/data/mdqa/real-limited/m/0.log")[0] == "real_limited_train_data"
    assert rule("log", "logs/data/mdqa/low-low/m/0.log")[0] == "synthetic_train_data"
    assert rule("log", "logs/data/mdqa/test/m.log") == ("real_test_data", (("model", "m"), ("task", "mdqa")))
    expected = ("fine_tune", (("data", "real"), ("model", "m"), ("seed", "0"), ("task", "mdqa")))
    assert rule("benchmark", "benchmarks/train/mdqa/real/m/0.tsv") == expected
    assert rule("log", "logs/train/mdqa/real/m/0.log") == expected
    assert rule("log", "logs/aggregate/conditions.log") == ("aggregate", ())
    assert rule("log", "logs/unknown/x.log") is None


def test_per_rule_sums_and_split(run_folder):
    jobs, unmatched = profile_run.collect_jobs(run_folder, PATTERNS)
    assert unmatched == []
    rows, total = profile_run.rule_rows(jobs.values())
    by_rule = {r.rule: r for r in rows}
    ft = by_rule["fine_tune"]
    assert (ft.jobs, ft.wall, ft.source, ft.mean, ft.timed) == (2, 30.0, "benchmark", 15.0, 2)
    assert (ft.startup, ft.load, ft.compute) == (5.0, 3.5, 20.0)
    assert ft.share(ft.startup) == pytest.approx(5.0 / 28.5)  # shares of the timed jobs' total_s (9.5 + 19)
    assert ft.share(ft.load) == pytest.approx(3.5 / 28.5)
    ev = by_rule["evaluate"]
    assert (ev.jobs, ev.wall, ev.timed, ev.share(ev.startup)) == (1, 5.0, 0, None)
    agg = by_rule["aggregate"]
    assert (agg.wall, agg.source, agg.startup, agg.compute) == (4.0, "log total_s", 1.0, 3.0)
    assert (total.jobs, total.wall, total.timed) == (4, 39.0, 3)


def test_run_wall_and_overhead_share(run_folder):
    wall = profile_run.run_wall(run_folder, None, "newest")
    assert wall.seconds == 30.0  # first to last timestamp; the dry run and the DAG print are skipped
    assert [x.path.name for x in wall.logs] == ["2026-12-02T190000.000000.snakemake.log"]
    assert wall.logs[0].cores == 2 and wall.logs[0].jobs == 2
    jobs, _ = profile_run.collect_jobs(run_folder, PATTERNS)
    run_jobs = [j for j in jobs.values() if profile_run.in_run(j, wall.windows)]
    d = profile_run.decompose(run_jobs, wall.seconds, 2)
    assert (d.jobs, d.job_wall, d.timed) == (4, 39.0, 3)
    assert d.overhead == pytest.approx(30.0 - 39.0 / 2)  # 10.5 s
    # start-up 2 + 3 + 1, loading 1.5 + 2 + 0 core-seconds over 2 cores, plus the overhead, over W
    assert d.overhead_share == pytest.approx(((6.0 + 3.5) / 2 + 10.5) / 30.0)
    assert profile_run.decompose(run_jobs, 30.0, 2).untimed == pytest.approx(39.0 - 6.0 - 3.5 - 23.0)
    # jobs that ended outside the run's window do not count
    assert not profile_run.in_run(profile_run.Job("x", (), bench_s=1.0, end=RUN_START + 3600), wall.windows)


def test_since_drops_an_earlier_runs_logs(run_folder):
    earlier = MAIN_LOG.replace("Wed Dec  2 19:00", "Tue Dec  1 10:00").replace(":30 2026", ":50 2026")
    _write(run_folder, ".snakemake/log/2026-12-01T100000.000000.snakemake.log", earlier)
    assert profile_run.run_wall(run_folder, None, "all").seconds == 50.0 + 30.0  # both runs' windows
    since = profile_run._local_time("2026-12-02T18:00")
    wall = profile_run.run_wall(run_folder, None, "all", since)
    assert wall.seconds == 30.0 and [x.path.name for x in wall.logs] == ["2026-12-02T190000.000000.snakemake.log"]
    assert profile_run.run_wall(run_folder, None, "all", since + 86400).seconds is None
    with pytest.raises(SystemExit):
        profile_run.build_parser().parse_args(["--since", "yesterday"])


def test_quiet_main_log(tmp_path):
    path = tmp_path / "q.snakemake.log"
    path.write_text(
        "  Date: 2026-12-02 20:01:42\n  Command: snakemake -c 3 -q\nExecute 2 jobs...\nExecute 1 jobs...\n"
        "Elapsed time: 0:00:41.643120\n"
    )
    log = profile_run.parse_main_log(path)
    assert (log.jobs, log.cores, log.dry_run) == (3, 3, False)
    assert log.wall == pytest.approx(41.643120)


def test_report_prints_na_without_timing_lines(run_folder, capsys):
    assert profile_run.main(["--workdir", str(run_folder), "--no-dag", "--no-floor"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("evaluate"))
    assert line.split()[-3:] == ["n/a", "n/a", "n/a"]
    assert "50.8%" in out  # (4.75 + 10.5) / 30
    assert profile_run.main(["--workdir", str(run_folder), "--no-dag", "--no-floor", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| fine_tune | 2 | 30.0 | benchmark | 15.0 | 2/2 | 5.0 (17.5%) | 3.5 (12.3%) | 20.0 (70.2%) |" in md


def test_critical_path_from_given_edges():
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 0.5}
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "e")]
    assert profile_run.critical_path(weights, edges) == (7.0, ["a", "b", "d"])
    assert profile_run.critical_path({"x": 3.0}, []) == (3.0, ["x"])
    with pytest.raises(ValueError, match="cycle"):
        profile_run.critical_path({"a": 1.0}, [("a", "b"), ("b", "a")])


def test_dry_run_listing_gives_edges():
    text = """\
[Wed Dec  2 20:11:24 2026]
localrule prepare_model:
    output: resources/models/m
    log: logs/prepare_model/m.log
    jobid: 3
    wildcards: model=m

[Wed Dec  2 20:11:24 2026]
rule fine_tune:
    input: resources/models/m, results/data/t/real/m/0/train.jsonl
    output: results/train/t/real/m/0/weights, results/train/t/real/m/0/snapshots
    jobid: 4
    wildcards: task=t, data=real, model=m, seed=0
Shell command: python -m synthctx train

[Wed Dec  2 20:11:24 2026]
rule evaluate:
    input: resources/models/m, results/train/t/real/m/0/weights/adapter.safetensors
    output: results/eval/t/real/m/0/summary.json
    jobid: 5
    wildcards: task=t, data=real, model=m, seed=0
"""
    jobs = profile_run.parse_dry_run(text)
    assert [j.rule for j in jobs] == ["prepare_model", "fine_tune", "evaluate"]
    pm, ft, ev = (j.key for j in jobs)
    assert ft == ("fine_tune", (("data", "real"), ("model", "m"), ("seed", "0"), ("task", "t")))
    assert set(profile_run.dag_edges(jobs)) == {(pm, ft), (pm, ev), (ft, ev)}  # a file inside an output folder too


TINY = {
    "grid": {"tasks": ["mdqa"], "models": ["m"], "seeds": [0, 1]},
    "tasks": {
        "mdqa": {
            "real": True,
            "real_limited": False,
            "baseline": True,
            "variants": [["low", "low"]],
            "target_tokens": 100,
            "max_new_tokens": 4,
            "n_test": 3,
        }
    },
    "train": {
        "dtype": "float32",
        "method": "lora",
        "max_steps": 5,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 1024,
        "snapshot_every": 2,
        "gradient_checkpointing": False,
    },
    "evaluate": {"dtype": "float32"},
    "heads": {"dtype": "float32", "modes": ["teacher_forced", "generate"], "snapshot_examples": 2},
    "interventions": {
        "dtype": "float32",
        "seeds": [0],
        "n_examples": 2,
        "head_kinds": ["retrieval", "insight"],
        "knockout": {
            "data": ["real", "synthetic"],
            "k": [1, 2],
            "random_draws": 1,
            "semantics": "mean",
            "calibration_examples": 5,
        },
        "patching": {"data": ["synthetic"], "random_draws": 1},
    },
}


def test_flop_count_of_a_tiny_config():
    """N = 1000 of which the LM head 200, L = 2, d = 4, hidden 5: A(T) = 2 L d T^2 = 16 T^2. Prompt 100, answer 4
    tokens. Conditions: real, low-low, none x seeds 0, 1."""
    shape = profile_run.ModelShape(n=1000.0, head=200.0, layers=2, attn_dim=4, hidden=5)
    got = {r.stage: (r.jobs, r.flops) for r in profile_run.count_flops(TINY, {"m": shape})}
    fwd_prompt_last = 2 * 800 * 100 + 2 * 200 * 1 + 16 * 100**2  # 320,400: logits at the last position only
    fwd_full_last = 2 * 800 * 104 + 2 * 200 * 1 + 16 * 104**2  # 339,856: scoring reads attention, 1 logit row
    fwd_full_answer = 2 * 800 * 104 + 2 * 200 * 5 + 16 * 104**2  # 341,456: logits at the answer's 4 + 1 positions
    steps = 2 * 1000 * 3 + 4 * 2 * 4 * (3 * 100 + 3 * 4 // 2)  # 15,792: 3 cached steps after 100 tokens
    measured = fwd_full_answer + steps  # M = 357,248
    # fine_tune: real, low-low x 2 seeds; 5 steps x 2 sequences x (4 (N_body T + N_head a) + 3 A(T)), T = 104
    assert got["fine_tune"] == (4, 4 * 10 * (4 * (800 * 104 + 200 * 4) + 3 * 16 * 104**2))
    assert got["fine_tune"][1] == 34_206_720
    # evaluate: 6 conditions x 3 examples x (prefill + 3 steps)
    assert got["evaluate"] == (6, 6 * 3 * (fwd_prompt_last + steps))
    assert got["evaluate"][1] == 6_051_456
    # score_heads: 6 x 3 examples x 2 modes, + 4 trained x (5 - 1) // 2 = 2 snapshots x min(3, 2) examples
    assert got["score_heads"] == (6, (6 * 3 * 2 + 4 * 2 * 2) * fwd_full_last)
    assert got["score_heads"][1] == 17_672_512
    # knockout: real/0, low-low/0; mdqa has retrieval heads only: configs = 1 + 1 x 2 x (2 + 2) = 9; 2 examples;
    # semantics mean: min(5, 3) calibration prompts
    assert got["knockout"] == (2, 2 * (9 * 2 * measured + 3 * fwd_prompt_last))
    assert got["knockout"][1] == 14_783_328
    # patch: low-low/0, 2 examples; both models unpatched (the donor's prefill recorded), then 1 x (3 + 1) patched
    # configurations, each with the donor's contributions mapped from the recording (4 L T_f d hidden =
    # 4 x 2 x 104 x 4 x 5 = 16,640) and the donor's own decoding steps
    assert got["patch"] == (1, 2 * (2 * measured + 4 * (measured + 16_640 + steps)))
    assert got["patch"][1] == 4_546_432


def test_the_real_model_is_counted_where_real_is_not_reported():
    cfg = json.loads(json.dumps(TINY))
    cfg["tasks"]["mdqa"]["real"] = False
    planned = profile_run.planned_conditions(cfg)
    assert sorted({c["data"] for c in planned["fine_tune"]}) == ["low-low", "real"]
    assert len(planned["evaluate"]) == 6  # low-low, none x 2 seeds + the real reference x 2 seeds
    assert {c["data"] for c in planned["knockout"]} == {"low-low"}  # interventions follow the grid only


def test_model_shape_from_a_prepared_config(tmp_path):
    arch = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "vocab_size": 100,
    }
    _write(tmp_path, "resources/models/m/config.json", json.dumps(arch))
    shape = profile_run.model_shape("m", {"source": "random_init"}, tmp_path)
    # per layer q 32x32 + k, v 32x16 + o 32x32 + MLP 3 x 32x64; LM head 100 x 32
    assert (shape.n, shape.head) == (2 * (1024 + 2 * 512 + 1024 + 3 * 2048) + 3200, 3200)
    assert (shape.layers, shape.attn_dim) == (2, 32)
    assert profile_run.model_shape("x", {"parameters": 5e6}, tmp_path).layers is None
