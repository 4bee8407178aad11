"""autoembed.shown: control characters as escapes, every other character as it is."""

from __future__ import annotations

import pytest
from autoembed.shown import shown


@pytest.mark.parametrize(("raw", "escaped"), [
    ("line1\nline2\r\tend", "line1\\nline2\\r\\tend"),
    ("esc\x1b[31mred\x07", "esc\\x1b[31mred\\x07"),
    ("\x00nul\x7fdel\x9bcsi", "\\x00nul\\x7fdel\\x9bcsi"),
    ("bidi\u202eevil\u2066iso\u2069", "bidi\\u202eevil\\u2066iso\\u2069"),
    ("para\u2028sep", "para\\u2028sep"),
])
def test_controls_are_escaped(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped


@pytest.mark.parametrize("plain", ["Zürich, 東京", "👩‍💻 engineer", "C:\\path\\n", "", "a|b {c} 'd'"])
def test_everything_else_is_left_as_it_is(plain: str) -> None:
    assert shown(plain) == plain


def test_any_value_is_shown_as_text() -> None:
    assert shown(None) == "None" and shown(42) == "42"
