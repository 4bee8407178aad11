"""The local dev stack shared by ``make demo``, ``make test`` and ``make bench``.

A throwaway PostgreSQL cluster with pg_cron and pgvector, Supabase's roles,
stand-ins for pg_net and Vault (only where the real extensions are missing),
deployment with the real Supabase CLI, and a fake OpenAI embeddings server.
None of this is deployed to Supabase.
"""
