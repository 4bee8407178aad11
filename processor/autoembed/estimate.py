"""Dry runs: the tokens and cost of a backlog, or of a source's text change, before spending anything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from autoembed.config import DEFAULT_MODELS, Provider, Settings
from autoembed.db import Database
from autoembed.embedders import create_embedder, model_mismatch
from autoembed.embedders.base import Embedder
from autoembed.pricing import estimated_cost
from autoembed.source_store import SourceStore


@dataclass(frozen=True)
class Counted:
    """Texts counted with the model's own tokenizer: how many would be sent, their tokens."""

    rows: int = 0
    tokens: int = 0
    truncated: int = 0
    # Waiting rows whose text raises: failed for good by the claim, never sent (not in rows).
    failing: int = 0


@dataclass(frozen=True)
class Estimate:
    """What embedding a backlog would cost, in total and per source."""

    model: str
    rows: int
    tokens: int
    truncated: int
    cost_usd: float
    batch_cost_usd: float
    sources: dict[str, Counted] = field(default_factory=dict)
    # Sources that cannot build their texts now, each with why (one line, with the way out).
    blocked: dict[str, str] = field(default_factory=dict)
    # Why the configured model is not the one priced (the database's active model is another).
    note: str | None = None

    @property
    def jobs(self) -> int:
        """The rows counted (named for the job board, whose rows are jobs)."""
        return self.rows

    @property
    def failing(self) -> int:
        """Waiting rows whose text raises, of every source: they will fail, never sent."""
        return sum(c.failing for c in self.sources.values())


@dataclass(frozen=True)
class ChangeEstimate:
    """What declaring a source again with another text or liveness would queue and cost."""

    model: str
    source: str
    rows: int
    reasons: dict[str, int]
    tokens: int
    truncated: int
    cost_usd: float
    batch_cost_usd: float
    note: str | None = None


def pricing_embedder(db: Database, settings: Settings) -> tuple[Embedder, str | None]:
    """The embedder that counts what waits: the database's active model's, which the texts wait
    for (a processor configured for another refuses to run), with why when that is not the
    configured one (only DATABASE_URL set, say: the default model is priced otherwise)."""
    embedder = create_embedder(settings)
    active = db.active_model()
    mismatch = model_mismatch(active, embedder)
    if active is None or mismatch is None:
        return embedder, None
    name, at, _ = active[0].partition("@")  # a shortened model is stored as name@dimensions
    provider: Provider = "local" if name == DEFAULT_MODELS["local"] else "openai"
    priced = replace(settings, provider=provider, model=name, dimensions=active[1] if at else None)
    return create_embedder(priced), f"priced for the active model: {mismatch}"


def _count(embedder: Embedder, rows: Iterable[tuple[str | None, str | None]]) -> Counted:
    """Count (text, error) rows: a row with an error is failed by the claim, never sent."""
    sent = tokens = truncated = failing = 0
    for content, error in rows:
        if error is not None:
            failing += 1
            continue
        if not (content or "").strip():
            continue  # never sent: failed for good as "no text to embed"
        prepared = embedder.prepare(content or "", exact=True)
        sent += 1
        tokens += prepared.tokens
        truncated += prepared.truncated
    return Counted(sent, tokens, truncated, failing)


def estimate(db: Database, settings: Settings, model: str | None = None,
             source: str | None = None) -> Estimate:
    """Count, with the model's own tokenizer, what embedding the backlog would send.

    With ``model`` unset: the pending entries, for the database's active model
    (pricing_embedder). With a model name: every live row that model has not
    embedded yet (a switch).
    Every source, or ``source`` alone; one that cannot build its texts now is
    left out and named in ``blocked``, the others counted all the same.
    """
    store = SourceStore(db)
    names = [store.check(source)] if source else store.names()
    embedder, note = ((create_embedder(replace(settings, model=model)), None) if model
                      else pricing_embedder(db, settings))
    sources: dict[str, Counted] = {}
    blocked: dict[str, str] = {}
    for name in filter(None, names):
        try:
            sources[name] = _count(embedder, ((text, error) for _, text, error in store.backlog(name, model)))
        except psycopg.errors.ObjectNotInPrerequisiteState as exc:  # its table or a column gone
            blocked[name] = str(exc.diag.message_primary).removeprefix("autoembed: ")
    rows = sum(c.rows for c in sources.values())
    tokens = sum(c.tokens for c in sources.values())
    return Estimate(embedder.model, rows, tokens, sum(c.truncated for c in sources.values()),
                    estimated_cost(embedder.model, tokens),
                    estimated_cost(embedder.model, tokens, batch=True), sources, blocked, note)


def estimate_change(db: Database, settings: Settings, source: str, *, text_columns: Any = None,
                    text_expression: str | None = None, live_when: str | None = None) -> ChangeEstimate:
    """Price a change of a source's text or liveness before it is made: nothing is declared or queued.

    The rows are those declaring it would queue (public.embedding_source_change_rows):
    text changed, no vector of the active model, or a new text that raises (failed
    by the claim, never sent, so not counted in tokens).
    """
    store = SourceStore(db)
    store.check(source)
    embedder, note = pricing_embedder(db, settings)
    reasons: Counter[str] = Counter()

    def texts() -> Iterable[tuple[str | None, str | None]]:
        for _, content, error, reason in store.change_rows(
                source, text_columns=text_columns, text_expression=text_expression, live_when=live_when):
            reasons[str(reason)] += 1
            yield content, error

    counted = _count(embedder, texts())
    return ChangeEstimate(embedder.model, source, sum(reasons.values()), dict(reasons), counted.tokens,
                          counted.truncated, estimated_cost(embedder.model, counted.tokens),
                          estimated_cost(embedder.model, counted.tokens, batch=True), note)
