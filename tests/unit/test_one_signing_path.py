"""The SQL that signs a request to the processor is written once: every migration not yet
released that posts to it goes through public.post_embedding_request."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"
RELEASED = {name for release in json.loads((ROOT / "supabase" / "released.json").read_text())["releases"]
            for name in release["migrations"]}


def _unreleased() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(MIGRATIONS.glob("*.sql")) if p.name not in RELEASED}


def test_the_signature_is_made_in_one_function_of_one_migration() -> None:
    """One X-Autoembed-Signature, one extensions.hmac, one net.http_post: post_embedding_request's."""
    for needle in ("X-Autoembed-Signature", "extensions.hmac(", "net.http_post("):
        found = {name: text.count(needle) for name, text in _unreleased().items() if needle in text}
        assert found == {"20261204000100_signed_requests.sql": 1}, needle
    defined = [name for name, text in _unreleased().items()
               if re.search(r"create or replace function public\.post_embedding_request\(", text)]
    assert defined == ["20261204000100_signed_requests.sql"]


def test_the_dispatch_and_the_wake_post_through_it() -> None:
    """Each definition of the dispatch and of the wake calls post_embedding_request."""
    bodies = [m.group(0) for text in _unreleased().values() for m in re.finditer(
        r"create or replace function public\.(dispatch_embedding_processing|wake_embedding_processor)\("
        r".*?\n\$\$;", text, re.S)]
    assert len(bodies) >= 3  # the dispatch of 0100 and of 3000, the wake
    assert all("public.post_embedding_request(" in body for body in bodies)
