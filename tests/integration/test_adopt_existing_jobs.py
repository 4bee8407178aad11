"""A job board that already has public.jobs adopts autoembed: rows, grants and policies stay."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devstack import stack
from devstack.cluster import Cluster

APP_TABLE = """
create table public.jobs (
  id bigserial primary key,
  title text not null,
  company text not null,
  location text,
  description text not null default '',
  tags text[] not null default '{}',
  is_active boolean not null default true,
  posted_by uuid
);
insert into public.jobs (title, company, description, is_active)
select 'Existing job ' || g, 'Company ' || g, 'Posted before autoembed ' || g, g % 4 <> 0
from generate_series(1, 40) g;
alter table public.jobs enable row level security;
grant select, insert, update on public.jobs to authenticated;
grant usage on sequence public.jobs_id_seq to authenticated;
create policy "Members see every job" on public.jobs for select to authenticated using (true);
create policy "Members post jobs" on public.jobs for insert to authenticated with check (true);
"""


GRANTS = ("select grantee::text, privilege_type::text from information_schema.role_table_grants "
          "where table_schema = 'public' and table_name = 'jobs'")


@pytest.fixture(scope="module")
def fresh_cluster() -> Iterator[str]:
    """A cluster of its own, prepared like Supabase but with nothing deployed yet."""
    cluster = Cluster.start()
    try:
        stack.prepare(cluster.url)
        yield cluster.url
    finally:
        cluster.stop()


def test_adopting_keeps_rows_grants_and_policies(fresh_cluster: str) -> None:
    """A table missing columns is named in one error; a complete one keeps everything of the app's."""
    with psycopg.connect(fresh_cluster, autocommit=True) as conn:
        conn.execute("create table public.jobs (id bigserial primary key, title text not null)")
    missing = r"lacks the columns \{company,location,description,tags,is_active\}"
    with pytest.raises(RuntimeError, match=missing):
        stack.db_push(fresh_cluster)
    with psycopg.connect(fresh_cluster, autocommit=True) as conn:
        conn.execute("drop table public.jobs")
        conn.execute(APP_TABLE)
        before = set(conn.execute(GRANTS).fetchall())
    stack.db_push(fresh_cluster)
    with psycopg.connect(fresh_cluster, autocommit=True) as conn:
        rows = conn.execute("select count(*), count(*) filter (where is_active), "
                            "count(posted_by) from public.jobs").fetchone()
        queued = conn.execute("select count(*) from public.embedding_queue "
                              "where processed_at is null").fetchone()
        after = set(conn.execute(GRANTS).fetchall())
        sequence = conn.execute(
            "select has_sequence_privilege('authenticated', 'public.jobs_id_seq', 'usage')").fetchone()
        policies = conn.execute("select array_agg(policyname::text order by policyname) from pg_policies "
                                "where tablename = 'jobs'").fetchone()
        columns = conn.execute("select count(*) from pg_attribute where attrelid = 'public.jobs'::regclass "
                               "and attname in ('embedding', 'embedding_model', 'embedding_text_hash', "
                               "'embedded_at')").fetchone()
    assert rows == (40, 30, 0)
    assert queued == (30,)  # the active ones, queued by the migration
    assert before <= after and {g for g, _ in after - before} <= {"service_role"}
    assert ("authenticated", "INSERT") in after and sequence == (True,)
    assert policies == (["Members post jobs", "Members see every job"],)
    assert columns == (4,)
