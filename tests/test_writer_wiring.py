"""The LLM writer wired into the synthetic data: config, workflow slice, builders, CLI.

A stub chat-completions server on loopback (tests/test_llm_writer.py's) plays the OpenAI-compatible
backend; its replies are deterministic in the prompt, so a test can tell each text it wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthctx.data import tasks
from synthctx.data.llm_writer import CachedWriter, needle_problem, value_offset, writer_from_slice
from synthctx.data.tasks.mdqa.synthetic import RELATIONS
from synthctx.data.tasks.summhay.synthetic import INSIGHT_TEMPLATES
from synthctx.data.wikipedia import split_sentences
from synthctx.plan import slices
from synthctx.plan.config import ConfigError, validate_config
from test_llm_writer import Stub, completion, no_proxy, serve  # noqa: F401  (no_proxy: an autouse fixture)
from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = REPO / "config/config.yaml"
NEEDLE_ASK = re.compile(r'Use the exact text "(.+?)" once and the exact text "(.+?)" once')
HAYSTACK_ASK = re.compile(r"paragraph of about (\d+) words about (.+?), in the neutral")


def stub_needle(entity: str, value: str) -> str:
    return f"Stub archives record that {entity} had {value} as noted."


def stub_paragraph(topic: str, words: int) -> str:
    return f"Stub paragraph about {topic}." + " Its words are plain filler." * max(1, (words - 3) // 5)


class Backend:
    """The stub server and every text it replied, by kind."""

    def __init__(self) -> None:
        self.state = Stub()
        self.needles: set[str] = set()
        self.paragraphs: set[str] = set()
        self.state.reply = self.reply
        self.stop: Callable[[], None] = serve(self.state)

    def reply(self, body: dict[str, Any]) -> tuple[int, bytes]:
        prompt = body["messages"][0]["content"]
        if m := NEEDLE_ASK.search(prompt):
            text = stub_needle(m.group(1), m.group(2))
            self.needles.add(text)
        else:
            m = HAYSTACK_ASK.search(prompt)
            assert m, prompt
            text = stub_paragraph(m.group(2), int(m.group(1)))
            self.paragraphs.add(text)
        return completion(text)

    def prompts(self) -> list[str]:
        return [r["json"]["messages"][0]["content"] for r in self.state.requests]


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.stop()


def section(backend: Backend, cache: Path, use_for: list[str]) -> dict[str, Any]:
    """The writer part of a synthetic slice, as workflow/rules/common.smk renders it."""
    return {
        "backend": "openai",
        "base_url": backend.state.url,
        "model": "stub-model",
        "api_key_env": None,
        "max_tokens": 64,
        "temperature": 0.0,
        "timeout": 5,
        "cache_dir": str(cache),
        "use_for": use_for,
    }


def make_writer(writer_cfg: dict[str, Any]) -> CachedWriter:
    """As the CLI does: the cache settings are not writer parameters."""
    writer = writer_from_slice(writer_cfg)
    assert isinstance(writer, CachedWriter) and writer.cache_dir == Path(writer_cfg["cache_dir"])
    return writer


def build(
    task: str, needle: str, haystack: str, cfg: dict[str, Any], n: int, seed: int, tokenizer, **kw: Any
) -> list[dict[str, Any]]:
    """The records of one synthetic variant, through the task registry (synthetic builders never drop)."""
    records, dropped = tasks.build_synthetic(task, needle, haystack, cfg, n, seed, tokenizer, **kw)
    assert dropped == 0
    return records


def without(text: str, sentence: str) -> str:
    """A document's text with one inserted sentence taken out again."""
    units = split_sentences(text)
    assert sentence in units
    units.remove(sentence)
    return " ".join(units)


def check_written_doc(doc: dict[str, Any], backend: Backend, needle: str | None) -> None:
    """The document is a stub paragraph on its own title (plus the needle sentence, for a gold one)."""
    text = without(doc["text"], needle) if needle else doc["text"]
    assert text in backend.paragraphs
    assert text.startswith(f"Stub paragraph about {doc['title']}.")
    assert doc["doc_id"].startswith(("llm:", "synthetic:"))


