"""OpenAI's Batch API lines read as its online answers: same body, same meaning, same usage checks."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest
from autoembed.config import Settings
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.embedders.openai_answers import _decode, error_detail, retry_after
from autoembed.errors import (
    BadVectorsError,
    InputRejectedError,
    MalformedResponseError,
    RetryableEmbeddingError,
    SetupError,
)


def _embedder(**overrides: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(Settings(database_url="postgresql://x", provider="openai",
                                   model="text-embedding-3-small", openai_api_key="sk-test",
                                   **overrides))  # type: ignore[arg-type]


def _body(count: int, tokens: object = 7) -> dict[str, object]:
    vector = base64.b64encode(np.ones(1536, "<f4").tobytes()).decode()
    return {"data": [{"index": i, "embedding": vector} for i in range(count)],
            "usage": {"prompt_tokens": tokens}}


def test_a_request_line_is_the_online_request_under_its_custom_id() -> None:
    """The line carries the body ``embed`` sends (base64, shortened dimensions) and ends a line."""
    embedder = _embedder(dimensions=256)
    line = embedder.batch_api.request_line("4:2", ["a", "b"])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {"custom_id": "4:2", "method": "POST", "url": "/v1/embeddings",
                                  "body": embedder.request_body(["a", "b"])}
    assert orjson.loads(line)["body"]["dimensions"] == 256


def test_an_answered_line_decodes_as_an_online_answer() -> None:
    """Status 200: the vectors and the believable usage; usage that cannot be true is None."""
    api = _embedder().batch_api
    answer = api.answer({"status_code": 200, "body": _body(2)}, 2)
    assert answer.vectors.shape == (2, 1536) and answer.tokens == 7
    assert api.billed_tokens({"status_code": 200, "body": _body(2)}, 2) == 7
    assert api.billed_tokens({"status_code": 200, "body": _body(2, 1e20)}, 2) is None
    assert api.answer({"status_code": 200, "body": _body(2, -1)}, 2).tokens is None


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, None, InputRejectedError), (500, None, RetryableEmbeddingError),
    (429, "insufficient_quota", SetupError), ("500", None, RetryableEmbeddingError),
])
def test_a_refused_line_means_what_the_same_online_answer_means(
    status: object, code: str | None, kind: type
) -> None:
    """The line's status and error body go through failures.from_http; a refused line bills nothing."""
    api = _embedder().batch_api
    response = {"status_code": status,
                "body": {"error": {"message": "Invalid input: the content was rejected", "code": code}}}
    with pytest.raises(kind) as caught:
        api.answer(response, 3)
    assert "Invalid input: the content was rejected" in str(caught.value)
    assert api.billed_tokens(response, 3) == 0


def test_a_line_without_an_error_message_says_the_batch_line_failed() -> None:
    """No error body to quote: the line's error names itself, with its status."""
    with pytest.raises(RetryableEmbeddingError, match=r"^HTTP 502: the batch line failed$"):
        _embedder().batch_api.answer({"status_code": 502, "body": {}}, 1)


@pytest.mark.parametrize("payload", [["not", "an", "object"], {"data": "x"}, {"usage": 1}])
def test_an_answer_without_a_data_list_is_malformed(payload: object) -> None:
    """Not an object, or no list of data: malformed, by name, and no usage is believed."""
    embedder = _embedder()
    with pytest.raises(MalformedResponseError, match=r"^response has no data list$"):
        embedder.decode(payload, 1)
    assert embedder.reported_tokens(payload, 1) is None


def test_usage_that_is_not_an_object_is_no_usage() -> None:
    """``usage: 5`` or ``usage: [5]`` reports nothing believable: our own count is used."""
    embedder = _embedder()
    for usage in (5, [5], "5"):
        assert embedder.reported_tokens({"data": [], "usage": usage}, 1) is None


def test_a_bad_vector_keeps_the_tokens_the_answer_reported() -> None:
    """One NaN row: the error carries the provider's token count, which the run charges."""
    body = _body(2, 9)
    body["data"][1]["embedding"] = base64.b64encode(  # type: ignore[index]
        np.full(1536, np.nan, "<f4").tobytes()).decode()
    with pytest.raises(BadVectorsError) as caught:
        _embedder().decode(body, 2)
    assert caught.value.bad == [1] and caught.value.tokens == 9


