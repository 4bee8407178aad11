"""A batch of vectors as one binary vector[]: byte for byte what pgvector's own
per-vector dumper and psycopg's array dumper produce together."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from autoembed.vector_array import MAX_DIMENSIONS, VectorArray, encode
from pgvector import Vector

VECTOR_OID = 16_385  # any oid: it is only written into the header


def _expected(rows: np.ndarray) -> bytes:
    """PostgreSQL's binary array layout around pgvector's binary form of each row."""
    out = struct.pack(">iiIii", 1, 0, VECTOR_OID, len(rows), 1)
    for row in rows:
        element = Vector(row).to_binary()
        out += struct.pack(">i", len(element)) + element
    return out


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (250, 1536), (2, 3072)])
def test_encode_matches_pgvector_row_by_row(shape: tuple[int, int]) -> None:
    rows = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    assert encode(rows, VECTOR_OID) == _expected(rows)


def test_encode_keeps_every_bit_of_awkward_values() -> None:
    """Negative zero, the smallest subnormal and the largest float4 survive as they are."""
    rows = np.array([[-0.0, 1e-45, 3.4028235e38, -3.4028235e38, 1.0]], dtype=np.float32)
    encoded = encode(rows, VECTOR_OID)
    assert encoded == _expected(rows)
    values = np.frombuffer(encoded[-20:], dtype=">f4")
    assert values.tobytes() == rows[0].astype(">f4").tobytes()


def test_encode_converts_other_float_types_as_pgvector_does() -> None:
    rows = np.random.default_rng(1).standard_normal((4, 9))  # float64
    assert encode(rows, VECTOR_OID) == _expected(rows)


def test_an_empty_batch_is_an_empty_array() -> None:
    assert encode(np.zeros((0, 5), dtype=np.float32), VECTOR_OID) == struct.pack(">iiI", 0, 0, VECTOR_OID)


@pytest.mark.parametrize("shape", [(5,), (2, 0), (1, MAX_DIMENSIONS + 1), (1, 2, 3)])
def test_only_rows_pgvector_accepts_are_wrapped(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected rows"):
        VectorArray(np.zeros(shape, dtype=np.float32))
