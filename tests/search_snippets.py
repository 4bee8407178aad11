"""README's app snippets of public.search_jobs (supabase-js, supabase-py), read as data, and the
function's argument names as its migration declares them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from tests.docs_text import blocks_tested_by

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/integration/test_cli_search.py::test_the_readme_search_snippets_run"
EMBEDDING = object()  # where a snippet passes its query embedding


def blocks() -> dict[str, str]:
    """The tested README blocks by language: js, python, bash."""
    found = {}
    for block in blocks_tested_by(TEST):
        language = "js" if "const " in block else "bash" if block.startswith("autoembed ") else "python"
        found[language] = block
    return found


def _value(text: str) -> Any:
    return EMBEDDING if text == "embedding" else json.loads(text.replace("'", '"'))


def js_arguments(block: str) -> dict[str, Any]:
    """The object passed to ``supabase.rpc('search_jobs', {...})``, one ``key: value,`` a line."""
    body = block.split("rpc('search_jobs', {", 1)[1].split("\n})", 1)[0]
    pairs = [re.fullmatch(r"\s*(\w+): (.+?),?", line) for line in body.strip().splitlines()]
    assert all(pairs), body
    return {m.group(1): _value(m.group(2)) for m in pairs if m}


def python_arguments(block: str) -> dict[str, Any]:
    """The dict passed to ``supabase.rpc("search_jobs", {...})``."""
    [call] = [n for n in ast.walk(ast.parse(block)) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Attribute) and n.func.attr == "rpc"]
    name, arguments = call.args
    assert isinstance(name, ast.Constant) and name.value == "search_jobs"
    assert isinstance(arguments, ast.Dict)
    return {ast.literal_eval(k): EMBEDDING if isinstance(v, ast.Name) else ast.literal_eval(v)  # type: ignore[arg-type]
            for k, v in zip(arguments.keys, arguments.values, strict=True)}


def function_arguments() -> list[str]:
    """search_jobs' argument names, in order, from the last migration that creates it."""
    create = "create or replace function public.search_jobs("
    [*_, latest] = sorted(p for p in (ROOT / "supabase" / "migrations").glob("*.sql")
                          if create in p.read_text())
    head = latest.read_text().split(create, 1)[1]
    return [line.split()[0] for line in head.split("\n)", 1)[0].strip().splitlines()]
