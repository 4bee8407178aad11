"""README.md and the docs/ pages: the text users read, for the tests that check it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def text() -> str:
    """Every page, one after the other."""
    return "\n".join(page.read_text() for page in PAGES)


def blocks_tested_by(test: str) -> list[str]:
    """The code blocks of the pages whose note names ``test`` (``path::name``), in page order."""
    note = f"<!-- tested: {test} -->"
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines):
            if line.strip() == note and lines[n + 1].startswith("```"):
                end = lines.index("```", n + 2)
                found.append("\n".join(lines[n + 2:end]))
    return found
