"""Build hook: the wheel carries supabase/migrations as the package data autoembed/migrations,
so an installed autoembed can tell which schema version it expects (pyproject.toml has the rest)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithMigrations(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "supabase" / "migrations"
        target = Path(self.build_lib) / "autoembed" / "migrations"
        target.mkdir(parents=True, exist_ok=True)
        for sql in sorted(source.glob("*.sql")):
            shutil.copy2(sql, target / sql.name)


setup(cmdclass={"build_py": BuildWithMigrations})
