"""Network only where it belongs: hub models and data sets are downloaded by the two local rules
(prepare_model, fetch_hub_data), pinned to a commit; every other job reads the local copies offline.

The hub is not reachable from the test machines, so the failure path is exercised for real (the message
must name the repo and the config key to change) and the success path with a local data set folder, which
`datasets.load_dataset` reads without the network exactly as it reads a hub data set.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from synthctx.data import hub, tasks
from synthctx.data.sources import iter_records
from synthctx.plan.job_environment import prepare_job_environment
from workflow_helpers import copy_workflow, planned_jobs, snakemake

HERE = Path(__file__).parent
REPO = HERE.parent
MUSIQUE = HERE / "fixtures" / "musique_ans.jsonl"
ROWS = [json.loads(line) for line in MUSIQUE.read_text().splitlines() if line.strip()]
UNREACHABLE_DATA = "synthctx-tests/no-such-dataset"
UNREACHABLE_MODEL = "synthctx-tests/no-such-model"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "HF_HOME": str(tmp_path / "hf-home"),  # no cache of the developer's
        "HF_HUB_ETAG_TIMEOUT": "10",
        "HF_HUB_DOWNLOAD_TIMEOUT": "10",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "synthctx", *args], capture_output=True, text=True, env=environ, timeout=300
    )


def local_dataset(folder: Path) -> Path:
    """A script-less data set folder: one jsonl file per split (train, validation), the MuSiQue fixture."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text(MUSIQUE.read_text())
    return folder


def hub_source(hub_id: str, **over) -> dict:
    return {
        "kind": "hub",
        "hub_id": hub_id,
        "hub_config": None,
        "train_split": "train",
        "test_split": "validation",
        "on_unalignable": "error",
        **over,
    }


# ------------------------------------------------------------------------------------------- failure path


