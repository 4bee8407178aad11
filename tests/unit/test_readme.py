"""Every command in README.md is run by a test (named next to it) or says why it cannot be here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text().splitlines()
NOTE = re.compile(
    r"<!-- (tested: (?P<test>\S+)|not run by the tests: .+|run by CI: .+|not a command: .+) -->")


def _fences() -> list[int]:
    opening, inside = [], False
    for n, line in enumerate(README):
        if line.strip().startswith("```"):
            if not inside:
                opening.append(n)
            inside = not inside
    return opening


@pytest.mark.parametrize("line", _fences())
def test_every_code_block_says_how_it_is_checked(line: int) -> None:
    """The comment lines above a block name the test that runs it, or why none can."""
    above = []
    n = line - 1
    while n >= 0 and README[n].strip().startswith("<!--"):
        above.append(README[n].strip())
        n -= 1
    notes = [m for m in (NOTE.fullmatch(a) for a in above) if m]
    assert notes, f"README.md line {line + 1}: a code block without a note saying how it is checked"
    for note in notes:
        if note.group("test"):
            path, _, name = note.group("test").partition("::")
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), note.group(0)


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run runs `make test` and `make demo`, the two commands README opens with."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make demo" in ci
