"""Dry run: the tokens and cost of embedding the backlog, before spending anything."""

from __future__ import annotations

from dataclasses import dataclass, replace

from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import create_embedder
from autoembed.pricing import estimated_cost


@dataclass(frozen=True)
class Estimate:
    model: str
    jobs: int
    tokens: int
    truncated: int
    cost_usd: float
    batch_cost_usd: float


def estimate(db: Database, settings: Settings, model: str | None = None) -> Estimate:
    """Count, with the model's own tokenizer, what embedding the backlog would send.

    With ``model`` unset: the pending entries, for the configured model. With a
    model name: every active job that model has not embedded yet (a switch).
    """
    target = replace(settings, model=model) if model else settings
    embedder = create_embedder(target)
    jobs = tokens = truncated = 0
    for _, content in db.backlog(model):
        if not content.strip():
            continue  # never sent: failed for good as "no text to embed"
        prepared = embedder.prepare(content, exact=True)
        jobs += 1
        tokens += prepared.tokens
        truncated += prepared.truncated
    return Estimate(embedder.model, jobs, tokens, truncated, estimated_cost(embedder.model, tokens),
                    estimated_cost(embedder.model, tokens, batch=True))
