"""Request authentication: Vercel's Bearer CRON_SECRET, or an HMAC signature.

The HMAC is SHA-256 over ``"<timestamp>.<body>"`` with the signing secret,
sent as ``X-Autoembed-Timestamp`` and ``X-Autoembed-Signature: v1=<hex>``;
the dispatch function in the database signs exactly this way. pg_net sends a
request when its worker gets to it, which can be minutes after the signature
was made (behind another user's slow request), so a timestamp may be up to
the replay window old (900 s by default) but at most ``FUTURE_SKEW_SECONDS``
ahead, for clock skew. Every comparison is constant-time.

Secrets are UTF-8 on both sides: the dispatch function signs with
``convert_to(secret, 'UTF8')`` and a header arrives as bytes (a WSGI server
hands them over decoded as latin-1, which ``raw()`` undoes), so a secret
with non-ASCII characters works. Surrounding whitespace is stripped from
secrets when the settings are read, and from the Bearer token here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from autoembed.errors import AuthError
from autoembed.limits import FUTURE_SKEW_SECONDS

TIMESTAMP_HEADER = "x-autoembed-timestamp"
SIGNATURE_HEADER = "x-autoembed-signature"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers that authenticate ``body`` with the HMAC scheme."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode("utf-8"), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Autoembed-Timestamp": ts, "X-Autoembed-Signature": f"v1={digest}"}


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    cron_secret: str | None,
    signing_secret: str | None,
    window_seconds: int,
    now: float | None = None,
    previous_signing_secret: str | None = None,
) -> str:
    """Return which scheme authenticated the request, or raise AuthError.

    ``headers`` must have lower-case names. During a rotation the previous
    signing secret is accepted too, so no tick is lost while Vault and the
    processor change one after the other.
    """
    if not cron_secret and not signing_secret:
        raise AuthError("the processor has no CRON_SECRET or EMBEDDING_SIGNING_SECRET")
    authorization = headers.get("authorization", "")
    if authorization and cron_secret:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and _equal(raw(token).strip(), cron_secret.encode("utf-8")):
            return "bearer"
    if signing_secret and SIGNATURE_HEADER in headers:
        secrets = [signing_secret] + ([previous_signing_secret] if previous_signing_secret else [])
        _check_hmac(headers, body, secrets, window_seconds, time.time() if now is None else now)
        return "hmac"
    raise AuthError("missing or invalid credentials")


def _check_hmac(headers: Mapping[str, str], body: bytes, secrets: list[str],
                window: int, now: float) -> None:
    raw_ts = headers.get(TIMESTAMP_HEADER, "").strip()
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (raw_ts.isascii() and raw_ts.isdigit()) or len(raw_ts) > 12:
        raise AuthError("missing or malformed timestamp")
    age = now - int(raw_ts)
    if age > window or -age > min(window, FUTURE_SKEW_SECONDS):
        raise AuthError("timestamp outside the replay window")
    given = raw(headers.get(SIGNATURE_HEADER, "")).strip()
    # Every secret is compared, so the time taken does not say which one matched.
    matches = [_equal(given, sign(body, s, int(raw_ts))["X-Autoembed-Signature"].encode()) for s in secrets]
    if not any(matches):
        raise AuthError("bad signature")


def raw(value: str) -> bytes:
    """A header's bytes as they came over the wire (WSGI decodes them as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server: take it as the text it is
        return value.encode("utf-8", "surrogatepass")


def _equal(given: bytes, expected: bytes) -> bool:
    # compare_digest leaks only the length; hash both so even that is fixed.
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())
