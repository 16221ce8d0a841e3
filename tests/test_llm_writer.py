"""Optional LLM writers: the OpenAI-compatible request, the on-disk cache, validation with retries.

A stub chat-completions server on loopback stands in for the API; a tiny random Llama stands in
for a local model (mechanics only: its text is noise).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from synthctx.data.llm_writer import (
    CachedWriter,
    InvalidOutputError,
    OpenAICompatibleWriter,
    TransformersWriter,
    WriterError,
    haystack_document,
    needle_problem,
    needle_sentence,
    writer_from_config,
)


def completion(content: str) -> tuple[int, bytes]:
    return 200, json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).encode()


def echo(body: dict[str, Any]) -> tuple[int, bytes]:
    """Deterministic in the request, padded with whitespace that the writer must strip."""
    return completion(f"  seed={body['seed']} model={body['model']}: {body['messages'][0]['content']}\n ")


class Stub:
    """Requests seen and the reply rule; the handler thread appends, the test reads after the call returns."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], tuple[int, bytes]] = echo
        self.url = ""

    @property
    def seeds(self) -> list[int]:
        return [r["json"]["seed"] for r in self.requests]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def serve(state: Stub) -> Callable[[], None]:
    """Start a stub chat-completions server on loopback for `state` (sets state.url); returns stop()."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            state.requests.append(
                {
                    "path": self.path,
                    "json": body,
                    "auth": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                }
            )
            status, payload = state.reply(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1/"
    return stop


@pytest.fixture
def stub(request) -> Stub:
    state = Stub()
    request.addfinalizer(serve(state))
    return state


def api(stub: Stub, **kw: Any) -> OpenAICompatibleWriter:
    return OpenAICompatibleWriter(stub.url, kw.pop("model", "stub-model"), timeout=5, **kw)


def test_request_format_and_reply(stub):
    writer = api(stub, max_tokens=32, temperature=0.5)
    assert writer.write("Hello there", 7) == "seed=7 model=stub-model: Hello there"
    (req,) = stub.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["json"] == {
        "model": "stub-model",
        "messages": [{"role": "user", "content": "Hello there"}],
        "max_tokens": 32,
        "temperature": 0.5,
        "seed": 7,
    }
    assert req["content_type"] == "application/json"
    assert req["auth"] is None, "no api_key_env, no Authorization header"
    assert writer.identity() == {"backend": "openai", "model": "stub-model", "max_tokens": 32, "temperature": 0.5}


def test_cache_hit_never_calls_backend(stub, tmp_path):
    cache = tmp_path / "cache"
    cw = CachedWriter(api(stub), cache)
    first = cw.write("Describe Lyon.", 1)
    assert cw.write("Describe Lyon.", 1) == first
    assert len(stub.requests) == 1 and (cw.hits, cw.misses) == (1, 1)
    path = cw.path_for("Describe Lyon.", 1)
    key = cw.key("Describe Lyon.", 1)
    assert path == cache / key[:2] / f"{key}.json"
    stored = json.loads(path.read_text())
    assert stored == {"identity": cw.identity(), "prompt": "Describe Lyon.", "seed": 1, "text": first}
    assert [p.name for p in cache.rglob("*") if p.is_file()] == [path.name], "no temporary files left"

    rerun = CachedWriter(api(stub), cache)  # a new process: same identity, same key
    assert rerun.write("Describe Lyon.", 1) == first
    assert len(stub.requests) == 1 and (rerun.hits, rerun.misses) == (1, 0)

    assert cw.write("Describe Lyon.", 2) != first
    assert stub.seeds == [1, 2] and cw.misses == 2

    hotter = CachedWriter(api(stub, temperature=1.0), cache)
    assert hotter.key("Describe Lyon.", 1) != key, "generation params are part of the key"
    assert CachedWriter(api(stub, temperature=1), cache).key("x", 0) == hotter.key("x", 0), "1 and 1.0 agree"


def test_api_key_comes_from_named_env_var(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_API_KEY", "sk-test-secret")
    cw = CachedWriter(api(stub, api_key_env="STUB_API_KEY"), tmp_path)
    cw.write("hi", 0)
    assert stub.requests[0]["auth"] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in json.dumps(cw.identity())
    assert "sk-test-secret" not in cw.path_for("hi", 0).read_text()

    monkeypatch.delenv("STUB_API_KEY")
    with pytest.raises(WriterError, match="STUB_API_KEY"):
        cw.write("hi again", 0)
    assert len(stub.requests) == 1, "no request without the key"


def test_http_error_names_url_status_and_body(stub):
    stub.reply = lambda body: (500, b'{"error": "model overloaded"}')
    writer = api(stub)
    with pytest.raises(WriterError) as err:
        writer.write("hi", 0)
    message = str(err.value)
    assert "HTTP 500" in message and writer.url in message and "model overloaded" in message


@pytest.mark.parametrize(
    "payload", [b"not json{", b'{"choices": []}', b'{"choices": [{"message": {"content": null}}]}']
)
def test_malformed_response_raises(stub, payload):
    stub.reply = lambda body: (200, payload)
    writer = api(stub)
    with pytest.raises(WriterError, match="malformed response") as err:
        writer.write("hi", 0)
    assert writer.url in str(err.value) and payload.decode()[:8] in str(err.value)


def test_unreachable_server_raises(stub):
    writer = OpenAICompatibleWriter("http://127.0.0.1:9/v1", "m", timeout=2)
    with pytest.raises(WriterError, match="127.0.0.1:9"):
        writer.write("hi", 0)


def test_needle_sentence_retries_invalid_output(stub, tmp_path):
    def reply(body):
        seed = body["seed"]
        return completion("Belvin Tesdor was well known." if seed == 10 else f'"Belvin Tesdor died in Lyon in {seed}."')

    stub.reply = reply
    cw = CachedWriter(api(stub), tmp_path)
    sentence = needle_sentence(cw, "place of death", "Belvin Tesdor", "Lyon", seed=10)
    assert sentence == "Belvin Tesdor died in Lyon in 11.", "wrapping quotes removed"
    assert stub.seeds == [10, 11]
    prompt = stub.requests[0]["json"]["messages"][0]["content"]
    assert "Belvin Tesdor" in prompt and "Lyon" in prompt and "place of death" in prompt

    assert (
        needle_sentence(CachedWriter(api(stub), tmp_path), "place of death", "Belvin Tesdor", "Lyon", seed=10)
        == sentence
    )
    assert len(stub.requests) == 2, "a rerun is served from the cache"


def test_needle_sentence_fails_after_attempts(stub, tmp_path):
    stub.reply = lambda body: completion("Belvin Tesdor, of Lyon, was Belvin Tesdor.")
    cw = CachedWriter(api(stub), tmp_path)
    with pytest.raises(InvalidOutputError, match="after 3 attempts") as err:
        needle_sentence(cw, "place of death", "Belvin Tesdor", "Lyon", seed=5, attempts=3)
    assert stub.seeds == [5, 6, 7] and "appears 2 times" in str(err.value)
    with pytest.raises(InvalidOutputError):
        needle_sentence(cw, "place of death", "Belvin Tesdor", "Lyon", seed=5, attempts=3)
    assert len(stub.requests) == 3, "failed attempts are cached too"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Belvin Tesdor died in Lyon.", None),
        ("  'Belvin Tesdor died in Lyon.'  ", None),
        ("Belvin Tesdor's last home was St. Louis.", None),
        ("The Marlor Society was founded in 1850 by merchants.", None),
        ("Belvin Tesdor died in Lyon.\nIt rained.", "more than one line"),
        ("Belvin Tesdor died in Lyonnais territory.", "appears 0 times"),
        ("Belvin Tesdor died in Lyon. Lyon mourned.", "appears 2 times"),
        ("Belvin Tesdor died in Lyon. It rained.", "more than one sentence"),
        ("Belvin Tesdor died in Lyon", "does not end like a sentence"),
        ("Belvin Tesdor died in Lyon " + "after a long life " * 15 + ".", "words"),
        ("   ", "empty"),
    ],
)
def test_needle_validation(text, problem):
    value = "St. Louis" if "St. Louis" in text else "1850" if "1850" in text else "Lyon"
    entity = "Marlor Society" if "Marlor" in text else "Belvin Tesdor"
    found = needle_problem(text, entity, value)
    assert found == problem if problem is None else problem in found


def test_haystack_document_validates_and_retries(stub, tmp_path):
    paragraphs = {
        0: "Lyon\n\nLyon is a city in France.",  # a title line: not one paragraph
        1: "Lyon is a city.",  # far too short
        2: "  Lyon   is a city\tin France. " + "It lies on the Rhone. " * 9,
    }
    stub.reply = lambda body: completion(paragraphs.get(body["seed"], ""))
    cw = CachedWriter(api(stub), tmp_path)
    doc = haystack_document(cw, "Lyon", words=40, seed=0)
    assert doc.startswith("Lyon is a city in France. It lies") and "  " not in doc and "\t" not in doc
    assert 20 <= len(doc.split()) <= 80 and stub.seeds == [0, 1, 2]
    with pytest.raises(InvalidOutputError, match="after 2 attempts"):
        haystack_document(cw, "Lyon", words=40, seed=3, attempts=2)
    assert stub.seeds == [0, 1, 2, 3, 4]


def test_writer_from_config(tmp_path, stub):
    cfg = {
        "backend": "openai",
        "base_url": stub.url,
        "model": "stub-model",
        "api_key_env": None,
        "max_tokens": 64,
        "temperature": 0,
    }
    cw = writer_from_config(cfg, tmp_path / "c")
    assert isinstance(cw, CachedWriter) and isinstance(cw.writer, OpenAICompatibleWriter)
    assert cw.identity() == {"backend": "openai", "model": "stub-model", "max_tokens": 64, "temperature": 0.0}
    assert cw.cache_dir == tmp_path / "c"
    with pytest.raises(ValueError, match="backend"):
        writer_from_config({**cfg, "backend": "anthropic"}, tmp_path)
    with pytest.raises(ValueError, match="backend"):
        writer_from_config({k: v for k, v in cfg.items() if k != "backend"}, tmp_path)
    for key in ("base_url", "model", "api_key_env", "max_tokens", "temperature"):
        with pytest.raises(ValueError, match=f"writer.{key}"):
            writer_from_config({k: v for k, v in cfg.items() if k != key}, tmp_path)
    with pytest.raises(ValueError, match="max_token_count"):
        writer_from_config({**cfg, "max_token_count": 3}, tmp_path)
    with pytest.raises(ValueError, match="model_dir"):
        writer_from_config(
            {"backend": "transformers", "dtype": "float32", "max_new_tokens": 8, "temperature": 0.7}, tmp_path
        )
    with pytest.raises(ValueError, match="temperature"):
        writer_from_config({**cfg, "temperature": -1}, tmp_path)
    assert stub.requests == [], "building a writer contacts nothing"


def test_transformers_writer_is_seeded_and_cached(tiny_model_dir, tmp_path):
    import torch

    writer = TransformersWriter(tiny_model_dir, max_new_tokens=8, temperature=1.0)
    rng_before = torch.get_rng_state()
    a = writer.write("Write a sentence about Lyon.", 3)
    assert torch.equal(torch.get_rng_state(), rng_before), "the caller's RNG is left alone"
    assert a and writer.write("Write a sentence about Lyon.", 3) == a
    assert writer.write("Write a sentence about Lyon.", 4) != a

    greedy = TransformersWriter(tiny_model_dir, max_new_tokens=8, temperature=0)
    assert greedy.write("Write a sentence.", 1) == greedy.write("Write a sentence.", 2)

    assert writer.identity()["model"].startswith("sha256:")
    cw = CachedWriter(writer, tmp_path)
    assert cw.write("Write a sentence about Lyon.", 3) == a and cw.misses == 1
    fresh = TransformersWriter(tiny_model_dir, max_new_tokens=8, temperature=1.0)
    rerun = CachedWriter(fresh, tmp_path)
    assert rerun.write("Write a sentence about Lyon.", 3) == a and (rerun.hits, rerun.misses) == (1, 0)
    assert fresh._model is None, "a cache hit never loads the model"
