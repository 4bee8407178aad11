"""Count and truncate tokens offline, never under-counting.

OpenAI models use tiktoken's ``cl100k_base``. tiktoken downloads its BPE file
at first use, which a server without network cannot do, so the encoding is
only loaded from a local file (``TIKTOKEN_ENCODING_FILE`` or the copy shipped
in ``processor/data``). Without it, the count falls back to the UTF-8 byte
length: a token never covers less than one byte, so that bound never
under-counts; the fallback is logged once.
"""

from __future__ import annotations

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
_SHIPPED = Path(__file__).parent / "data" / "cl100k_base.tiktoken"


@dataclass(frozen=True)
class Prepared:
    """A text ready to send: maybe truncated, with its exact token count."""

    text: str
    tokens: int
    original_tokens: int

    @property
    def truncated(self) -> bool:
        return self.original_tokens > self.tokens


class Tokenizer(Protocol):
    """Counts tokens and truncates on a token boundary."""

    name: str

    def prepare(self, text: str, max_tokens: int) -> Prepared: ...


class TiktokenTokenizer:
    """Exact counts with a local tiktoken encoding."""

    def __init__(self, path: Path) -> None:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        self.name = "cl100k_base"
        self._encoding = tiktoken.Encoding(
            name="cl100k_base",
            pat_str=_CL100K_PATTERN,
            mergeable_ranks=load_tiktoken_bpe(str(path)),
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


@lru_cache(maxsize=1)
def openai_tokenizer() -> Tokenizer:
    """cl100k_base from a local file, or the byte bound (logged once)."""
    path = Path(os.environ.get("TIKTOKEN_ENCODING_FILE") or _SHIPPED)
    if path.is_file():
        try:
            return TiktokenTokenizer(path)
        except Exception as exc:  # a corrupt file must not stop embedding
            log.warning("cannot load tiktoken encoding %s (%s); counting UTF-8 bytes", path, exc)
            return ByteBoundTokenizer()
    log.warning("no local tiktoken encoding at %s; counting UTF-8 bytes, an upper bound", path)
    return ByteBoundTokenizer()
