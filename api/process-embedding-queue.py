"""Vercel Python function for /api/process-embedding-queue.

Vercel serves the ``handler`` class; settings come from the project's
environment variables (DATABASE_URL, CRON_SECRET, OPENAI_API_KEY, ...).
"""

from processor.config import Settings
from processor.handler import Processor
from processor.server import request_handler

handler = request_handler(Processor(Settings.from_env()))