def build_twice_offline_second(
    backend: Backend, task: str, cfg: dict[str, Any], n: int, seed: int, tokenizer
) -> list[dict[str, Any]]:
    """Build with the stub, stop it, and build again from the cache alone: the records must not change."""
    writer = make_writer(cfg["writer"])
    recs = build(task, "high", "high", cfg, n, seed, tokenizer, writer=writer)
    assert writer.misses > 0
    backend.stop()
    n_requests = len(backend.state.requests)
    rerun = make_writer(cfg["writer"])
    assert build(task, "high", "high", cfg, n, seed, tokenizer, writer=rerun) == recs
    assert (rerun.misses, rerun.hits) == (0, writer.misses + writer.hits)
    assert len(backend.state.requests) == n_requests
    return recs


def test_mdqa_needles_and_haystacks_come_from_the_writer(backend, tmp_path, tokenizer, synthetic_cfg):
    cfg = {
        **synthetic_cfg,
        "needle": {"relations": sorted(RELATIONS)},
        "writer": section(backend, tmp_path / "cache", ["needle", "haystack"]),
    }
    recs = build_twice_offline_second(backend, "mdqa", cfg, 4, 0, tokenizer)
    for rec in recs:
        ((s, e),) = rec["spans"]["answer"]
        assert rec["context"][s:e] == rec["answers"][0]
        gold = rec["documents"][rec["gold_position"]]
        (needle,) = [n for n in backend.needles if n in gold["text"]]
        assert rec["answers"][0] in needle
        check_written_doc(gold, backend, needle)
        for doc in rec["documents"]:
            if doc is not gold:
                check_written_doc(doc, backend, None)
        assert rec["context"].count(rec["answers"][0]) == 1
    prompts = backend.prompts()
    assert any("place of death" in p or "occupation" in p or "founding year" in p for p in prompts)
    assert all("about 60 words" in p for p in prompts if HAYSTACK_ASK.search(p)), "words = max_passage_words"


def test_musique_hops_come_from_the_writer(backend, tmp_path, tokenizer, synthetic_cfg):
    cfg = {
        **synthetic_cfg,
        "target_tokens": 700,
        "hops": 3,
        "needle": {"symbol_length": 4},
        "writer": section(backend, tmp_path / "cache", ["needle", "haystack"]),
    }
    recs = build_twice_offline_second(backend, "musique", cfg, 3, 5, tokenizer)
    for rec in recs:
        ctx, spans = rec["context"], rec["spans"]
        ((s, e),) = spans["answer"]
        assert ctx[s:e] == rec["answers"][0] == rec["hops"][-1]["answer"]
        assert [ctx[a:b] for a, b in spans["insight"]] == [h["answer"] for h in rec["hops"][:-1]]
        docs = {d["doc_id"]: d for d in rec["documents"]}
        for hop in rec["hops"]:
            doc = docs[hop["doc_id"]]
            (needle,) = [n for n in backend.needles if n in doc["text"]]
            assert f"had {hop['answer']} as noted" in needle
            check_written_doc(doc, backend, needle)
        for doc in rec["documents"]:
            if doc["doc_id"] not in rec["gold_doc_ids"]:
                check_written_doc(doc, backend, None)
    prompts = backend.prompts()
    for phrase in ("place of death", "country it lies in", "currency"):
        assert any(f"is the {phrase} of" in p for p in prompts), phrase


def test_summhay_haystacks_are_written_but_insights_stay_templates(backend, tmp_path, tokenizer, synthetic_cfg):
    cfg = {
        **synthetic_cfg,
        "target_tokens": 700,
        "min_gold": 2,
        "max_gold": 2,
        "writer": section(backend, tmp_path / "cache", ["haystack"]),
    }
    recs = build("summhay", "high", "high", cfg, 2, 0, tokenizer, writer=make_writer(cfg["writer"]))
    assert backend.paragraphs and not backend.needles
    templates = [re.sub(r"\\\{\w+\\\}", ".+", re.escape(t)) for t in INSIGHT_TEMPLATES]
    for rec in recs:
        for doc in rec["documents"]:
            assert f"Stub paragraph about {doc['title']}." in doc["text"]
        for s, e in rec["spans"]["insight"]:
            assert any(re.fullmatch(t, rec["context"][s:e]) for t in templates), "insights are the template sentences"


