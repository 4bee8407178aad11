"""The run is provider-neutral: a provider's own steps sit behind embedders.base's interface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "processor" / "autoembed"
RUN_MODULES = ["service.py", "drain.py", "claim_embedder.py", "accounting.py", "handler.py",
               *(f"provider_batches/{p.name}" for p in sorted((PACKAGE / "provider_batches").glob("*.py")))]


def _provider_names(source: str) -> list[str]:
    """Provider modules and classes a module's source imports or names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                ("autoembed.embedders.openai", "autoembed.embedders.local")):
            found.append(node.module)
        elif isinstance(node, ast.Name) and node.id in ("OpenAIEmbedder", "LocalEmbedder"):
            found.append(node.id)
    return found


@pytest.mark.parametrize("module", RUN_MODULES)
def test_a_run_module_names_no_provider(module: str) -> None:
    """No isinstance on a provider, no provider import: the Batch API is ``Embedder.batch_api``."""
    assert _provider_names((PACKAGE / module).read_text()) == []


def test_the_scan_sees_a_provider_branch() -> None:
    """The scan finds the branch it forbids (so its silence means something)."""
    source = "from autoembed.embedders.openai import OpenAIEmbedder\nisinstance(e, OpenAIEmbedder)\n"
    assert _provider_names(source) == ["autoembed.embedders.openai", "OpenAIEmbedder"]
