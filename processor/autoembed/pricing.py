"""What embedding costs, per model: the one price table."""

from __future__ import annotations

# US dollars per million input tokens, from the providers' price lists.
PRICE_PER_MILLION_TOKENS: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
    "sentence-transformers/all-MiniLM-L6-v2": 0.0,
}


def estimated_cost(model: str, tokens: int) -> float:
    """Dollars for ``tokens`` of ``model`` (``model@dims`` too); 0 for an unknown model."""
    base = model.split("@", 1)[0]
    return tokens * PRICE_PER_MILLION_TOKENS.get(base, 0.0) / 1_000_000
