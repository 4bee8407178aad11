-- autoembed hybrid search: how a row's two ranks fuse into its score, in one
-- place for search_jobs (20261204004000) and search_embedding_source
-- (20261204004100); docs/search.md, "Ranking".
--
-- Reciprocal rank fusion, each side's vote weighted by how strongly it
-- matched. Full text: ts_rank_cd, capped at 1 (every query word in the title
-- scores about 1; words met only far apart, or in the description, much
-- less). Vectors: the cosine similarity above chance, 4 / sqrt(dimensions):
-- unrelated random vectors of d dimensions have cosines of mean 0 and
-- standard deviation 1 / sqrt(d), so a similarity within 4 of them is no
-- evidence (a 1536-d model: 0.10; 384-d: 0.20; 3-d: nothing ever is).
-- A weak match still ranks on its side, it just moves the fused order less.

create or replace function public.hybrid_search_score(
  full_text_weight double precision,
  semantic_weight double precision,
  rrf_k integer,
  full_text_rank bigint,
  text_match double precision,
  semantic_rank bigint,
  similarity double precision,
  dimensions integer
)
returns double precision
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select coalesce(full_text_weight * least(text_match, 1) / (rrf_k + full_text_rank), 0)
    + coalesce(semantic_weight * greatest(similarity - 4 / pg_catalog.sqrt(dimensions), 0)
      / (rrf_k + semantic_rank), 0)
$$;

comment on function public.hybrid_search_score(
  double precision, double precision, integer, bigint, double precision, bigint, double precision, integer
) is
'hybrid_search_score: a row''s fused score, full_text_weight * least(ts_rank_cd, 1) / (rrf_k + full_text_rank) + semantic_weight * greatest(similarity - 4 / sqrt(dimensions), 0) / (rrf_k + semantic_rank); a side that did not rank the row (null) adds 0.';
revoke all on function public.hybrid_search_score(
  double precision, double precision, integer, bigint, double precision, bigint, double precision, integer
) from public;
grant execute on function public.hybrid_search_score(
  double precision, double precision, integer, bigint, double precision, bigint, double precision, integer
) to anon, authenticated, service_role;
