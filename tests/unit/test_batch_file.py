"""The Batch API input file: every request within the online limits, the file within its own."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from autoembed.claimed import ClaimedItem
from autoembed.config import Settings
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.limits import OPENAI_BATCH_LIMITS, OPENAI_LIMITS
from autoembed.provider_batches.input_file import InputFile, input_file
from autoembed.tokens import Prepared


def _prepared(count: int, tokens: int) -> list[tuple[ClaimedItem, Prepared]]:
    return [(ClaimedItem(n, n, None, 0, f"posting {n}", b""), Prepared(f"posting {n}", tokens, tokens))
            for n in range(count)]


def _embedder() -> OpenAIEmbedder:
    return OpenAIEmbedder(Settings(database_url="postgresql://x", provider="openai",
                                   model="text-embedding-3-small", openai_api_key="sk-test"))


def _file(embedder: OpenAIEmbedder, batch: int, prepared: list[tuple[ClaimedItem, Prepared]]
          ) -> tuple[list[bytes], list[int], list[tuple[int, int, int]], int, int, int]:
    built: InputFile = input_file(embedder.batch_api, embedder.limits, batch, prepared)
    return built.lines, built.sizes, built.placements, built.tokens, built.size, built.kept


def test_requests_keep_the_online_limits_and_entries_are_placed_by_request_and_position() -> None:
    prepared = _prepared(5000, 200)  # 2,048 inputs or 300,000 tokens: whichever comes first
    lines, sizes, placements, tokens, size, kept = _file(_embedder(), 7, prepared)
    bodies = [orjson.loads(line) for line in lines]
    assert kept == 5000 and sum(sizes) == 5000 and tokens == 5000 * 200
    assert size == sum(len(line) for line in lines) and all(line.endswith(b"\n") for line in lines)
    for n, (record, count) in enumerate(zip(bodies, sizes, strict=True)):
        assert record["custom_id"] == f"7:{n}" and record["url"] == "/v1/embeddings"
        inputs = record["body"]["input"]
        assert len(inputs) == count <= OPENAI_LIMITS.max_inputs
        assert count * 200 <= OPENAI_LIMITS.max_request_tokens
        assert record["body"]["encoding_format"] == "base64"
    # Each entry's text is at the request and position its placement records.
    for queue_id, request, position in placements:
        assert bodies[request]["body"]["input"][position] == f"posting {queue_id}"
    assert len(placements) == 5000


def test_big_inputs_split_requests_by_tokens() -> None:
    lines, sizes, *_ = _file(_embedder(), 1, _prepared(100, 8000))
    assert max(sizes) * 8000 <= OPENAI_LIMITS.max_request_tokens and sum(sizes) == 100
    assert len(lines) == len(sizes) == -(-100 // (OPENAI_LIMITS.max_request_tokens // 8000))


@pytest.mark.parametrize("limit", ["max_requests", "max_file_bytes"])
def test_what_does_not_fit_the_file_is_left_out(monkeypatch: pytest.MonkeyPatch, limit: str) -> None:
    """The file stops at 50,000 requests or 200 MB (scaled down here); the rest stays due."""
    small = {"max_requests": 2, "max_file_bytes": 1500}[limit]
    embedder = _embedder()
    monkeypatch.setattr(embedder.batch_api, "limits", replace(OPENAI_BATCH_LIMITS, **{limit: small}))
    prepared = _prepared(200, 8000)  # 37 inputs a request: six requests of about 700 bytes
    lines, sizes, placements, _, size, kept = _file(embedder, 1, prepared)
    assert 0 < kept < 200 and kept == sum(sizes) == len(placements)
    assert [q for q, _, _ in placements] == list(range(kept))  # the first ones, in order
    if limit == "max_requests":
        assert len(lines) == 2
    else:
        assert size <= small


def test_batch_limits_are_openais() -> None:
    assert (OPENAI_BATCH_LIMITS.max_requests, OPENAI_BATCH_LIMITS.max_file_bytes,
            OPENAI_BATCH_LIMITS.max_inputs) == (50_000, 200 * 1024 * 1024, 50_000)


def test_a_file_exactly_at_its_byte_limit_keeps_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte limit is inclusive: requests that fill it to the byte all go in."""
    embedder = _embedder()
    whole = _file(embedder, 1, _prepared(200, 8000))
    monkeypatch.setattr(embedder.batch_api, "limits",
                        replace(OPENAI_BATCH_LIMITS, max_file_bytes=whole[4]))
    assert _file(embedder, 1, _prepared(200, 8000))[5] == 200
