"""Vercel Python function for /api/process-embedding-queue.

Vercel serves the WSGI ``app``. Settings are read from the project's
environment variables at the first request, so a missing one is answered
with a one-line JSON error. A serverless function cannot work after it
answers, so every run here is synchronous, within EMBEDDING_TIME_BUDGET_SECONDS.

autoembed is installed into the function by Vercel's Python builder (see
api/pyproject.toml); nothing here reaches into the repository.
"""

from autoembed.wsgi import lazy_app

app = lazy_app()
