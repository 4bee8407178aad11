"""Decoding an embeddings answer: the one-shot path and the per-vector path agree."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from autoembed.embedders.openai_answers import _decode
from autoembed.errors import BadVectorsError, MalformedResponseError


def _answer(vectors: np.ndarray, order: list[int]) -> list[dict[str, object]]:
    return [{"object": "embedding", "index": i,
             "embedding": base64.b64encode(vectors[i].astype("<f4").tobytes()).decode()}
            for i in order]


@pytest.mark.parametrize("dimensions", [1536, 1000])  # 1000 x 4 bytes needs padding: per vector
def test_vectors_are_placed_by_index_whatever_the_order(dimensions: int) -> None:
    vectors = np.random.default_rng(1).standard_normal((5, dimensions)).astype(np.float32)
    decoded = _decode(_answer(vectors, [3, 0, 4, 1, 2]), 5, dimensions)
    assert np.array_equal(decoded, vectors)


def test_one_undecodable_vector_spoils_only_its_row() -> None:
    vectors = np.random.default_rng(2).standard_normal((4, 1536)).astype(np.float32)
    data = _answer(vectors, [0, 1, 2, 3])
    data[2]["embedding"] = "!" + str(data[2]["embedding"])[1:]  # same length, not base64
    with pytest.raises(BadVectorsError) as caught:
        _decode(data, 4, 1536)
    assert caught.value.bad == [2]
    assert np.array_equal(caught.value.vectors[[0, 1, 3]], vectors[[0, 1, 3]])


def test_a_short_vector_spoils_only_its_row() -> None:
    vectors = np.random.default_rng(3).standard_normal((3, 1536)).astype(np.float32)
    data = _answer(vectors, [0, 1, 2])
    data[0]["embedding"] = base64.b64encode(vectors[0][:-3].tobytes()).decode()
    with pytest.raises(BadVectorsError) as caught:
        _decode(data, 3, 1536)
    assert caught.value.bad == [0]


@pytest.mark.parametrize("order", [[0, 0, 1], [0, 1, 3], [0, 1, -1]])
def test_a_bad_or_repeated_index_spoils_the_answer(order: list[int]) -> None:
    vectors = np.zeros((4, 1536), dtype=np.float32)
    data = [{"index": i, "embedding": base64.b64encode(vectors[0].tobytes()).decode()} for i in order]
    with pytest.raises(MalformedResponseError, match="bad or repeated index"):
        _decode(data, 3, 1536)


def test_the_sdk_is_frozen_out_of_the_collectors_walks_once_loaded() -> None:
    """Making the SDK client freezes what is alive then (the SDK's modules and
    types), so full collections during a drain no longer walk them."""
    import gc

    from autoembed.config import Settings
    from autoembed.embedders.openai import OpenAIEmbedder

    embedder = OpenAIEmbedder(Settings(database_url="postgresql://unused", provider="openai",
                                       model="text-embedding-3-small", openai_api_key="sk-test"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert embedder.client is not None
    assert gc.get_freeze_count() > 10_000


def test_the_sdk_loads_in_the_background_and_a_failure_waits_for_the_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run with work due starts making the client in a thread of its own; a client
    that cannot start (no key anywhere) is reported by the first request, as before."""
    import threading

    from autoembed.config import Settings
    from autoembed.embedders.openai import OpenAIEmbedder
    from autoembed.errors import SetupError

    def loaders() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "sdk-load"]

    def settings(key: str | None) -> Settings:
        return Settings(database_url="postgresql://unused", provider="openai",
                        model="text-embedding-3-small", openai_api_key=key,
                        openai_base_url="http://127.0.0.1:9/v1")

    embedder = OpenAIEmbedder(settings("sk-test"))
    embedder.warm_up()
    for thread in loaders():
        thread.join(timeout=30)
    assert embedder._client is not None
    embedder.warm_up()  # already made: no second thread
    assert loaders() == []

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = OpenAIEmbedder(settings(None))
    keyless.warm_up()
    for thread in loaders():
        thread.join(timeout=30)
    assert keyless._client is None
    with pytest.raises(SetupError, match="cannot start"):
        keyless.embed(["a posting"])
