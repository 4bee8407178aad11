"""The hybrid search's SQL: one call of public.search_jobs (or, for another source,
public.search_embedding_source), every argument passed by name.

Beside ``db`` (the queue's SQL): ``autoembed search`` asks through here, in
``db``'s one-round-trip transaction. The argument names are the function's
(supabase/migrations/*_hybrid_search.sql); the README's app snippets use the
same names, and tests/unit/test_search_arguments.py holds all three together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoembed.db import Database

# The arguments autoembed passes (search_jobs' weights and rrf_k keep their defaults).
ARGUMENTS = ("query_text", "query_embedding", "location", "remote", "company", "tags_any", "tags_all",
             "posted_since", "page_size", "page", "model")
COLUMNS = ("id", "title", "company", "location", "tags", "created_at", "score", "full_text_rank",
           "semantic_rank", "similarity")
# Typed where a null would leave the call ambiguous to PostgreSQL; the vector travels as its text form.
_CASTS = {"query_embedding": "::extensions.vector", "remote": "::boolean", "tags_any": "::text[]",
          "tags_all": "::text[]", "posted_since": "::timestamptz"}


def _call(function: str, columns: Sequence[str], arguments: Sequence[str]) -> str:
    """``select columns from public.function(...)``, each argument by its name."""
    named = ", ".join(f"{name} => %({name})s{_CASTS.get(name, '')}" for name in arguments)
    return f"select {', '.join(columns)} from public.{function}({named})"


SEARCH = _call("search_jobs", COLUMNS, ARGUMENTS)
# A declared source's search: the same ranking, without the job board's filters.
SOURCE_ARGUMENTS = ("source_name", "query_text", "query_embedding", "page_size", "page", "model")
SOURCE_COLUMNS = ("source_key", "score", "full_text_rank", "semantic_rank", "similarity", "row_data")
SEARCH_SOURCE = _call("search_embedding_source", SOURCE_COLUMNS, SOURCE_ARGUMENTS)


@dataclass(frozen=True)
class Filters:
    """What a job seeker narrows the search to; None (or empty) filters nothing."""

    location: str | None = None
    remote: bool | None = None
    company: str | None = None
    tags_any: Sequence[str] = ()
    tags_all: Sequence[str] = ()
    posted_since: datetime | None = None


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form of a vector; float32 values print exactly."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def search(db: Database, query_text: str | None, query_embedding: Sequence[float] | None,
           model: str | None, filters: Filters, *, page: int, page_size: int) -> list[dict[str, Any]]:
    """One page of public.search_jobs, each row a dict of its columns, best first."""
    params = {
        "query_text": query_text, "model": model, "page": page, "page_size": page_size,
        "query_embedding": None if query_embedding is None else vector_literal(query_embedding),
        "location": filters.location, "remote": filters.remote, "company": filters.company,
        "tags_any": list(filters.tags_any) or None, "tags_all": list(filters.tags_all) or None,
        "posted_since": filters.posted_since,
    }
    return [dict(zip(COLUMNS, row, strict=True)) for row in db._call(SEARCH, params)]


def search_source(db: Database, source: str, query_text: str | None,
                  query_embedding: Sequence[float] | None, model: str | None, *,
                  page: int, page_size: int) -> list[dict[str, Any]]:
    """One page of public.search_embedding_source: each row's key, score, ranks and columns."""
    params = {
        "source_name": source, "query_text": query_text, "model": model, "page": page,
        "page_size": page_size,
        "query_embedding": None if query_embedding is None else vector_literal(query_embedding),
    }
    return [dict(zip(SOURCE_COLUMNS, row, strict=True)) for row in db._call(SEARCH_SOURCE, params)]