@pytest.mark.parametrize(("indexes", "named"), [
    ([1, 1], 1), ([0, 2], 2), ([0, "a"], "'a'"), ([1, 0, 0], 0), ([-1, 0], -1), ([0, None], None),
])
def test_a_bad_or_repeated_index_is_named(indexes: list[object], named: object) -> None:
    """The first index out of range, not a number, or seen before, is named in the error."""
    data = [{"index": i, "embedding": [0.0] * 4} for i in indexes]
    with pytest.raises(MalformedResponseError, match=rf"^bad or repeated index {named}$"):
        _decode(data, len(indexes), 4)


def test_a_wrong_count_or_an_item_that_is_not_an_object_is_malformed() -> None:
    """Three items for two inputs, or an item that is a string: the whole answer is malformed."""
    with pytest.raises(MalformedResponseError, match=r"^expected 2 vectors, got 3$"):
        _decode([{"index": i} for i in range(3)], 2, 4)
    with pytest.raises(MalformedResponseError, match=r"^bad or repeated index None$"):
        _decode(["x", {"index": 0, "embedding": [0.0] * 4}], 2, 4)


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25), ({"retry-after": "2"}, 2.0),
    ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0), ({"retry-after": "-4"}, 0.0),
    ({"retry-after-ms": ""}, None), ({}, None),
])
def test_retry_after_reads_milliseconds_first(headers: dict[str, str], seconds: float | None) -> None:
    """retry-after-ms, then retry-after (seconds); unreadable or missing is no advice."""
    assert retry_after(headers) == seconds


def test_vectors_one_by_one_are_float32_rows_each_checked_alone() -> None:
    """1000 dimensions (base64 with padding) or plain float lists: float32 rows in index order;
    an undecodable row is named bad and the rows after it are still decoded; the tokens stay."""
    rows = np.random.default_rng(4).standard_normal((3, 1000)).astype(np.float32)
    encoded = [base64.b64encode(r.astype("<f4").tobytes()).decode() for r in rows]
    data = [{"index": 0, "embedding": "!" + encoded[0][1:]}, {"index": 2, "embedding": encoded[2]},
            {"index": 1, "embedding": rows[1].tolist()}]
    with pytest.raises(BadVectorsError) as caught:
        _decode(data, 3, 1000, tokens=11)
    assert caught.value.bad == [0] and caught.value.tokens == 11
    assert caught.value.vectors.dtype == np.float32
    assert np.array_equal(caught.value.vectors[1:], rows[1:])
    floats = _decode([{"index": i, "embedding": rows[i].tolist()} for i in range(3)], 3, 1000)
    assert floats.dtype == np.float32 and np.array_equal(floats, rows)


def test_a_wrongly_sized_row_spoils_only_itself() -> None:
    """A row one value short comes first: it is bad, and the rows after it are still read."""
    rows = np.ones((2, 8), np.float32)
    data = [{"index": 0, "embedding": [1.0] * 7}, {"index": 1, "embedding": rows[1].tolist()}]
    with pytest.raises(BadVectorsError) as caught:
        _decode(data, 2, 8)
    assert caught.value.bad == [0] and np.array_equal(caught.value.vectors[1], rows[1])


@pytest.mark.parametrize(("body", "detail"), [
    ({"error": {"message": "m", "code": "c", "type": "t"}}, ("m", "c")),
    ({"error": {"message": "m", "type": "t"}}, ("m", "t")),
    ({"error": {"message": "m"}}, ("m", None)),
    ({"message": "top", "code": "c"}, ("top", "c")),
    ({"error": "text"}, ("fallback", None)), (None, ("fallback", None)),
])
def test_an_error_body_gives_its_message_and_code(body: object, detail: tuple[str, str | None]) -> None:
    """The provider's message and code (or type), wrapped in ``error`` or not; else the fallback."""
    assert error_detail(body, "fallback") == detail
