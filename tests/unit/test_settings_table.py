"""The settings table (docs/configuration.md) lists every environment variable the processor
reads, and nothing else."""

from __future__ import annotations

import ast
import re
from dataclasses import MISSING, fields
from pathlib import Path

from autoembed.config import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "processor" / "autoembed"
NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|.*\| (.+) \|$")


def _environment_reads(tree: ast.AST) -> set[str]:
    """Names read by os.environ.get/[…], os.getenv, env.get (a settings mapping) or config's Variable(…)."""
    names = set()
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            reads = (isinstance(func, ast.Attribute) and func.attr in ("get", "getenv")
                     and ast.unparse(func.value) in ("os.environ", "env", "os"))
            if reads or (isinstance(func, ast.Name) and func.id == "Variable"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "env"):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and NAME.fullmatch(key.value):
            names.add(key.value)
    return names


def _read_by_the_code() -> set[str]:
    return set().union(*(_environment_reads(ast.parse(p.read_text())) for p in PACKAGE.rglob("*.py")))


def _table() -> dict[str, str]:
    page = (ROOT / "docs" / "configuration.md").read_text()
    section = page.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in map(ROW.match, section.splitlines()) if m}


def test_the_table_lists_what_the_code_reads() -> None:
    """Every variable the code reads has a row, and every row is a variable the code reads."""
    read = _read_by_the_code()
    assert {"DATABASE_URL", "AUTOEMBED_LOG_LEVEL", "TIKTOKEN_ENCODING_FILE"} <= read  # the scan works
    assert sorted(set(_table()) - read) == [] and sorted(read - set(_table())) == []


def test_the_tables_defaults_are_the_settings_defaults() -> None:
    """A number or switch the table shows as default is the Settings field's default."""
    defaults = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}
    table = _table()
    for variable in VARIABLES:
        default = defaults.get(variable.field)
        if isinstance(default, bool):
            assert table[variable.name] == f"`{str(default).lower()}`", variable.name
        elif isinstance(default, int | float):
            assert table[variable.name] == f"{default:g}", variable.name
