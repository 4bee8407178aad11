"""autoembed's processor: drains public.embedding_queue into job embeddings."""

__version__ = "0.1.0"
