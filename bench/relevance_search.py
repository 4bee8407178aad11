"""How bench/relevance.py ranks: public.search_jobs, or a stand-in until it is deployed.

Three modes through one function, as a job board would call it: hybrid at the
given weights, vector only (full_text_weight 0) and full text only
(semantic_weight 0). A single mode keeps only the rows its own side ranked, so a
query full text cannot parse returns nothing for full text, as it would alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import psycopg

PAGE = 10


class Weights(NamedTuple):
    """Reciprocal rank fusion's knobs, as search_jobs names them."""

    full_text_weight: float
    semantic_weight: float
    rrf_k: int


class Search(Protocol):
    """Job ids for a query, best first (at most PAGE)."""

    name: str

    def __call__(self, conn: psycopg.Connection[Any], text: str, vector: Sequence[float],
                 mode: str, weights: Weights) -> list[int]: ...


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def _mode(mode: str, weights: Weights) -> tuple[Weights, str]:
    """The weights a mode calls with, and the rank column its rows must have."""
    if mode == "vector":
        return weights._replace(full_text_weight=0.0), "semantic_rank"
    if mode == "full_text":
        return weights._replace(semantic_weight=0.0), "full_text_rank"
    return weights, "score"


class SearchJobs:
    """public.search_jobs (issue 28's hybrid search)."""

    name = "public.search_jobs"

    def __call__(self, conn: psycopg.Connection[Any], text: str, vector: Sequence[float],
                 mode: str, weights: Weights) -> list[int]:
        used, column = _mode(mode, weights)
        rows = conn.execute(
            f"select id from public.search_jobs(%s, %s::extensions.vector, page_size => {PAGE}, "
            "full_text_weight => %s, semantic_weight => %s, rrf_k => %s) "
            f"where {column} is not null", (text, _literal(vector), *used)).fetchall()
        return [int(r[0]) for r in rows]


# The stand-in: websearch_to_tsquery over title (A), tags, company and location (B) and
# description (C); cosine distance over the active model's vectors; each side's best
# 100 rows fused as public.hybrid_search_score does: weight * strength / (k + rank), the
# strength least(ts_rank_cd, 1) for full text, similarity - 4 / sqrt(dims) (at least 0) for vectors.
STAND_IN = """
with ft as (
  select f.id, ts_rank_cd(f.doc, q) as m, row_number() over (order by ts_rank_cd(f.doc, q) desc, f.id) as r
  from public.relevance_fts f, websearch_to_tsquery('english', %(text)s) q
  where f.doc @@ q order by r limit {depth}
), sem as (
  select j.id, 1 - (j.embedding::extensions.vector({dims}) <=> %(vector)s::extensions.vector({dims})) as m,
    row_number() over (
      order by j.embedding::extensions.vector({dims}) <=> %(vector)s::extensions.vector({dims}), j.id
    ) as r
  from public.jobs j
  where j.is_active and j.embedding_model = public.active_embedding_model()
  order by r limit {depth}
)
select coalesce(ft.id, sem.id) as id, ft.r as full_text_rank, sem.r as semantic_rank,
  coalesce(%(wf)s * least(ft.m, 1) / (%(k)s + ft.r), 0)
    + coalesce(%(ws)s * greatest(sem.m - 4 / sqrt({dims}), 0) / (%(k)s + sem.r), 0) as score
from ft full join sem on ft.id = sem.id
order by score desc, semantic_rank nulls last, full_text_rank nulls last, 1 limit {page}
"""


class StandIn:
    """The bench's own ranking, the same way, until public.search_jobs is deployed."""

    name = "bench stand-in (search_jobs not deployed)"

    def __init__(self, conn: psycopg.Connection[Any], depth: int = 100) -> None:
        self.depth = depth  # rows each side ranks before fusing
        conn.execute("create table public.relevance_fts as select j.id, "
                     "setweight(to_tsvector('english', j.title), 'A') || "
                     "setweight(to_tsvector('english', array_to_string(j.tags, ' ') || ' ' || "
                     "j.company || ' ' || j.location), 'B') || "
                     "setweight(to_tsvector('english', j.description), 'C') as doc "
                     "from public.jobs j where j.is_active")
        conn.execute("create index on public.relevance_fts using gin (doc)")
        conn.execute("analyze public.relevance_fts")

    def __call__(self, conn: psycopg.Connection[Any], text: str, vector: Sequence[float],
                 mode: str, weights: Weights) -> list[int]:
        used, column = _mode(mode, weights)
        sql = STAND_IN.format(depth=self.depth, dims=len(vector), page=PAGE)
        rows = conn.execute(f"select id from ({sql}) s where {column} is not null",
                            {"text": text, "vector": _literal(vector), "wf": used[0],
                             "ws": used[1], "k": used[2]}).fetchall()
        return [int(r[0]) for r in rows]


def choose(conn: psycopg.Connection[Any]) -> Search:
    """public.search_jobs where it exists, else the stand-in (built now, after the load)."""
    row = conn.execute("select exists (select from pg_catalog.pg_proc "
                       "where proname = 'search_jobs' "
                       "and pronamespace = 'public'::regnamespace)").fetchone()
    return SearchJobs() if row and row[0] else StandIn(conn)
