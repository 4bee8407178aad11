"""``PGBIN`` chooses the PostgreSQL the dev stack and the tests run (e.g. a 17 beside Debian's 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.cluster import find_pgbin


def test_pgbin_overrides_the_newest_debian_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PGBIN that holds ``postgres`` is used as is, whatever /usr/lib/postgresql has."""
    (tmp_path / "postgres").write_text("")
    monkeypatch.setenv("PGBIN", str(tmp_path))
    assert find_pgbin() == tmp_path


def test_a_pgbin_without_postgres_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped PGBIN fails at once, naming the directory, instead of a later initdb error."""
    monkeypatch.setenv("PGBIN", str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeError, match=r"nowhere has no 'postgres'"):
        find_pgbin()