@pytest.mark.parametrize(
    "sentence, entity, value, at",
    [
        ("Belvin Tesdor, a Lyonnais by taste, died in Lyon.", "Belvin Tesdor", "Lyon", 44),
        ("The Lyon Society of Porto was founded in Lyon.", "Lyon Society", "Lyon", 41),
        ("Aldoria is the country in which Porto lies.", "Porto", "Aldoria", 0),
    ],
)
def test_value_offset_is_the_whole_word_outside_the_entity(sentence, entity, value, at):
    assert needle_problem(sentence, entity, value) is None
    assert value_offset(sentence, entity, value) == at and sentence[at : at + len(value)] == value


def test_without_a_writer_records_are_the_template_ones(backend, tmp_path, tokenizer, synthetic_cfg):
    """No `writer` in the slice: the builders are the offline ones, called exactly as before the writer existed."""
    cfg = {**synthetic_cfg, "needle": {"relations": sorted(RELATIONS)}}
    for task, extra in (("mdqa", {}), ("musique", {"hops": 2, "max_passage_words": 100})):
        recs = build(task, "high", "high", {**cfg, **extra}, 2, 0, tokenizer)
        assert build(task, "high", "high", {**cfg, **extra}, 2, 0, tokenizer, writer=None) == recs
        assert all(d["doc_id"].startswith(("wiki:", "synthetic:")) for r in recs for d in r["documents"])
    templates = [
        re.escape(t)
        .replace(r"\{entity\}", ".+")
        .replace(r"\{value\}", ".+")
        .replace(r"\{age\}", r"\d+")
        .replace(r"\{year\}", r"\d+")
        for _, ts, _, _ in RELATIONS.values()
        for t in ts
    ]
    for rec in build("mdqa", "high", "high", cfg, 3, 0, tokenizer):
        gold = rec["documents"][rec["gold_position"]]["text"]
        assert any(re.fullmatch(t, s) for s in split_sentences(gold) for t in templates)
    assert backend.state.requests == []


def test_slice_and_writer_must_agree(backend, tmp_path, tokenizer, synthetic_cfg):
    writer_cfg = section(backend, tmp_path / "cache", ["needle", "haystack"])
    with pytest.raises(ValueError, match="no writer was given"):
        build("mdqa", "high", "high", {**synthetic_cfg, "writer": writer_cfg}, 1, 0, tokenizer)
    with pytest.raises(ValueError, match="no `writer` section"):
        build("mdqa", "low", "low", synthetic_cfg, 1, 0, tokenizer, writer=make_writer(writer_cfg))
    assert backend.state.requests == []


