"""The fake API's answers to ``/v1/embeddings``: deterministic vectors (seeded by the text),
the API's validation and token limits, scripted and random faults, and a cache for benchmarks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from autoembed.limits import OPENAI_LIMITS
from autoembed.tokens import openai_tokenizer

if TYPE_CHECKING:
    from devstack.fake_openai import FakeOpenAI

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
              "text-embedding-ada-002": 1536}


def fake_vector(text: str, dimensions: int) -> npt.NDArray[np.float32]:
    """The unit vector the fake server returns for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dimensions)
    return (v / np.linalg.norm(v)).astype(np.float32)


def answer_embeddings(fake: FakeOpenAI, payload: dict[str, Any], *,
                      online: bool = True) -> tuple[int, dict[str, str], bytes]:
    """One ``/v1/embeddings`` answer: scripted or random fault, validation, limits, vectors."""
    with fake.lock:
        fault = fake.faults.pop(0) if fake.faults else fake.random_fault()
        marker, latency, nan_marker = fake.reject_marker, fake.latency, fake.nan_marker
        extra_headers = dict(fake.response_headers)
    if latency:
        time.sleep(latency)
    if fault and fault.kind == "status":
        return error(fault.status, fault.message, fault.headers, fault.code)
    if fault and fault.kind == "hang":
        time.sleep(fault.seconds)
    raw = payload.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    model = str(payload.get("model", ""))
    if model not in DIMENSIONS:
        return error(404, f"The model `{model}` does not exist or you do not have access "
                           "to it.", code="model_not_found")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return error(400, "'$.input' is invalid.")
    if not texts or len(texts) > OPENAI_LIMITS.max_inputs:
        return error(400, f"'$.input' must have between 1 and {OPENAI_LIMITS.max_inputs} items")
    if any(not t for t in texts):
        return error(400, "'$.input' is invalid: empty string")
    dims = int(payload.get("dimensions") or DIMENSIONS.get(model, 1536))
    if (fake.cache is not None and payload.get("encoding_format") == "base64"
            and not (fault or marker or nan_marker)):
        return cached_answer(fake, texts, model, dims, extra_headers, online=online)
    tokenizer = openai_tokenizer()
    counts = [tokenizer.prepare(t, 10**9).tokens for t in texts]
    if refused := over_limits(counts):
        return refused
    if marker and any(marker in t for t in texts):
        return error(400, "Invalid input: the content was rejected")
    if online and (refused := fake.admit(model, sum(counts), extra_headers)):
        return refused
    with fake.lock:
        fake.record(texts, sum(counts), online)
        if fault and fault.kind in ("hang", "truncated_json", "wrong_count", "wrong_dims", "nan"):
            fake.spoiled.update(texts)
    vectors = [fake_vector(t, dims) for t in texts]
    order = list(range(len(texts)))
    if fault and fault.kind == "wrong_count":
        order = order[:-1]
    if fault and fault.kind == "wrong_dims":
        vectors = [v[:-1] for v in vectors]
    if fault and fault.kind == "nan":
        vectors[0] = np.full_like(vectors[0], np.nan)
    for i, text in enumerate(texts):
        if nan_marker and nan_marker in text:
            vectors[i] = np.full_like(vectors[i], np.nan)
    if fault and fault.kind == "shuffle":
        order.reverse()
    b64 = payload.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i,
             "embedding": (base64.b64encode(vectors[i].astype("<f4").tobytes()).decode()
                           if b64 else vectors[i].tolist())} for i in order]
    reported = fault.usage if fault and fault.kind == "usage" else sum(counts)
    body = json.dumps({"object": "list", "data": data, "model": model,
                       "usage": {"prompt_tokens": reported, "total_tokens": reported}})
    encoded = body.encode()
    if fault and fault.kind == "truncated_json":
        encoded = encoded[: len(encoded) // 2]
    return 200, extra_headers, encoded

def cached_answer(fake: FakeOpenAI, texts: list[str], model: str, dims: int,
                  headers: dict[str, str], *, online: bool = True) -> tuple[int, dict[str, str], bytes]:
    """The normal answer, built from remembered counts and vectors (base64 only)."""
    assert fake.cache is not None
    entries = []
    for text in texts:
        entry = fake.cache.get((text, dims))
        if entry is None:
            tokens = openai_tokenizer().prepare(text, 10**9).tokens
            vector = base64.b64encode(fake_vector(text, dims).astype("<f4").tobytes()).decode()
            entry = fake.cache.setdefault((text, dims), (tokens, vector))
        entries.append(entry)
    counts = [tokens for tokens, _ in entries]
    if refused := over_limits(counts):
        return refused
    if online and (refused := fake.admit(model, sum(counts), headers)):
        return refused
    with fake.lock:
        fake.record(texts, sum(counts), online)
    data = ",".join(f'{{"object":"embedding","index":{i},"embedding":"{vector}"}}'
                    for i, (_, vector) in enumerate(entries))
    total = sum(counts)
    body = (f'{{"object":"list","data":[{data}],"model":{json.dumps(model)},'
            f'"usage":{{"prompt_tokens":{total},"total_tokens":{total}}}}}')
    return 200, headers, body.encode()

def over_limits(counts: list[int]) -> tuple[int, dict[str, str], bytes] | None:
    """The API's 400 for an input or a request over its token limits, or None."""
    if max(counts) > OPENAI_LIMITS.max_input_tokens:
        return error(400, "This model's maximum context length is 8192 tokens")
    if sum(counts) > OPENAI_LIMITS.max_request_tokens:
        return error(400, "Requested 300001 tokens, max 300000 tokens per request")
    return None

def error(status: int, message: str, headers: dict[str, str] | None = None,
          code: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """An OpenAI-shaped error answer."""
    body = {"error": {"message": message, "type": code or ("invalid_request_error"
                      if status == 400 else "api_error"), "param": None, "code": code}}
    return status, headers or {}, json.dumps(body).encode()
