"""README's app snippets, `autoembed search` and public.search_jobs name the same arguments."""

from __future__ import annotations

from autoembed.search_store import ARGUMENTS

from tests import search_snippets

# Tuning, left at their defaults in the snippets (docs/search.md documents them).
TUNING = {"full_text_weight", "semantic_weight", "rrf_k", "model"}


def test_the_app_snippets_pass_exactly_the_functions_search_arguments() -> None:
    """supabase-js and supabase-py pass every argument of search_jobs but its tuning, by its name."""
    blocks = search_snippets.blocks()
    js = search_snippets.js_arguments(blocks["js"])
    python = search_snippets.python_arguments(blocks["python"])
    declared = search_snippets.function_arguments()
    assert len(declared) == 14 and "query_embedding" in declared
    assert list(js) == list(python) == [a for a in declared if a not in TUNING]
    assert js == python  # the same values, one for one


def test_the_cli_passes_only_arguments_the_function_has() -> None:
    """`autoembed search` names each argument as search_jobs declares it, and every filter."""
    declared = search_snippets.function_arguments()
    assert set(ARGUMENTS) <= set(declared)
    assert set(declared) - set(ARGUMENTS) == TUNING - {"model"}
