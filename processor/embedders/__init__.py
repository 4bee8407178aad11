"""Embedders behind one small interface; each provider's SDK is imported late."""

from __future__ import annotations

from processor.config import Settings
from processor.embedders.base import Embedder, Embeddings
from processor.limits import Limits

__all__ = ["Embedder", "Embeddings", "Limits", "create_embedder"]


def create_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.provider`` names."""
    if settings.provider == "local":
        from processor.embedders.local import LocalEmbedder

        return LocalEmbedder(settings)
    from processor.embedders.openai import OpenAIEmbedder

    return OpenAIEmbedder(settings)
