"""A provider batch's result file is streamed: checked whole, read once per pass, never held."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import orjson
import pytest
from autoembed.embedders.base import Embeddings, ProviderBatch
from autoembed.errors import MalformedResponseError
from autoembed.limits import OPENAI_BATCH_LIMITS
from autoembed.provider_batches import result_file

VECTOR = "A" * 8192  # a 1536-d vector's base64 is 8,192 characters


def _line(batch: int, request: int, inputs: int) -> bytes:
    body = {"object": "list", "model": "m", "usage": {"prompt_tokens": inputs, "total_tokens": inputs},
            "data": [{"object": "embedding", "index": i, "embedding": VECTOR} for i in range(inputs)]}
    return orjson.dumps({"id": f"r{request}", "custom_id": f"{batch}:{request}",
                         "response": {"status_code": 200, "body": body}, "error": None}) + b"\n"


class Streamed:
    """A Batch API whose result file is generated chunk by chunk as it downloads."""

    limits = OPENAI_BATCH_LIMITS

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.size = 0

    def download(self, file_id: str, out: IO[bytes]) -> None:
        for chunk in self.chunks:
            self.size += len(chunk)
            out.write(chunk)

    def request_line(self, custom_id: str, texts: Sequence[str]) -> bytes:
        raise NotImplementedError

    def send(self, name: str, content: bytes, metadata: Mapping[str, str]) -> tuple[str, str]:
        raise NotImplementedError

    def check(self, provider_batch_id: str) -> ProviderBatch:
        raise NotImplementedError

    def cancel(self, provider_batch_id: str) -> None:
        raise NotImplementedError

    def answer(self, response: Mapping[str, Any], count: int) -> Embeddings:
        raise NotImplementedError

    def billed_tokens(self, response: Mapping[str, Any], count: int) -> int | None:
        raise NotImplementedError


def _big_file(requests: int, inputs: int, blank_mb: int) -> Iterator[bytes]:
    for request in range(requests):
        yield _line(5, request, inputs)
        if request == requests // 2:
            for _ in range(blank_mb):
                yield b"\n" * (1 << 20)  # a megabyte of blank lines, chunk by chunk


def test_a_large_result_file_with_blank_lines_is_read_in_bounded_memory() -> None:
    """A 60 MB answer file padded with 100 MB of blank lines: checked and read back with
    memory peaking at a few lines' size, every request once, in order."""
    api = Streamed(_big_file(requests=60, inputs=120, blank_mb=100))
    tracemalloc.start()
    try:
        with result_file.downloaded(api, ["file-out", None]) as files:
            assert result_file.check(files, 5, 60) == [60, 0]
            seen = [request for request, response in result_file.records(files, 5, 60)
                    if response is not None and response["status_code"] == 200]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == list(range(60))
    assert api.size > 150 * (1 << 20)
    assert peak < 8 * (1 << 20), f"peak {peak / 2**20:.1f} MB for a {api.size / 2**20:.0f} MB file"


def _files(content: bytes) -> Any:
    return result_file.downloaded(Streamed(iter([content])), ["f"])


def test_a_cut_off_file_is_refused_before_any_line_is_used() -> None:
    """The last line cut in half: check raises, so nothing of the file is written."""
    content = _line(5, 0, 2) + _line(5, 1, 2)[:100]
    with _files(content) as files, pytest.raises(MalformedResponseError, match="record 2"):
        result_file.check(files, 5, 2)


@pytest.mark.parametrize("custom_id", ["6:0", "5:2", "5:x", "", "5"])
def test_a_request_not_of_this_batch_is_refused(custom_id: str) -> None:
    """Another batch's id, a request past the batch's, or no id: the file is not this batch's."""
    record = orjson.dumps({"custom_id": custom_id, "response": None}) + b"\n"
    with _files(_line(5, 0, 1) + record) as files, pytest.raises(result_file.NotThisBatchError):
        result_file.check(files, 5, 2)


def test_a_repeated_request_is_read_once_and_an_unrun_line_has_no_response() -> None:
    """A duplicated line counts once; a line the batch never ran comes back without a response."""
    unrun = orjson.dumps({"custom_id": "5:1", "response": None, "error": {"code": "expired"}}) + b"\n"
    content = _line(5, 0, 1) + b"\n\r\n  \n" + _line(5, 0, 1) + unrun
    with _files(content) as files:
        assert result_file.check(files, 5, 2) == [2]
        got = [(request, response is None) for request, response in result_file.records(files, 5, 2)]
    assert got == [(0, False), (1, True)]


def test_lines_split_across_chunks_come_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than a read chunk, and a last line without a newline, are read whole."""
    monkeypatch.setattr(result_file, "CHUNK", 7)
    content = b"first line is long\n\n\nsecond\nthird"
    with _files(content) as files:
        assert list(result_file.lines(files[0])) == [b"first line is long", b"second", b"third"]


def test_records_read_every_file_given_and_refuse_what_is_not_a_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No output file but an error file: its lines are read; a repeat is logged by batch and
    request; a response that is not an object counts as none; a line that is not an object and
    a custom_id that is missing are refused with their reason."""
    repeat = orjson.dumps({"custom_id": "5:0", "response": "oops"}) + b"\n"
    with _files(repeat + repeat) as files, caplog.at_level("WARNING"):
        assert list(result_file.records([None, *files], 5, 1)) == [(0, None)]
    assert [r.getMessage() for r in caplog.records] == [
        "batch 5: request 0 answered twice; the repeat is ignored"]
    with _files(b"[1, 2]\n") as files, pytest.raises(MalformedResponseError, match="not an object"):
        result_file.check(files, 5, 1)
    empty = orjson.dumps({"response": None}) + b"\n"
    with _files(empty) as files, pytest.raises(result_file.NotThisBatchError,
                                               match="custom_id '', not of this batch"):
        result_file.check(files, 5, 1)


def test_a_last_line_longer_than_a_chunk_without_a_newline_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file's last line spans several read chunks and has no newline: it comes back whole."""
    monkeypatch.setattr(result_file, "CHUNK", 4)
    with _files(b"a\nthe last line spans chunks") as files:
        assert list(result_file.lines(files[0])) == [b"a", b"the last line spans chunks"]
