"""Reading official files: every malformed byte stream is a RecordError naming the file (and line), never a
traceback; what the releases may legitimately contain (gzip under any name, a byte-order mark, CRLF) reads."""

from __future__ import annotations

import gzip
import json

import pytest

from synthctx.data.sources import RecordError, iter_jsonl, read_json


def _lines(path, *objs, end="\n"):
    path.write_bytes(b"".join(json.dumps(o).encode() + end.encode() for o in objs))
    return path


def test_gzip_under_any_name_bom_and_crlf_read(tmp_path):
    plain = _lines(tmp_path / "a.jsonl.gz", {"a": 1}, {"b": 2}, end="\r\n")  # plain text named .gz
    assert [r for _, _, r in iter_jsonl(plain)] == [{"a": 1}, {"b": 2}]
    packed = tmp_path / "b.jsonl"  # gzip named .jsonl
    packed.write_bytes(gzip.compress(b'\xef\xbb\xbf{"a": 1}\n\n{"b": 2}\n'))  # BOM, a blank line
    assert [(line, r) for _, line, r in iter_jsonl(packed)] == [(1, {"a": 1}), (3, {"b": 2})]


@pytest.mark.parametrize(
    "content,message",
    [
        (b'{"a": 1}\n{"b": "\xff"}\n', r"bad.jsonl:2: not UTF-8 text \(byte 7"),
        (b'{"a": 1}\n{"b": \n', r"bad.jsonl:2: not valid JSON"),
        (gzip.compress(b'{"a": 1}\n' * 50, mtime=0)[:-12], r"bad.jsonl: cannot be read"),  # a truncated download
    ],
)
def test_malformed_bytes_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordError, match=message):
        list(iter_jsonl(path))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(RecordError, match=r"missing.jsonl: cannot be read"):
        list(iter_jsonl(tmp_path / "missing.jsonl"))


def test_a_topic_file_may_be_gzipped_and_bad_bytes_name_the_line(tmp_path):
    topic = {"topic_id": "t1", "documents": []}
    (tmp_path / "topic.json.gz").write_bytes(gzip.compress(json.dumps(topic).encode()))
    assert read_json(tmp_path / "topic.json.gz") == topic
    (tmp_path / "bad.json").write_bytes(b'{\n"topic_id":\n"\xfe"}\n')
    with pytest.raises(RecordError, match=r"bad.json:3: not UTF-8 text"):
        read_json(tmp_path / "bad.json")
