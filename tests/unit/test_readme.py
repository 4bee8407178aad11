"""Every command in README.md and docs/ is run by a test (named next to it) or says why it cannot be here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOTE = re.compile(
    r"<!-- (tested: (?P<test>\S+)|not run by the tests: .+|run by CI: .+|not a command: .+) -->")


def _fences() -> list[tuple[str, int]]:
    found = []
    for page in PAGES:
        inside = False
        for n, line in enumerate(page.read_text().splitlines()):
            if line.strip().startswith("```"):
                if not inside:
                    found.append((str(page.relative_to(ROOT)), n))
                inside = not inside
    return found


def test_the_pages_have_code_blocks() -> None:
    """README.md and docs/ are read: the check below has blocks to check."""
    assert sum(1 for page, _ in _fences() if page == "README.md") >= 5
    assert sum(1 for page, _ in _fences() if page != "README.md") >= 10


@pytest.mark.parametrize(("page", "line"), _fences())
def test_every_code_block_says_how_it_is_checked(page: str, line: int) -> None:
    """The comment lines above a block name the test that runs it, or why none can."""
    lines = (ROOT / page).read_text().splitlines()
    above = []
    n = line - 1
    while n >= 0 and lines[n].strip().startswith("<!--"):
        above.append(lines[n].strip())
        n -= 1
    notes = [m for m in (NOTE.fullmatch(a) for a in above) if m]
    assert notes, f"{page} line {line + 1}: a code block without a note saying how it is checked"
    for note in notes:
        if note.group("test"):
            path, _, name = note.group("test").partition("::")
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), note.group(0)


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run runs `make test` and `make demo`, the two commands README opens with."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make demo" in ci
