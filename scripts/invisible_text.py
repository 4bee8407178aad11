"""Generate the character class of text that shows nothing, from the Unicode data files.

A job field made only of these characters is no text (sql: job_text_invisible_pattern,
migration 20261204000300). The class is derived, not listed by hand:

- Default_Ignorable_Code_Point (DerivedCoreProperties.txt): format controls,
  joiners, variation selectors, tags, Hangul fillers, ...;
- White_Space (PropList.txt): spaces and line breaks of every script;
- General_Category Cc (UnicodeData.txt): the C0 and C1 controls;
- and, named here because Unicode gives them neither property though they
  show nothing on their own: U+2800 BRAILLE PATTERN BLANK and the
  interlinear annotation controls U+FFF9..U+FFFB.

U+0000 is left out: PostgreSQL text cannot hold it. The data files are
Debian's unicode-data package (/usr/share/unicode), or the directory given.

    python scripts/invisible_text.py [DATA_DIR]        # the SQL literal, to paste
    python scripts/invisible_text.py --ranges [DATA_DIR]  # one range a line, hex
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DATA_DIR = Path("/usr/share/unicode")
# Blank-looking code points without Default_Ignorable_Code_Point or White_Space.
BLANK_LOOKING = {0x2800: "BRAILLE PATTERN BLANK", 0xFFF9: "INTERLINEAR ANNOTATION ANCHOR",
                 0xFFFA: "INTERLINEAR ANNOTATION SEPARATOR", 0xFFFB: "INTERLINEAR ANNOTATION TERMINATOR"}
LINE_WIDTH = 96


def _property(path: Path, name: str) -> set[int]:
    """The code points a property file gives ``name``."""
    found: set[int] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split("#", 1)[0].split(";")]
        if len(fields) < 2 or fields[1] != name:
            continue
        first, _, last = fields[0].partition("..")
        found.update(range(int(first, 16), int(last or first, 16) + 1))
    return found


def _controls(path: Path) -> set[int]:
    """The code points UnicodeData.txt gives General_Category Cc."""
    return {int(f[0], 16) for line in path.read_text(encoding="utf-8").splitlines()
            if len(f := line.split(";")) > 2 and f[2] == "Cc"}


def version(data: Path = DATA_DIR) -> str:
    """The Unicode version of the data files, from DerivedCoreProperties.txt's first line."""
    head = (data / "DerivedCoreProperties.txt").read_text(encoding="utf-8").split("\n", 1)[0]
    match = re.search(r"(\d+\.\d+\.\d+)", head)
    return match.group(1) if match else "unknown"


def invisible(data: Path = DATA_DIR) -> set[int]:
    """Every code point of the class."""
    points = (_property(data / "DerivedCoreProperties.txt", "Default_Ignorable_Code_Point")
              | _property(data / "PropList.txt", "White_Space")
              | _controls(data / "UnicodeData.txt") | set(BLANK_LOOKING))
    return points - {0}


def ranges(points: set[int]) -> list[tuple[int, int]]:
    """Consecutive code points merged into (first, last) ranges, in order."""
    merged: list[tuple[int, int]] = []
    for point in sorted(points):
        if merged and merged[-1][1] == point - 1:
            merged[-1] = (merged[-1][0], point)
        else:
            merged.append((point, point))
    return merged


def _escape(point: int) -> str:
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


def sql_literal(points: set[int]) -> str:
    """The regular expression of a text made only of ``points``, as SQL string lines."""
    items = [_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in ranges(points)]
    lines, line = [], "'^["
    for item in items:
        if len(line) + len(item) + 1 > LINE_WIDTH:
            lines.append(line + "'")
            line = "'"
        line += item
    lines.append(line + "]+$'")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--ranges"]
    data = Path(args[0]) if args else DATA_DIR
    points = invisible(data)
    if "--ranges" in argv:
        print("\n".join(f"{a:04X}..{b:04X}" for a, b in ranges(points)))
    else:
        print(sql_literal(points))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
