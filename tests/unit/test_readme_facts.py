"""What README.md and docs/ state as fact about the code is true: versions and line counts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests import docs_text

ROOT = Path(__file__).resolve().parents[2]
README = docs_text.text()  # README.md and docs/
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
MIGRATIONS = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))
PACKAGE = ROOT / "processor" / "autoembed"


def test_every_version_of_autoembed_named_is_the_package_version() -> None:
    """Pinning examples, wheel names and `--version` output name the version pyproject.toml has."""
    named = re.findall(r"autoembed(?:@v|-| )(\d+\.\d+\.\d+)", README)
    named += re.findall(r"\(schema (\d+\.\d+\.\d+)\)", README)
    assert len(named) >= 4
    assert set(named) == {VERSION}


def test_the_migrations_over_300_lines_are_exactly_the_ones_readme_names() -> None:
    """Every migration is under 300 lines but those README names, with their true line count."""
    over = {p.name: len(p.read_text().splitlines()) for p in MIGRATIONS
            if len(p.read_text().splitlines()) > 300}
    named = dict(re.findall(r"`(\d{14}_\w+\.sql)` \((\d+) lines", README))
    assert {name: int(count) for name, count in named.items()} == over


def test_no_python_module_is_over_250_lines() -> None:
    """The package keeps each module under the 250 lines README and STYLE.md promise."""
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 250} == {}
