"""Training survives preemption: a run stopped midway and resumed ends with the same weights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from synthctx.data.tasks.mdqa.synthetic import build as build_synthetic
from synthctx.jobs.outputs import write_jsonl_atomic
from synthctx.models.train import COMPLETE_MARKER

REPO = Path(__file__).resolve().parents[1]
STEPS = 8


def train_cfg(**over) -> dict:
    cfg = {
        "method": "lora",
        "dtype": "float32",
        "attn_implementation": "sdpa",
        "lora": {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "context_extension": {"rope_theta": None, "max_position_embeddings": None},
        "learning_rate": 0.01,
        "max_steps": STEPS,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "warmup_steps": 0,
        "log_every": 1,
        "checkpoint_every": 2,
        "snapshot_every": None,
        "max_length": 512,
        "gradient_checkpointing": False,
    }
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, tokenizer, synthetic_cfg) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    records, _ = build_synthetic("low", "low", {**synthetic_cfg, "target_tokens": 200}, 8, 0, tokenizer)
    write_jsonl_atomic(path, records)
    return path


def train_cmd(model_dir: Path, data: Path, out: Path, ckpt: Path, cfg: dict) -> list[str]:
    return [
        sys.executable,
        "-m",
        "synthctx",
        "train",
        "--config",
        json.dumps(cfg),
        "--threads",
        "1",
        "--task",
        "mdqa",
        "--data",
        "low-low",
        "--model",
        "tiny",
        "--seed",
        "0",
        "--model-dir",
        str(model_dir),
        "--records",
        str(data),
        "--out",
        str(out),
        "--checkpoint-dir",
        str(ckpt),
    ]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "adapter_model.safetensors")


def wait_for_checkpoint(ckpt: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    start = time.time()
    while not any(ckpt.glob(f"checkpoint-*/{COMPLETE_MARKER}")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.time() - start < timeout, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_model_dir, train_file) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    ref = subprocess.run(
        train_cmd(tiny_model_dir, train_file, root / "out", root / "ckpt", train_cfg()),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert not (root / "ckpt").exists(), "checkpoints are removed once the output is written"
    return root / "out"


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_interrupted_training_resumes_to_the_same_adapter(tmp_path, tiny_model_dir, train_file, uninterrupted, how):
    cfg = train_cfg()

    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    proc = subprocess.Popen(
        train_cmd(tiny_model_dir, train_file, out, ckpt, cfg),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_checkpoint(ckpt, proc)
    proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, "an interrupted run must not report success"
    assert not out.exists(), "no output from an interrupted run"
    if how == "sigterm":
        assert proc.returncode == 143 and "stopped by SIGTERM at step" in log
        assert f"step {STEPS}/{STEPS}" not in log

    resumed = subprocess.run(
        train_cmd(tiny_model_dir, train_file, out, ckpt, cfg), env=env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the last checkpoint" in resumed.stdout
    a, b = weights(uninterrupted), weights(out)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    assert any(a[k].abs().sum() > 0 for k in a if "lora_B" in k), "training moved the adapter"


def test_a_checkpoint_of_another_config_is_not_resumed(tmp_path, tiny_model_dir, train_file, uninterrupted):
    """Killed after its first checkpoint, then rerun with another learning rate (what a user does after editing
    the config): the old checkpoints are discarded, not resumed, and the adapter is the new rate's."""
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    proc = subprocess.Popen(train_cmd(tiny_model_dir, train_file, out, ckpt, train_cfg()), env=env(), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_checkpoint(ckpt, proc)
    proc.kill()
    proc.wait(timeout=60)
    changed = train_cfg(learning_rate=0.02)
    rerun = subprocess.run(
        train_cmd(tiny_model_dir, train_file, out, ckpt, changed),
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming" not in rerun.stdout
    assert "they belong to another run (differs in: config)" in rerun.stdout
    meta = json.loads((out / "adapter_model.safetensors.meta.json").read_text())
    assert meta["training"]["resumed_from_step"] is None
    old = weights(uninterrupted)  # the old learning rate, trained through
    assert any(not torch.equal(old[k], v) for k, v in weights(out).items() if "lora_B" in k)


def test_adapter_config_is_byte_stable(uninterrupted):
    """peft stores target_modules as a set, listed in hash-seed order; the study writes them sorted."""
    settings = json.loads((uninterrupted / "adapter_config.json").read_text())
    assert settings["target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert list(settings) == sorted(settings)


def test_checkpoint_identity_covers_seed_records_model_and_code(tmp_path, tiny_model_dir):
    from synthctx.models.train import claim_checkpoint_dir, run_identity
    from synthctx.plan.settings import TrainSettings, parse_slice

    cfg = parse_slice(TrainSettings, train_cfg(), "train")
    records = [{"id": "a", "answers": ["x"]}]
    base = run_identity(cfg, 0, records, tiny_model_dir, "digest-1")
    assert run_identity(cfg, 0, records, tiny_model_dir, "digest-1") == base
    assert run_identity(cfg, 1, records, tiny_model_dir, "digest-1")["seed"] != base["seed"]
    assert (
        run_identity(cfg, 0, [{"id": "b", "answers": ["x"]}], tiny_model_dir, "digest-1")["records"] != base["records"]
    )
    assert run_identity(cfg, 0, records, tiny_model_dir, "digest-2")["code"] != base["code"]
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    other = run_identity(cfg, 0, records, model, "digest-1")
    (model / "config.json").write_text('{"changed": 1}')
    assert run_identity(cfg, 0, records, model, "digest-1")["model_files"] != other["model_files"]
    ckpt = tmp_path / "ckpt"
    claim_checkpoint_dir(ckpt, base)
    (ckpt / "checkpoint-2").mkdir()
    claim_checkpoint_dir(ckpt, base)
    assert (ckpt / "checkpoint-2").is_dir(), "the same run keeps its checkpoints"
    claim_checkpoint_dir(ckpt, {**base, "code": "digest-2"})
    assert not (ckpt / "checkpoint-2").exists(), "another run's checkpoints are removed"


def imported(run: subprocess.CompletedProcess) -> set[str]:
    """Modules a `python -X importtime` run imported (from its stderr). A top-level name alone can be a refused
    import (importtime lists those too), so a package counts as loaded when one of its submodules is."""
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", run.stderr, flags=re.M))


def loaded(package: str, modules: set[str]) -> bool:
    return any(name.startswith(package + ".") for name in modules)


def test_qlora_trains_a_4bit_base_on_cpu(tmp_path, tiny_model_dir, train_file):
    pytest.importorskip("bitsandbytes")
    cfg = train_cfg(method="qlora", dtype="bfloat16", max_steps=2, checkpoint_every=10)
    cmd = train_cmd(tiny_model_dir, train_file, tmp_path / "out", tmp_path / "ckpt", cfg)
    run = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]],
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    meta = json.loads((tmp_path / "out" / "adapter_model.safetensors.meta.json").read_text())
    assert meta["training"]["method"] == "qlora" and meta["training"]["quantized_linear_layers"] > 0
    assert loaded("bitsandbytes", imported(run))
    assert (tmp_path / "out" / "adapter_config.json").is_file()


def test_context_extension_reaches_training_and_scoring(tmp_path, tiny_model_dir, train_file):
    from synthctx.models.model_io import load_model

    cfg = train_cfg(
        max_steps=1, checkpoint_every=10, context_extension={"rope_theta": 123456.0, "max_position_embeddings": 4096}
    )
    cmd = train_cmd(tiny_model_dir, train_file, tmp_path / "out", tmp_path / "ckpt", cfg)
    run = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    modules = imported(run)
    assert loaded("peft", modules) and not loaded("bitsandbytes", modules), "LoRA needs no bitsandbytes, QLoRA does"
    model = load_model(tiny_model_dir, "float32", tmp_path / "out")
    assert model.config.rope_parameters["rope_theta"] == 123456.0
    assert model.config.max_position_embeddings == 4096
