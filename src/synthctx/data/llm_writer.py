"""Optional LLM writers for high-realism needles and haystacks (the paper used GPT-4o-mini).

The offline default never needs this module. When a writer is configured, every text is cached on
disk under a key of (writer identity, prompt, seed), so a rerun reads the same texts back without
calling the backend: the cache, not the backend's sampling, is what makes the data reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from synthctx.data.files import atomic_path
from synthctx.data.records import DataError
from synthctx.data.wikipedia import split_sentences

BODY_EXCERPT = 300
MAX_NEEDLE_WORDS = 60

NEEDLE_PROMPT = (
    "Write one natural sentence, in the style of an encyclopedia or a biography, stating that {value} "
    'is the {relation} of {entity}. Use the exact text "{entity}" once and the exact text "{value}" '
    "once; do not repeat either of them. Keep it under 40 words. Reply with the sentence only, on one "
    "line, without quotation marks or any explanation."
)
HAYSTACK_PROMPT = (
    "Write an encyclopedic paragraph of about {words} words about {topic}, in the neutral, factual "
    "style of a Wikipedia article. Write a single paragraph of plain prose: no title, headings, lists, "
    "line breaks or markdown. Reply with the paragraph only."
)


class WriterError(RuntimeError):
    """The backend failed or answered something that is not a completion."""


class InvalidOutputError(ValueError):
    """Every attempt produced text that failed validation."""


class TextWriter(Protocol):
    def write(self, prompt: str, seed: int) -> str: ...

    def identity(self) -> dict[str, Any]: ...


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "..."


def _check_params(limit_name: str, limit: int, temperature: float) -> tuple[int, float]:
    """Normalise numbers so 0 and 0.0 (or "256" and 256) give the same cache key."""
    limit, temperature = int(limit), float(temperature)
    if limit < 1:
        raise ValueError(f"{limit_name} must be >= 1, got {limit}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    return limit, temperature


class OpenAICompatibleWriter:
    """Any server speaking the OpenAI chat-completions protocol (OpenAI, vLLM, llama.cpp, ...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.7,
        timeout: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.api_key_env = api_key_env  # the variable's name; the key itself never enters config or cache
        self.max_tokens, self.temperature = _check_params("max_tokens", max_tokens, temperature)
        self.timeout = float(timeout)

    def identity(self) -> dict[str, Any]:
        # The URL and key are left out: the same model behind another address writes the same texts.
        return {
            "backend": "openai",
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise WriterError(
                    f"environment variable {self.api_key_env} (api_key_env) is not set or empty; "
                    f"it must hold the API key for {self.url}"
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def write(self, prompt: str, seed: int) -> str:
        """One completion; `seed` is passed on, though servers honour it only on a best-effort basis."""
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": int(seed),
        }
        request = urllib.request.Request(
            self.url, data=json.dumps(payload).encode("utf-8"), headers=self._headers(), method="POST"
        )
        # A fresh opener per call, so proxy settings are read from the environment of the moment.
        opener = urllib.request.build_opener()
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            body = err.read() if err.fp is not None else b""
            raise WriterError(f"POST {self.url} failed: HTTP {err.code} {err.reason}: {_excerpt(body)}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise WriterError(f"POST {self.url} failed: {reason}") from None
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise WriterError(
                f"POST {self.url}: malformed response (HTTP {status}), expected "
                f"choices[0].message.content: {_excerpt(raw)}"
            )
        return content.strip()


class TransformersWriter:
    """A local causal LM with its chat template; loaded on first use, so a fully cached run never loads it."""

    def __init__(
        self,
        model_dir: str | Path,
        dtype: str = "float32",
        max_new_tokens: int = 128,
        temperature: float = 0.7,
        device: str | None = None,
    ) -> None:
        from synthctx.models.model_io import DTYPES

        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ValueError(f"model_dir {self.model_dir} holds no config.json (not a prepared model folder)")
        self.dtype = dtype
        self.max_new_tokens, self.temperature = _check_params("max_new_tokens", max_new_tokens, temperature)
        self.device = device
        self._fingerprint: str | None = None
        self._model = None
        self._tokenizer = None

    def fingerprint(self) -> str:
        """sha256 over the folder's files: the key follows the weights, not the path they lie at."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for path in sorted(p for p in self.model_dir.rglob("*") if p.is_file()):
                rel = path.relative_to(self.model_dir).as_posix()
                if any(part.startswith(".") for part in rel.split("/")):
                    continue
                digest.update(rel.encode() + b"\0")
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
                digest.update(b"\0")
            self._fingerprint = "sha256:" + digest.hexdigest()
        return self._fingerprint

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "transformers",
            "model": self.fingerprint(),
            "dtype": self.dtype,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_k": 0,
            "top_p": 1.0,
        }

    def _load(self) -> None:
        from synthctx.models.model_io import load_model, load_tokenizer

        self._tokenizer = load_tokenizer(self.model_dir)
        self._model = load_model(self.model_dir, self.dtype)  # on model_io.inference_device()
        if self.device:  # the writer's own `device` setting overrides it
            self._model = self._model.to(self.device)

    def write(self, prompt: str, seed: int) -> str:
        """Sampling is seeded per call inside a forked RNG, so (prompt, seed) fixes the text and the
        caller's global RNG state is left untouched."""
        import torch

        if self._model is None:
            self._load()
        model, tok = self._model, self._tokenizer
        inputs = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True, return_tensors="pt"
        ).to(model.device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": self.temperature, "top_k": 0, "top_p": 1.0}
            if self.temperature > 0
            else {"do_sample": False}
        )
        devices = [model.device.index or 0] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(int(seed))
            out = model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, pad_token_id=tok.pad_token_id, **sampling
            )
        new_tokens = out[0, inputs["input_ids"].shape[1] :]
        return tok.decode(new_tokens, skip_special_tokens=True).strip()


class CachedWriter:
    """Content-addressed cache in front of a writer: a hit never reaches the backend."""

    def __init__(self, writer: TextWriter, cache_dir: str | Path) -> None:
        self.writer = writer
        self.cache_dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0

    def identity(self) -> dict[str, Any]:
        return self.writer.identity()

    def key(self, prompt: str, seed: int) -> str:
        return hashlib.sha256(
            _canonical({"identity": self.identity(), "prompt": prompt, "seed": int(seed)}).encode("utf-8")
        ).hexdigest()

    def path_for(self, prompt: str, seed: int) -> Path:
        key = self.key(prompt, seed)
        return self.cache_dir / key[:2] / f"{key}.json"

    def write(self, prompt: str, seed: int) -> str:
        path = self.path_for(prompt, seed)
        if path.is_file():
            try:
                text = json.loads(path.read_text(encoding="utf-8"))["text"]
            except (ValueError, KeyError, TypeError) as err:
                raise WriterError(f"cache file {path} is unreadable ({err}); delete it to regenerate") from None
            self.hits += 1
            return text
        text = self.writer.write(prompt, int(seed))
        self.misses += 1
        record = {"identity": self.identity(), "prompt": prompt, "seed": int(seed), "text": text}
        # A unique temporary name: concurrent writers of one cache entry never meet a partial file.
        with atomic_path(path, unique=True) as tmp:
            tmp.write_text(json.dumps(record, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return text


BACKEND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # backend -> (required keys, optional keys)
    "openai": (("base_url", "model", "api_key_env", "max_tokens", "temperature"), ("timeout",)),
    "transformers": (("model_dir", "dtype", "max_new_tokens", "temperature"), ("device",)),
}


def writer_from_config(cfg: dict[str, Any], cache_dir: str | Path) -> CachedWriter:
    """Every generation parameter must be spelled out in config, since each one is part of the cache key."""
    backend = cfg.get("backend")
    if backend not in BACKEND_KEYS:
        raise DataError(f"writer.backend: unknown backend {backend!r}; expected one of {sorted(BACKEND_KEYS)}")
    required, optional = BACKEND_KEYS[backend]
    for key in required:
        if key not in cfg:
            raise DataError(f"writer.{key}: missing (required for backend {backend!r})")
    for key in cfg:
        if key != "backend" and key not in required and key not in optional:
            raise DataError(f"writer.{key}: unknown key for backend {backend!r}")
    params = {k: v for k, v in cfg.items() if k != "backend"}
    writer: TextWriter
    if backend == "openai":
        writer = OpenAICompatibleWriter(**params)
    else:
        writer = TransformersWriter(**params)
    return CachedWriter(writer, cache_dir)


def _count_exact(text: str, needle: str) -> int:
    return len(re.findall(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", text))


def _mask(text: str, needle: str) -> str:
    return re.sub(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", "Xx", text)


def _clean_sentence(text: str) -> str:
    text = " ".join(text.split())
    pairs = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
    if len(text) >= 2 and pairs.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def needle_problem(raw: str, entity: str, value: str) -> str | None:
    """Why `raw` is not a usable needle sentence, or None if it is."""
    if not raw.strip():
        return "empty"
    if "\n" in raw.strip():
        return "more than one line"
    text = _clean_sentence(raw)
    if len(text.split()) > MAX_NEEDLE_WORDS:
        return f"{len(text.split())} words (> {MAX_NEEDLE_WORDS})"
    # Count the longer string first and mask it, so a value inside the entity (or vice versa) counts once.
    longer, shorter = sorted((entity, value), key=len, reverse=True)
    counts = {longer: _count_exact(text, longer)}
    masked = _mask(text, longer)
    counts[shorter] = _count_exact(masked, shorter)
    for name, label in ((entity, "entity"), (value, "value")):
        if counts[name] != 1:
            return f"{label} {name!r} appears {counts[name]} times (need exactly 1)"
    if not re.search(r"[.!?][\"')\u201d\u2019]?$", text):
        return "does not end like a sentence"
    # Masked, so that a period inside the entity or value ("St. Louis") is not taken for a sentence end.
    if len(split_sentences(_mask(masked, shorter))) != 1:
        return "more than one sentence"
    return None


def value_offset(sentence: str, entity: str, value: str) -> int:
    """Where `value` stands in a valid needle sentence: the whole-word occurrence that is not part of
    `entity` (counted as needle_problem counts), so "Lyon" is not found inside "Lyonnais"."""
    covered = (
        [m.span() for m in re.finditer(r"(?<!\w)" + re.escape(entity) + r"(?!\w)", sentence)]
        if len(entity) > len(value)
        else []
    )
    for m in re.finditer(r"(?<!\w)" + re.escape(value) + r"(?!\w)", sentence):
        if not any(s <= m.start() and m.end() <= e for s, e in covered):
            return m.start()
    raise ValueError(f"{value!r} does not occur as a whole word in {sentence!r}")


def needle_sentence(
    writer: TextWriter, relation_phrase: str, entity: str, value: str, seed: int, attempts: int = 5
) -> str:
    """A natural sentence stating the fact; invalid outputs are retried with seed+1, seed+2, ..."""
    if not entity or not value or entity == value:
        raise ValueError(f"entity and value must be distinct non-empty strings, got {entity!r} and {value!r}")
    prompt = NEEDLE_PROMPT.format(relation=relation_phrase, entity=entity, value=value)
    problems: list[str] = []
    for i in range(max(1, int(attempts))):
        raw = writer.write(prompt, seed + i)
        problem = needle_problem(raw, entity, value)
        if problem is None:
            return _clean_sentence(raw)
        problems.append(f"seed {seed + i}: {problem}: {_excerpt(raw)!r}")
    raise InvalidOutputError(
        f"no valid needle sentence for {entity!r} / {value!r} after {len(problems)} "
        "attempts:\n  " + "\n  ".join(problems)
    )


def normalise_paragraph(text: str) -> str:
    """Strip and collapse spaces and tabs; line breaks are kept so that validation can reject them."""
    lines = [" ".join(line.split()) for line in text.strip().replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines)


def haystack_problem(text: str, words: int) -> str | None:
    """Why a normalised paragraph is not a usable haystack document, or None if it is."""
    if not text:
        return "empty"
    if "\n" in text:
        return "contains line breaks (not a single paragraph)"
    n = len(text.split())
    if not 0.5 * words <= n <= 2 * words:
        return f"{n} words (outside {0.5 * words:g}-{2 * words:g})"
    return None


def haystack_document(writer: TextWriter, topic: str, words: int, seed: int, attempts: int = 3) -> str:
    """An encyclopedic paragraph on `topic`; invalid outputs are retried with seed+1, seed+2, ..."""
    if int(words) < 1:
        raise ValueError(f"words must be >= 1, got {words}")
    prompt = HAYSTACK_PROMPT.format(words=int(words), topic=topic)
    problems: list[str] = []
    for i in range(max(1, int(attempts))):
        text = normalise_paragraph(writer.write(prompt, seed + i))
        problem = haystack_problem(text, int(words))
        if problem is None:
            return text
        problems.append(f"seed {seed + i}: {problem}: {_excerpt(text)!r}")
    raise InvalidOutputError(
        f"no valid haystack document on {topic!r} after {len(problems)} attempts:\n  " + "\n  ".join(problems)
    )


def writer_from_slice(section: dict[str, Any] | None) -> CachedWriter | None:
    """The cached writer of a synthetic variant's slice (its `writer` section, with `cache_dir` and
    `use_for`), or None when no LLM writes any of the variant's text."""
    if not section:
        return None
    return writer_from_config(
        {k: v for k, v in section.items() if k not in ("cache_dir", "use_for")}, section["cache_dir"]
    )
