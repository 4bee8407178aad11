"""Request authentication: Vercel's Bearer CRON_SECRET, or an HMAC signature.

The signature (``X-Autoembed-Signature: v2=<hex>``, with
``X-Autoembed-Timestamp: <unix seconds>``) is HMAC-SHA256 with the signing
secret over ``signed_message()``: the timestamp, the method, the path with
its query and the body, joined by newlines. A captured request therefore
cannot be replayed as another method or to another path or query: a dispatch
POST cannot become ``POST ?action=process`` or a ``GET`` of the status. The
dispatch function in the database, ``autoembed trigger``, the README's
openssl line and docs/github-actions-cron.yml all sign exactly this way.

The old form, ``v1=`` over ``"<timestamp>.<body>"``, binds neither method nor
path, so it is accepted only as ``LEGACY_V1_RULE`` says: for one release
(0.7.x, the rotation window; 0.8.0 refuses it), and only for a POST to the
plain path with no query, which is what every v1 signer sent (pg_net's
dispatch, the README's curl line, the GitHub Actions example). A v1 capture
replayed as another method, path or query is refused even in the window.

pg_net sends a request when its worker gets to it, which can be minutes after
the signature was made (behind another user's slow request), so a timestamp
may be up to the replay window old (900 s by default) but at most
``FUTURE_SKEW_SECONDS`` ahead, for clock skew. Within the window a signature
is usable once: ``ReplayGuard`` remembers the ones accepted and refuses an
exact repeat. Every comparison is constant-time.

Secrets are UTF-8 on both sides and compared after ``normalise_secret``,
which strips ``WHITESPACE_TRIMMED`` at both ends; the database applies the
same set (``public.embedding_secret_normalized``), so a secret stored in
Vault with a trailing newline or NBSP signs the way the processor checks.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping

from autoembed.errors import AuthError
from autoembed.limits import FUTURE_SKEW_SECONDS

ENDPOINT_PATH = "/api/process-embedding-queue"
TIMESTAMP_HEADER = "x-autoembed-timestamp"
SIGNATURE_HEADER = "x-autoembed-signature"
LEGACY_V1_RULE = "v1= signatures: through 0.7.x, only for POST to the plain path with no query"

# Unicode's White_Space property (25 characters) plus U+001C..U+001F, which
# Python's str.isspace() and str.strip() also count: exactly what strip()
# removes, so settings read with strip() agree. The SQL side lists the same
# characters (tests/integration/test_secret_normalisation.py compares them).
WHITESPACE_TRIMMED = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def normalise_secret(value: str) -> str:
    """The secret as both sides compare it: ``WHITESPACE_TRIMMED`` stripped at both ends."""
    return value.strip(WHITESPACE_TRIMMED)


def signed_message(timestamp: str, method: str, target: str, body: bytes) -> bytes:
    """What a v2 signature covers: ``<ts>\\n<METHOD>\\n<path?query>\\n<body>``."""
    return f"{timestamp}\n{method.upper()}\n{target}\n".encode() + body


def sign(body: bytes, secret: str, timestamp: int | None = None, *,
         method: str = "POST", target: str = ENDPOINT_PATH) -> dict[str, str]:
    """Headers that authenticate ``method`` of ``target`` (path and query) with ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Autoembed-Timestamp": ts,
            "X-Autoembed-Signature": "v2=" + _digest(secret, signed_message(ts, method, target, body))}


class ReplayGuard:
    """The signatures accepted within the replay window: each is usable once.

    In memory, per process: a serverless deployment running several instances
    refuses a replay only on the instance that saw the original. At most
    ``limit`` entries; when full, expired ones go first, then the oldest.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: bytes, expires: float, now: float) -> bool:
        """Record ``signature`` until ``expires``; False if it was already recorded."""
        with self._lock:
            if self._seen.get(signature, -1.0) >= now:
                return False
            if len(self._seen) >= self._limit:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
                while len(self._seen) >= self._limit:
                    del self._seen[next(iter(self._seen))]
            self._seen[signature] = expires
            return True


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    target: str,
    cron_secret: str | None,
    signing_secret: str | None,
    window_seconds: int,
    now: float | None = None,
    previous_signing_secret: str | None = None,
    replay_guard: ReplayGuard | None = None,
    accept_v1: bool = True,
) -> str:
    """Return which scheme authenticated the request (bearer, hmac, hmac-v1), or raise AuthError.

    ``headers`` must have lower-case names; ``target`` is the path with its
    query as the request named it. During a secret rotation the previous
    signing secret is accepted too, so no tick is lost while Vault and the
    processor change one after the other.
    """
    if not cron_secret and not signing_secret:
        raise AuthError("the processor has no CRON_SECRET or EMBEDDING_SIGNING_SECRET")
    authorization = headers.get("authorization", "")
    if authorization and cron_secret:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and _equal(_normalised_bytes(token),
                                                 normalise_secret(cron_secret).encode("utf-8")):
            return "bearer"
    if signing_secret and SIGNATURE_HEADER in headers:
        secrets = [normalise_secret(s) for s in (signing_secret, previous_signing_secret) if s]
        clock = time.time() if now is None else now
        ts = _timestamp(headers, window_seconds, clock)
        given = raw(headers.get(SIGNATURE_HEADER, "")).strip()
        if given.startswith(b"v1="):
            if not (accept_v1 and method.upper() == "POST" and target == ENDPOINT_PATH):
                raise AuthError("v1 signature refused: it binds no method or path (sign with v2=)")
            version, message = "v1", f"{ts}.".encode() + body
        else:
            version, message = "v2", signed_message(ts, method, target, body)
        expected = [f"{version}={_digest(s, message)}".encode() for s in secrets]
        # Every secret is compared, so the time taken does not say which one matched.
        matches = [_equal(given, e) for e in expected]
        if not any(matches):
            raise AuthError("bad signature")
        used = expected[matches.index(True)]
        if replay_guard is not None and not replay_guard.first_use(used, int(ts) + window_seconds, clock):
            raise AuthError("signature already used within the replay window (a replay)")
        return "hmac" if version == "v2" else "hmac-v1"
    raise AuthError("missing or invalid credentials")


def _timestamp(headers: Mapping[str, str], window: int, now: float) -> str:
    raw_ts = headers.get(TIMESTAMP_HEADER, "").strip()
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (raw_ts.isascii() and raw_ts.isdigit()) or len(raw_ts) > 12:
        raise AuthError("missing or malformed timestamp")
    age = now - int(raw_ts)
    if age > window or -age > min(window, FUTURE_SKEW_SECONDS):
        raise AuthError("timestamp outside the replay window")
    return raw_ts


def _digest(secret: str, message: bytes) -> str:
    return hmac.new(normalise_secret(secret).encode("utf-8"), message, hashlib.sha256).hexdigest()


def raw(value: str) -> bytes:
    """A header's bytes as they came over the wire (WSGI decodes them as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server: take it as the text it is
        return value.encode("utf-8", "surrogatepass")


def _normalised_bytes(token: str) -> bytes:
    """A Bearer token's bytes, normalised like a secret when they are UTF-8 text."""
    data = raw(token)
    try:
        return normalise_secret(data.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        return data.strip()


def _equal(given: bytes, expected: bytes) -> bool:
    # compare_digest leaks only the length; hash both so even that is fixed.
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())
