"""The local embedder counts tokens while another thread encodes.

The processor prepares (counts) the next request's texts while a forward
pass runs. Both used one Hugging Face fast tokenizer, whose padding and
truncation settings are shared state: a count between encode()'s setting
them and its batching made the batch ragged, and the whole claim failed
("Unable to create tensor"). The CI demo lost 20 jobs to it.
"""

from __future__ import annotations

import random
import threading

import pytest
from autoembed.config import Settings

pytest.importorskip("sentence_transformers")
from autoembed.embedders.local import LocalEmbedder

ENCODES = 150  # about 9% failed before the fix: P(no failure) ~ 1e-6


def test_counting_while_encoding_never_breaks_a_batch() -> None:
    embedder = LocalEmbedder(Settings.from_env(
        {"EMBEDDING_PROVIDER": "local", "DATABASE_URL": "postgresql://unused/db"}))
    errors: list[BaseException] = []
    done = threading.Event()
    counted = [0]

    def count() -> None:
        rng = random.Random(1)
        while not done.is_set():
            try:
                words = rng.randint(1, 600)
                assert embedder.prepare("word " * words).original_tokens == words + 2
                counted[0] += 1
            except BaseException as exc:
                errors.append(exc)

    def encode() -> None:
        rng = random.Random(2)
        try:
            for _ in range(ENCODES):
                texts = ["word " * rng.randint(1, 30) for _ in range(2)]
                try:
                    assert embedder.embed(texts).vectors.shape == (2, 384)
                except BaseException as exc:
                    errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=count) for _ in range(2)] + [threading.Thread(target=encode)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counted[0] > ENCODES  # the counts really ran beside the encodes
