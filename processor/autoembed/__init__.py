"""autoembed's processor: drains public.embedding_queue into job embeddings."""


def __getattr__(name: str) -> str:
    # The version has one source, the package metadata (autoembed.schema); it is
    # read when asked for, so importing the package costs nothing more.
    if name == "__version__":
        from autoembed.schema import package_version

        return package_version()
    raise AttributeError(f"module 'autoembed' has no attribute {name!r}")
