"""Releases: released migrations are frozen, new ones come after them, versions agree, and the
CHANGELOG says how to upgrade to each release."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import autoembed
from autoembed.schema import expected_schema_version, package_version

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"
RELEASES = json.loads((ROOT / "supabase" / "released.json").read_text())["releases"]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_released_migrations_are_byte_identical_on_main() -> None:
    """supabase db push never re-applies a file: a released one must never change."""
    changed = [f"{r['version']}: {name}" for r in RELEASES for name, digest in r["migrations"].items()
               if not (MIGRATIONS / name).exists()
               or hashlib.sha256((MIGRATIONS / name).read_bytes()).hexdigest() != digest]
    assert changed == []


def test_new_migrations_come_after_every_released_one() -> None:
    """An unreleased migration sorts after the released ones, so db push applies it on upgrade."""
    released = {name for r in RELEASES for name in r["migrations"]}
    newest = max(released)[:14]
    assert [p.name for p in MIGRATIONS.glob("*.sql")
            if p.name not in released and p.name[:14] <= newest] == []


def test_versions_agree() -> None:
    """Semantic versions; the package is at or past the last release; the schema is a released one."""
    versions = [r["version"] for r in RELEASES]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in [*versions, package_version()])
    assert versions == sorted(versions, key=_key)
    assert _key(package_version()) >= _key(versions[-1])
    assert expected_schema_version() in {*versions, package_version()}
    assert autoembed.__version__ == package_version()  # one source, not a copy


def test_changelog_has_an_upgrading_note_per_release() -> None:
    """Each release has a CHANGELOG section with an "Upgrading" paragraph."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for release in RELEASES:
        section = changelog.split(f"## {release['version']}", 1)
        assert len(section) == 2, f"CHANGELOG has no section for {release['version']}"
        assert "### Upgrading" in section[1].split("\n## ", 1)[0]