def test_cli_builds_the_writer_and_records_its_identity(backend, tmp_path, tiny_model_dir, synthetic_cfg):
    from synthctx.cli import main

    def run(cfg: dict[str, Any], name: str) -> dict[str, Any]:
        out = tmp_path / name / "train.jsonl"
        assert (
            main(
                [
                    "synthetic-data",
                    "--config",
                    json.dumps(cfg),
                    "--task",
                    "mdqa",
                    "--data",
                    "high-low",
                    "--model-dir",
                    str(tiny_model_dir),
                    "--n",
                    "2",
                    "--seed",
                    "0",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        return json.loads(out.with_name("train.jsonl.meta.json").read_text())

    writer_cfg = section(backend, tmp_path / "cache", ["needle"])
    meta = run({**synthetic_cfg, "writer": writer_cfg}, "on")
    assert meta["writer"] == {"backend": "openai", "model": "stub-model", "max_tokens": 64, "temperature": 0.0}
    assert backend.needles and not backend.paragraphs
    assert list((tmp_path / "cache").rglob("*.json")), "texts are cached under writer.cache_dir"
    assert run(synthetic_cfg, "off")["writer"] == "none"


# ---------------------------------------------------------------- config and workflow slice


def _writer_config(writer: dict[str, Any]) -> dict[str, Any]:
    cfg = yaml.safe_load(DEFAULT.read_text())
    cfg["writer"] = writer
    return cfg


OPENAI = {
    "backend": "openai",
    "base_url": "https://api.openai.com/v1",
    "model": "gpt-4o-mini",
    "api_key_env": "OPENAI_API_KEY",
    "max_tokens": 256,
    "temperature": 0.7,
}
TRANSFORMERS = {
    "backend": "transformers",
    "model_dir": "resources/models/x",
    "dtype": "bfloat16",
    "max_new_tokens": 256,
    "temperature": 0.7,
    "device": "cuda",
}


def test_writer_config_is_validated():
    assert yaml.safe_load(DEFAULT.read_text())["writer"]["backend"] == "none"
    for ok in (
        OPENAI,
        {**OPENAI, "timeout": 30, "cache_dir": "c", "use_for": ["needle"], "api_key_env": None},
        TRANSFORMERS,
        {"backend": "none"},
    ):
        validate_config(_writer_config(ok), SCHEMA, [DEFAULT])
    cases = [
        ({**OPENAI, "api_key": "sk-x"}, "unknown key 'writer.api_key'"),
        ({**TRANSFORMERS, "max_tokens": 3}, "unknown key 'writer.max_tokens'"),
        ({"backend": "none", "model": "m"}, "unknown key 'writer.model'"),
        ({**OPENAI, "backend": "anthropic"}, "key 'writer.backend': 'anthropic' is not one of"),
        ({k: v for k, v in OPENAI.items() if k != "model"}, "key 'writer': 'model' is a required property"),
        ({**OPENAI, "use_for": ["needles"]}, "key 'writer.use_for.0'"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError) as err:
            validate_config(_writer_config(bad), SCHEMA, [DEFAULT])
        assert message in str(err.value), str(err.value)


def _rendered(config: dict[str, Any], task: str, needle: str, haystack: str) -> dict[str, Any]:
    """The synthetic-data rule's config slice, as the planner renders it (`config` validated, as the
    Snakefile's is before any slice is rendered)."""
    return json.loads(slices.synthetic_slice(config, task, f"{needle}-{haystack}"))


LEVELS = ("high", "low", "symbolic")


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    """The config as common.smk holds it: validated, with the schema's defaults filled in place."""
    validate_config(config, SCHEMA, [DEFAULT])
    return config


def test_synthetic_slice_has_the_writer_only_where_it_writes():
    off = _validated(yaml.safe_load(DEFAULT.read_text()))
    on = _validated(_writer_config({**OPENAI, "cache_dir": "resources/llm_cache", "use_for": ["needle", "haystack"]}))
    needle_only = _validated(_writer_config({**OPENAI, "use_for": ["needle"]}))  # cache_dir: the schema's default
    for task in ("mdqa", "musique", "summhay"):
        for n in LEVELS:
            for h in LEVELS:
                plain = _rendered(off, task, n, h)
                assert "writer" not in plain
                written = _rendered(on, task, n, h)
                uses = [
                    u
                    for u, level in (("needle", n), ("haystack", h))
                    if level == "high" and (u == "haystack" or task != "summhay")
                ]
                if uses:
                    assert written == {
                        **plain,
                        "writer": {**OPENAI, "cache_dir": "resources/llm_cache", "use_for": uses},
                    }
                else:
                    assert written == plain, "off-branch variants keep their slice: nothing re-runs"
                narrowed = _rendered(needle_only, task, n, h).get("writer")
                assert narrowed == (
                    {**OPENAI, "cache_dir": "resources/llm_cache", "use_for": ["needle"]}
                    if n == "high" and task != "summhay"
                    else None
                )
