"""embedders.base's checks every provider answer passes, online or in a batch."""

from __future__ import annotations

import numpy as np
import pytest
from autoembed.embedders.base import check_vectors, usage_tokens
from autoembed.errors import BadVectorsError, MalformedResponseError
from autoembed.limits import OPENAI_LIMITS


def test_unbelievable_usage_is_logged_with_its_value_and_missing_usage_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Replacing the provider's count is worth a warning naming what it said; no count is not."""
    with caplog.at_level("WARNING"):
        assert usage_tokens(None, 3, OPENAI_LIMITS) is None
        assert caplog.records == []
        assert usage_tokens(-7, 3, OPENAI_LIMITS) is None
    assert [r.getMessage() for r in caplog.records] == [
        "the provider reported usage -7 for 3 inputs: not believable, counting the tokens ourselves"]


def test_a_wrong_count_or_width_spoils_the_whole_answer() -> None:
    """Three rows for two inputs, or rows one value short: the answer is malformed, by name."""
    with pytest.raises(MalformedResponseError, match=r"^expected 2 vectors, got 3$"):
        check_vectors(np.zeros((3, 4), np.float32), 2, 4)
    with pytest.raises(MalformedResponseError, match=r"^expected 4 dimensions, got 3$"):
        check_vectors(np.zeros((2, 3), np.float32), 2, 4)
    with pytest.raises(MalformedResponseError, match=r"^expected 2 vectors, got 8$"):
        check_vectors(np.zeros(8, np.float32), 2, 4)


def test_one_non_finite_value_spoils_only_its_row_and_keeps_the_tokens() -> None:
    """A NaN in one row of three: that row is named bad, the others kept, the tokens carried."""
    vectors = np.ones((3, 4), np.float32)
    vectors[1, 2] = np.nan
    with pytest.raises(BadVectorsError) as caught:
        check_vectors(vectors, 3, 4, tokens=12)
    assert caught.value.bad == [1] and caught.value.tokens == 12
    assert str(caught.value) == "unusable vector at position 1 of 3 (NaN, infinite, all zero or wrong size)"
    assert caught.value.vectors is vectors


def test_a_row_of_only_zeros_is_unusable_as_a_nan_is() -> None:
    """A zero vector has no direction: its cosine distance is NaN, so no search finds its row."""
    vectors = np.ones((3, 4), np.float32)
    vectors[2] = 0.0
    vectors[0, 0] = 0.0  # one zero value is a vector like any other
    with pytest.raises(BadVectorsError) as caught:
        check_vectors(vectors, 3, 4)
    assert caught.value.bad == [2]


def test_every_row_bad_is_the_answers_fault_unless_there_is_one() -> None:
    """Two of two rows bad: malformed (ask again); the only row of one bad: that input's row."""
    with pytest.raises(MalformedResponseError, match=r"^all 2 vectors are unusable") as caught:
        check_vectors(np.full((2, 4), np.inf, np.float32), 2, 4)
    assert not isinstance(caught.value, BadVectorsError)
    with pytest.raises(BadVectorsError):
        check_vectors(np.full((1, 4), np.inf, np.float32), 1, 4)
    assert check_vectors(np.ones((2, 4), np.float32), 2, 4).shape == (2, 4)
