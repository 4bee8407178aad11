"""Limits, in one place: what one request may carry, and the time arithmetic of a run.

A provider's request limits live here next to each other (the local model's
depend on its sequence length, so they are built from it); every timing rule
that holds only while numbers agree is written here once and checked at
start-up by ``Settings.check_timing``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one embeddings request may carry."""

    max_inputs: int
    max_request_tokens: int
    max_input_tokens: int


# OpenAI's documented limits for /v1/embeddings.
OPENAI_LIMITS = Limits(max_inputs=2048, max_request_tokens=300_000, max_input_tokens=8192)



@dataclass(frozen=True)
class BatchLimits:
    """What one Batch API batch may carry; each of its requests keeps the online limits."""

    max_requests: int
    max_file_bytes: int
    max_inputs: int
    completion_window: str


# OpenAI's documented Batch API limits: 50,000 requests and 200 MB per input
# file, 50,000 embedding inputs per batch, answered within 24 hours.
OPENAI_BATCH_LIMITS = BatchLimits(max_requests=50_000, max_file_bytes=200 * 1024 * 1024,
                                  max_inputs=50_000, completion_window="24h")

# Entries autoembed puts in one batch (the API allows 50,000): its result file
# holds about 8.3 KB of base64 per 1536-d vector, so 10,000 keep the file a
# processor downloads and parses near 85 MB instead of 415 MB.
BATCH_ENTRIES = 10_000

# sentence-transformers: 256 texts per forward pass, each cut to the model's sequence length.
LOCAL_MAX_INPUTS = 256


def local_limits(max_sequence_length: int) -> Limits:
    """The local model's limits, from its sequence length."""
    return Limits(max_inputs=LOCAL_MAX_INPUTS, max_request_tokens=LOCAL_MAX_INPUTS * max_sequence_length,
                  max_input_tokens=max_sequence_length)


# A synchronous run starts no request after its budget, so it ends within the
# budget plus one request timeout; the last writes and the answer get this
# much more before the caller's timeout.
RUN_MARGIN_SECONDS = 5.0
# No single wait (Retry-After, rate-limit pacing) is longer than this: a longer
# one releases the claim for a later run instead of holding leases.
MAX_SINGLE_WAIT_SECONDS = 60.0
# Signed requests: how far a timestamp may be ahead of the processor's clock.
FUTURE_SKEW_SECONDS = 300


def synchronous_run_fits(budget: float, request_timeout: float, caller_timeout: float) -> bool:
    """Whether a synchronous run of ``budget`` ends before its caller hangs up."""
    return budget + request_timeout + RUN_MARGIN_SECONDS <= caller_timeout
