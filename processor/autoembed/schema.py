"""Which versions meet: the installed package's, and the database schema's it expects.

The package version has one source, its metadata (pyproject.toml). The schema
version is what the migrations record in ``public.autoembed_schema_version()``;
the wheel carries the migrations (autoembed/migrations), a source checkout
reads them from supabase/migrations, so the processor knows which schema it
expects and can say when the database runs another.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_RECORDED = re.compile(
    r"function public\.autoembed_schema_version\(\).*?select '(\d+\.\d+\.\d+)'", re.S | re.I)


def package_version() -> str:
    """This installation's version, from the package metadata."""
    try:
        return version("autoembed")
    except PackageNotFoundError:
        return "0+unknown"


def migrations_dir() -> Path:
    """The migrations shipped in the wheel, or those of the source checkout."""
    packaged = Path(__file__).resolve().parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "supabase" / "migrations"


def expected_schema_version() -> str | None:
    """The schema version the last migration that records one sets."""
    found = None
    for path in sorted(migrations_dir().glob("*.sql")):
        for match in _RECORDED.finditer(path.read_text()):
            found = match.group(1)
    return found


def mismatch(schema_version: str | None) -> str | None:
    """A one-line warning when the database runs another schema than this processor expects."""
    expected = expected_schema_version()
    if schema_version is None or expected is None or schema_version == expected:
        return None
    return (f"the database runs autoembed schema {schema_version}, this processor "
            f"({package_version()}) expects {expected}: upgrade the schema first "
            "(supabase db push), then the processor")