def test_fetch_fails_naming_the_data_set_and_the_key_when_the_hub_is_unreachable(tmp_path):
    out = tmp_path / "test.jsonl.gz"
    spec = {"hub_id": UNREACHABLE_DATA, "hub_config": None, "revision": None, "split": "validation"}
    run = run_cli(
        tmp_path,
        *("fetch-hub-data", "--config", json.dumps(spec), "--task", "musique", "--split", "test", "--out", str(out)),
        HF_HUB_OFFLINE="0",
        HF_DATASETS_OFFLINE="0",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"cannot download data set '{UNREACHABLE_DATA}'" in run.stderr, run.stderr
    assert "tasks.musique.real_data.hub_id" in run.stderr and "tasks.musique.real_data.test_split" in run.stderr
    assert "tasks.musique.real_data.revision is not set" in run.stdout
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_fetch_run_offline_by_hand_says_so(tmp_path):
    spec = {"hub_id": UNREACHABLE_DATA, "hub_config": None, "revision": "v1.0", "split": "train"}
    out = str(tmp_path / "train.jsonl.gz")
    run = run_cli(
        tmp_path,
        *("fetch-hub-data", "--config", json.dumps(spec), "--task", "mdqa", "--split", "train", "--out", out),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "(revision v1.0)" in run.stderr and "tasks.mdqa.real_data.hub_id" in run.stderr
    assert "HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 is set: this step needs the network" in run.stderr


def test_prepare_model_fails_naming_the_repo_and_the_key_when_the_hub_is_unreachable(tmp_path):
    out = tmp_path / "model"
    spec = {"source": "hub", "repo_id": UNREACHABLE_MODEL}
    run = run_cli(
        tmp_path,
        *("prepare-model", "--config", json.dumps(spec), "--model", "paper-llama", "--out", str(out)),
        HF_HUB_OFFLINE="0",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"cannot download model '{UNREACHABLE_MODEL}'" in run.stderr
    assert "models.paper-llama.repo_id" in run.stderr and "models.paper-llama.revision" in run.stderr
    assert not out.exists(), "nothing is written before the download succeeds"


# ------------------------------------------------------------------------------------------- success path


def test_fetch_rule_writes_each_split_locally_and_the_loader_reads_it_offline(tmp_path, tokenizer):
    """The fetch_hub_data rule, run by Snakemake (which switches every job offline; the rule lifts it), on a
    local data set folder: one jsonl.gz per split, rows as `datasets` yields them, with metadata."""
    work = copy_workflow(tmp_path / "wf")
    data = local_dataset(tmp_path / "musique-hub")
    cfg = yaml.safe_load((HERE / "fixtures" / "tiny.yaml").read_text())
    cfg["grid"]["tasks"] = ["musique"]
    cfg["tasks"]["musique"]["real_data"] = hub_source(str(data))
    (work / "hub.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"resources/data/musique/hub/{s}.jsonl.gz" for s in ("train", "test")]
    run = snakemake(work, "--cores", "1", *targets, "--configfile", "hub.yaml", timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for split, name in (("train", "train"), ("test", "validation")):
        path = work / f"resources/data/musique/hub/{split}.jsonl.gz"
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            assert [json.loads(line) for line in fh] == ROWS
        meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
        assert meta["stage"] == "fetch-hub-data" and meta["config"]["split"] == name
        assert meta["source"]["n_rows"] == len(ROWS) and meta["source"]["local_source"] is True
        assert meta["source"]["resolved_revision"] is None  # a local folder has no commit
        assert not list(path.parent.glob("*.tmp"))
    log = (work / "logs/fetch_hub_data/musique/test.log").read_text()
    assert f"wrote {len(ROWS)} rows of {data}[validation]" in log

    # The data rules' slice names the fetched files; the loader reads them, with the hub's origins.
    fetched = {s: str(work / f"resources/data/musique/hub/{s}.jsonl.gz") for s in ("train", "test")}
    # both splits of the local data set hold the same rows: allowed (and reported) by shared_questions: report
    source = {**hub_source(str(data)), "fetched": fetched, "shared_questions": "report"}
    got = list(iter_records(source, "test"))
    assert [(o, i) for o, i, _ in got] == [(f"{data}[validation]", i) for i in range(1, len(ROWS) + 1)]
    assert [row for _, _, row in got] == ROWS
    common = {"target_tokens": 2000, "max_documents": 40, "gold_position": "last"}
    from_hub = tasks.build_real("musique", {**common, "source": source}, "test", 4, 0, tokenizer).records
    files = {"kind": "files", "train": str(MUSIQUE), "test": str(MUSIQUE), "on_unalignable": "error"}
    files["shared_questions"] = "report"
    from_files = tasks.build_real("musique", {**common, "source": files}, "test", 4, 0, tokenizer).records
    assert from_hub == json.loads(json.dumps(from_files).replace(str(MUSIQUE), f"{data}[validation]"))


def test_a_fetched_split_is_read_without_datasets(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the data rules must read the fetched file, not call load_dataset")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=no_network))
    path = tmp_path / "test.jsonl.gz"
    hub.write_jsonl_gz_atomic(path, ROWS)
    source = {**hub_source("someone/musique"), "fetched": {"test": str(path)}}
    assert [(o, i) for o, i, _ in iter_records(source, "test")][:2] == [
        ("someone/musique[validation]", 1),
        ("someone/musique[validation]", 2),
    ]


def test_fetched_files_are_byte_stable_and_atomic(tmp_path):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert hub.write_jsonl_gz_atomic(a, ROWS) == len(ROWS)
    hub.write_jsonl_gz_atomic(b, iter(ROWS))
    assert a.read_bytes() == b.read_bytes(), "no timestamp or file name in the gzip header"

    def rows():
        yield ROWS[0]
        raise RuntimeError("killed mid-write")

    c = tmp_path / "c.jsonl.gz"
    with pytest.raises(RuntimeError):
        hub.write_jsonl_gz_atomic(c, rows())
    assert not c.exists() and not list(tmp_path.glob("*.tmp"))


def test_prepare_model_pins_the_resolved_commit(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """A hub model is taken at its revision resolved to a commit sha, which the facts record; a missing
    revision is warned about. (The hub is stood in for by the tiny prepared model folder.)"""
    import huggingface_hub

    from synthctx.models.model_io import prepare_model

    sha = "0123456789abcdef0123456789abcdef01234567"
    calls = {}

    class Api:
        def __init__(self, token=None):
            pass

        def model_info(self, repo_id, revision=None):
            calls["info"] = (repo_id, revision)
            files = ["config.json", "model.safetensors", "original/consolidated.00.pth", "pytorch_model.bin"]
            return types.SimpleNamespace(sha=sha, siblings=[types.SimpleNamespace(rfilename=f) for f in files])

    def snapshot_download(repo_id, revision=None, ignore_patterns=None, token=None):
        calls["snapshot"] = (repo_id, revision, ignore_patterns)
        return str(tiny_model_dir)

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    facts = prepare_model({"source": "hub", "repo_id": "someone/tiny"}, tmp_path / "model")
    assert facts["resolved_revision"] == sha and facts["revision"] is None and facts["repo_id"] == "someone/tiny"
    assert calls["info"] == ("someone/tiny", None)
    repo, revision, ignore = calls["snapshot"]
    assert revision == sha, "everything is fetched at the resolved commit"
    assert {"original/*", "*.pth", "*.bin"} <= set(ignore), "no second copy of the weights"
    assert f"no revision given for someone/tiny: took the hub's current main, commit {sha}" in capsys.readouterr().out
    assert (tmp_path / "model" / "config.json").is_file()


CUSTOM_CODE = """
import os
from pathlib import Path

from transformers import LlamaConfig, LlamaForCausalLM

Path(os.environ["SYNTHCTX_TEST_CODE_RAN"]).write_text("the repository's code ran")


class ShippedConfig(LlamaConfig):
    model_type = "shipped_llama"


class ShippedForCausalLM(LlamaForCausalLM):
    config_class = ShippedConfig
"""


def _hub_serving(monkeypatch, folder: Path, sha: str) -> None:
    """huggingface_hub as seen by prepare_model, serving `folder` as the repository at commit `sha`."""
    import huggingface_hub

    class Api:
        def __init__(self, token=None):
            pass

        def model_info(self, repo_id, revision=None):
            files = [p.name for p in folder.iterdir()]
            return types.SimpleNamespace(sha=sha, siblings=[types.SimpleNamespace(rfilename=f) for f in files])

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(folder))


@pytest.fixture
def shipped_code_repo(tmp_path, tiny_model_dir, monkeypatch):
    """A model repository whose config maps the auto classes to a Python file it ships; importing that file
    writes a sentinel, so a test sees whether the repository's code ran."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(tiny_model_dir, repo)
    (repo / "model.safetensors.meta.json").unlink(missing_ok=True)
    (repo / "shipped_llama.py").write_text(CUSTOM_CODE)
    config = json.loads((repo / "config.json").read_text())
    config["model_type"] = "shipped_llama"
    config["auto_map"] = {
        "AutoConfig": "shipped_llama.ShippedConfig",
        "AutoModelForCausalLM": "shipped_llama.ShippedForCausalLM",
    }
    (repo / "config.json").write_text(json.dumps(config))
    ran = tmp_path / "code-ran"
    monkeypatch.setenv("SYNTHCTX_TEST_CODE_RAN", str(ran))
    import transformers.dynamic_module_utils as dynamic_modules

    # transformers copies a repository's code into its modules cache before importing it: here, not in ~/.cache
    monkeypatch.setattr(dynamic_modules, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    _hub_serving(monkeypatch, repo, "89abcdef0123456789abcdef0123456789abcdef")
    return ran


def test_a_repository_that_ships_code_is_refused_unless_config_trusts_it(tmp_path, shipped_code_repo, capsys):
    """trust_remote_code only by the config switch: without it prepare-model names the key and the shipped
    file, runs none of it and writes no model folder."""
    from synthctx import cli

    out = tmp_path / "model"
    spec = {"source": "hub", "repo_id": "someone/shipped", "revision": "v1"}
    argv = ["prepare-model", "--config", json.dumps(spec), "--model", "shipped", "--out", str(out)]
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    message = str(refused.value)
    assert message.startswith("error: models.shipped.trust_remote_code is false"), message
    assert "shipped_llama.py" in message and "89abcdef0123456789abcdef0123456789abcdef" in message
    assert not shipped_code_repo.exists(), "the repository's code ran without the switch"
    assert not out.exists()


def test_a_trusted_repository_loads_in_every_later_job_and_the_switch_is_recorded(tmp_path, shipped_code_repo):
    from synthctx import cli
    from synthctx.models.model_io import load_model, load_tokenizer

    out = tmp_path / "model"
    spec = {"source": "hub", "repo_id": "someone/shipped", "revision": "v1", "trust_remote_code": True}
    cli.main(["prepare-model", "--config", json.dumps(spec), "--model", "shipped", "--out", str(out)])
    assert shipped_code_repo.exists()
    meta = json.loads((out / "model.safetensors.meta.json").read_text())
    assert meta["model"]["trust_remote_code"] is True and meta["config"]["trust_remote_code"] is True
    shipped_code_repo.unlink()
    model = load_model(out, "float32")
    assert type(model).__name__ == "ShippedForCausalLM" and shipped_code_repo.exists()
    assert load_tokenizer(out).pad_token is not None


def test_a_model_without_shipped_code_records_the_switch_off(tmp_path, tiny_model_dir, monkeypatch):
    from synthctx.models.model_io import REMOTE_CODE_MARK, prepare_model

    _hub_serving(monkeypatch, tiny_model_dir, "0123456789abcdef0123456789abcdef01234567")
    facts = prepare_model({"source": "hub", "repo_id": "someone/tiny", "revision": "main"}, tmp_path / "model")
    assert facts["trust_remote_code"] is False and not (tmp_path / "model" / REMOTE_CODE_MARK).exists()


# ----------------------------------------------------------------------------------------------- workflow


def test_only_the_local_rules_go_online(tmp_path):
    """A hub data set and a hub model: fetch_hub_data and prepare_model are local rules whose shell lifts
    HF_HUB_OFFLINE; every other job inherits HF_HUB_OFFLINE=1, even when the submitting shell says 0."""
    work = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((HERE / "fixtures" / "tiny.yaml").read_text())
    cfg["grid"] = {"tasks": ["musique"], "models": ["hubby"], "seeds": [0]}
    cfg["models"] = {"hubby": {"source": "hub", "repo_id": "someone/model", "parameters": 1.0e9}}
    cfg["tasks"]["musique"]["real_data"] = hub_source("someone/musique", revision="v1.0")
    (work / "hub.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake(work, "-n", "-p", "--configfile", "hub.yaml", timeout=120)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    jobs = planned_jobs(dry.stdout)
    assert jobs["fetch_hub_data"] == 2 and jobs["prepare_model"] == 1
    assert "models.hubby.revision is not set" in dry.stderr
    assert "tasks.musique.real_data.revision is not set" not in dry.stderr  # pinned to v1.0
    seen = set()
    for block in dry.stdout.split("\n\n"):
        m = re.search(r"^(?:local)?rule (\w+):", block, flags=re.M)
        if not m:
            continue
        rule, shell = m.group(1), block.split("Shell command:", 1)[-1]
        seen.add(rule)
        if rule == "fetch_hub_data":
            assert "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m synthctx fetch-hub-data" in shell
        elif rule == "prepare_model":
            assert "HF_HUB_OFFLINE=0 python -m synthctx prepare-model" in shell
        else:
            assert "OFFLINE=0" not in block, block
        if rule in ("real_test_data", "real_train_data"):
            for split in ("train", "test"):  # the loaders read both splits (to keep them apart)
                assert f"resources/data/musique/hub/{split}.jsonl.gz" in block.split("output:")[0]
            assert '"fetched"' in shell
    assert {"fetch_hub_data", "prepare_model", "real_test_data", "fine_tune", "evaluate"} <= seen


def test_jobs_inherit_offline_whatever_the_submitting_shell_says(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    prepare_job_environment(tmp_path)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"
