"""Text from the database as a terminal or a log line may show it.

A source's keys, titles, row values and error messages are the app's data: its
users may choose them. Printed as they are, a newline splits one failure over
two lines of ``autoembed failures`` (and of anything that reads it line by
line), and an escape sequence (``ESC [ 31 m``, a title bar, a hyperlink) or a
bidi override reaches the terminal. ``shown`` writes each such character as its
escape, the way Python's ``repr`` does, and leaves every other character,
letters of any script and emoji included, as it is (a backslash too: ``--json``
gives every value exactly).
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, the line and paragraph separators, and the bidi embeddings,
# overrides and isolates (which reorder what follows them on the line).
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object) -> str:
    """``value`` as text, its control characters written as escapes (``\\n``, ``\\x1b``, ``\\u202e``)."""
    text = str(value)
    return _UNSHOWN.sub(_escape, text) if _UNSHOWN.search(text) else text
