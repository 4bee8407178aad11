"""Embedders behind one small interface; each provider's SDK is imported late."""

from __future__ import annotations

from autoembed.config import Settings
from autoembed.embedders.base import Embedder, Embeddings
from autoembed.limits import Limits

__all__ = ["Embedder", "Embeddings", "Limits", "create_embedder"]


def create_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.provider`` names."""
    if settings.provider == "local":
        from autoembed.embedders.local import LocalEmbedder

        return LocalEmbedder(settings)
    from autoembed.embedders.openai import OpenAIEmbedder

    return OpenAIEmbedder(settings)
