"""Embedders behind one small interface; each provider's SDK is imported late."""

from __future__ import annotations

from autoembed.config import Settings
from autoembed.embedders.base import Embedder, Embeddings
from autoembed.limits import Limits

__all__ = ["Embedder", "Embeddings", "Limits", "check_model", "create_embedder"]


def check_model(settings: Settings) -> None:
    """Fail fast on a model the provider cannot be asked for, without loading its SDK."""
    if settings.provider == "local":
        from autoembed.embedders.local import check

        check(settings)
    else:
        from autoembed.embedders.openai import check as check_openai

        check_openai(settings)


def create_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.provider`` names."""
    if settings.provider == "local":
        from autoembed.embedders.local import LocalEmbedder

        return LocalEmbedder(settings)
    from autoembed.embedders.openai import OpenAIEmbedder

    return OpenAIEmbedder(settings)
