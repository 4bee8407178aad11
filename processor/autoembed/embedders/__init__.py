"""Embedders behind one small interface; each provider's SDK is imported late."""

from __future__ import annotations

import os

from autoembed.config import Settings
from autoembed.embedders.base import Embedder, Embeddings
from autoembed.limits import Limits

__all__ = ["Embedder", "Embeddings", "Limits", "check_model", "create_embedder", "model_mismatch",
           "model_settings", "offers_batch_api"]


def check_model(settings: Settings) -> None:
    """Fail fast on a model the provider cannot be asked for, without loading its SDK."""
    if settings.provider == "local":
        from autoembed.embedders.local import check

        check(settings)
    else:
        from autoembed.embedders.openai import check as check_openai

        check_openai(settings)


def offers_batch_api(settings: Settings) -> bool:
    """Whether the configured provider has a Batch API (known before its embedder is built)."""
    return settings.provider != "local"


def create_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.provider`` names."""
    if settings.provider == "local":
        from autoembed.embedders.local import LocalEmbedder

        return LocalEmbedder(settings)
    from autoembed.embedders.openai import OpenAIEmbedder

    # numpy only lays this embedder's vectors out, never multiplies them: its
    # OpenBLAS, loaded with the first answer, would start a thread per core
    # that spins on startup (0.1 s of CPU a run on 2 cores). Set before numpy
    # loads; a value of the user's stands. (The local model's BLAS is torch's.)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return OpenAIEmbedder(settings)


def model_mismatch(active: tuple[str, int] | None, embedder: Embedder) -> str | None:
    """Why this embedder may not run beside the ``active`` model, or None when it may."""
    if active is None or active == (embedder.model, embedder.dimensions):
        return None
    return (f"the configured model is {embedder.model} ({embedder.dimensions} dimensions) but the "
            f"active model is {active[0]} ({active[1]}): switch on purpose with "
            f"`autoembed switch-model`, or set {model_settings(*active)} for the active one")


def model_settings(model: str, dimensions: int) -> str:
    """The processor's settings that embed with a stored model: a shortened or unknown model is
    stored as ``name@dimensions`` (openai.model_key) and needs EMBEDDING_DIMENSIONS too."""
    name, at, _ = model.partition("@")
    return f"EMBEDDING_MODEL={name}" + (f" EMBEDDING_DIMENSIONS={dimensions}" if at else "")
