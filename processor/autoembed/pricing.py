"""What embedding costs, per model: the one price table."""

from __future__ import annotations

# US dollars per million input tokens, from the providers' price lists.
PRICE_PER_MILLION_TOKENS: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
    "sentence-transformers/all-MiniLM-L6-v2": 0.0,
}


# The Batch API's discount on the same models.
BATCH_PRICE_FACTOR = 0.5


def estimated_cost(model: str, tokens: int, *, batch: bool = False) -> float:
    """Dollars for ``tokens`` of ``model`` (``model@dims`` too), online or through the
    Batch API; 0 for an unknown model."""
    base = model.split("@", 1)[0]
    price = PRICE_PER_MILLION_TOKENS.get(base, 0.0) * (BATCH_PRICE_FACTOR if batch else 1.0)
    return tokens * price / 1_000_000
