"""The import graph of autoembed (processor/autoembed/) points down only: entry -> service ->
pipeline -> embedders/db -> limits/config/errors. A module without a floor here fails, so a new
one is placed on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "processor" / "autoembed"

# Lower floors are imported by higher ones, never the other way round.
FLOORS: dict[str, float] = {
    "errors": 0, "limits": 0, "redact": 0, "schema": 0, "vectors": 0, "shown": 0,
    "retry": 1, "failures": 1, "config_values": 1.4, "config": 1.5, "pricing": 1, "tokens": 1, "pacing": 1,
    "request_packing": 1, "auth": 1,
    "embedders.base": 2, "embedders.openai_answers": 2.3, "embedders.openai_batches": 2.4,
    "vector_array": 2.2, "claimed": 2.2, "db": 2.5, "index_store": 2.6, "embedders.openai": 2.5,
    "embedders.local": 2.5,
    "source_store": 2.6, "search_store": 2.6,
    "embedders": 2.8,
    "results": 2.8,
    "accounting": 2.9, "claim_embedder": 3, "claims_ahead": 3, "search_index": 3, "drain": 3.5,
    "provider_batches.store": 2.6, "provider_batches.input_file": 2.9, "provider_batches.result_file": 2.9,
    "provider_batches.recover": 3.2, "provider_batches.submit": 3.3, "provider_batches.carrier": 3.34,
    "provider_batches.carry": 3.35, "provider_batches": 3.4,
    "estimate": 3.5, "status_view": 3.6,
    "service": 4, "background": 4, "handler": 4.5,
    "wsgi": 5, "server_channels": 5.2, "server": 5.5, "cli_commands.base": 5.7, "cli_commands.queue": 5.8,
    "cli_commands.batches": 5.75, "cli_commands.operate": 5.8, "cli_commands.http": 5.8,
    "cli_commands.search": 5.8, "cli_commands": 5.9,
    "cli": 6,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name:
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autoembed"):
            base = node.module.removeprefix("autoembed").lstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}".strip(".") if base else alias.name
                names.add(full if full in FLOORS else base)
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("autoembed.") for a in node.names
                      if a.name.startswith("autoembed.")}
    return {n for n in names if n}


def test_every_module_has_a_floor() -> None:
    """A module nobody placed is a layering decision nobody made."""
    assert sorted(set(_modules()) - set(FLOORS)) == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_point_down(module: str) -> None:
    """Every processor import of a module is from a strictly lower floor."""
    upward = [target for target in _imports(_modules()[module])
              if target != module and FLOORS.get(target, 99) >= FLOORS[module]]
    assert upward == [], f"{module} imports {upward} from its own floor or above"
