"""Bearer and HMAC authentication, without a server."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from autoembed.auth import (
    ENDPOINT_PATH,
    WHITESPACE_TRIMMED,
    ReplayGuard,
    authenticate,
    normalise_secret,
    sign,
)
from autoembed.errors import AuthError

NOW = 1_800_000_000.0
BODY = b'{"source": "pg_cron"}'
PATH = ENDPOINT_PATH


def _auth(headers: dict[str, str], body: bytes = BODY, **kw: object) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    options: dict[str, object] = {"cron_secret": "cron", "signing_secret": "sign", "method": "POST",
                                  "target": PATH, "window_seconds": 300, "now": NOW, **kw}
    return authenticate(lowered, body, **options)  # type: ignore[arg-type]


def _v1(body: bytes, secret: str, ts: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Autoembed-Timestamp": str(ts), "X-Autoembed-Signature": f"v1={digest}"}


def test_bearer_accepted() -> None:
    """The exact CRON_SECRET as a Bearer token authenticates."""
    assert _auth({"Authorization": "Bearer cron"}) == "bearer"


def test_hmac_accepted_at_both_window_edges() -> None:
    """Signatures exactly 300 s old or ahead are still inside the window."""
    assert _auth(sign(BODY, "sign", int(NOW) - 300)) == "hmac"
    assert _auth(sign(BODY, "sign", int(NOW) + 300)) == "hmac"


def test_request_delayed_in_pg_net_queue_is_accepted_within_the_window() -> None:
    """A signature made 899 s before delivery passes the default 900 s window; 901 s does not."""
    assert _auth(sign(BODY, "sign", int(NOW) - 899), window_seconds=900) == "hmac"
    with pytest.raises(AuthError, match="replay window"):
        _auth(sign(BODY, "sign", int(NOW) - 901), window_seconds=900)


def test_future_timestamps_get_only_the_clock_skew_allowance() -> None:
    """A wide window for delayed sends does not widen the future side beyond 300 s."""
    assert _auth(sign(BODY, "sign", int(NOW) + 300), window_seconds=900) == "hmac"
    with pytest.raises(AuthError, match="replay window"):
        _auth(sign(BODY, "sign", int(NOW) + 301), window_seconds=900)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, BODY),
        ({"Authorization": "Bearer"}, BODY),
        ({"Authorization": "Bearer cro"}, BODY),
        ({"Authorization": "Basic cron"}, BODY),
        (sign(BODY, "sign", int(NOW) - 301), BODY),
        (sign(BODY, "sign", int(NOW) + 301), BODY),
        (sign(BODY, "sign", int(NOW)), BODY + b" "),
        (sign(BODY, "cron", int(NOW)), BODY),
        ({"X-Autoembed-Signature": "v1=00", "X-Autoembed-Timestamp": "abc"}, BODY),
        ({"X-Autoembed-Signature": "v1=00", "X-Autoembed-Timestamp": "1" * 40}, BODY),
    ],
)
def test_refused(headers: dict[str, str], body: bytes) -> None:
    """Missing, wrong, stale, future, altered or malformed credentials raise AuthError."""
    with pytest.raises(AuthError):
        _auth(headers, body)


def test_no_secrets_configured_refuses_everything() -> None:
    """A processor with neither secret set lets nobody in."""
    with pytest.raises(AuthError, match="no CRON_SECRET"):
        _auth({"Authorization": "Bearer "}, cron_secret=None, signing_secret=None)


def test_signature_matches_sql_dispatch_format() -> None:
    """v2 is hex HMAC-SHA256 over '<ts>\\n<METHOD>\\n<path?query>\\n<body>', as the dispatch computes."""
    expected = hmac.new(b"sign", b"123\nPOST\n" + PATH.encode() + b"\n" + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, "sign", 123) == {"X-Autoembed-Timestamp": "123",
                                       "X-Autoembed-Signature": f"v2={expected}"}
    query = hmac.new(b"sign", b"123\nGET\n" + PATH.encode() + b"?action=process\n", hashlib.sha256)
    assert sign(b"", "sign", 123, method="get", target=PATH + "?action=process")[
        "X-Autoembed-Signature"] == f"v2={query.hexdigest()}"


SIGNED_FOR = ("POST", PATH)
RETARGETED = {
    "POST with ?action=process": ("POST", PATH + "?action=process"),
    "GET of the status": ("GET", PATH),
    "GET with ?action=process": ("GET", PATH + "?action=process"),
    "a trailing slash": ("POST", PATH + "/"),
    "another query": ("POST", PATH + "?x=1"),
}


@pytest.mark.parametrize(("method", "target"), RETARGETED.values(), ids=RETARGETED.keys())
def test_a_signature_is_bound_to_its_method_path_and_query(method: str, target: str) -> None:
    """A signature made for one method and target is refused for any other, and accepted for its own."""
    headers = sign(BODY, "sign", int(NOW), method=SIGNED_FOR[0], target=SIGNED_FOR[1])
    with pytest.raises(AuthError, match="bad signature"):
        _auth(headers, method=method, target=target)
    assert _auth(sign(BODY, "sign", int(NOW), method=method, target=target),
                 method=method, target=target) == "hmac"
    assert _auth(headers) == "hmac"


def test_v1_signatures_are_accepted_only_for_a_post_to_the_plain_path() -> None:
    """The old form passes for what every v1 signer sent, and nowhere else, nor once switched off."""
    assert _auth(_v1(BODY, "sign", int(NOW))) == "hmac-v1"
    for method, target in RETARGETED.values():
        with pytest.raises(AuthError, match="v1 signature refused"):
            _auth(_v1(BODY, "sign", int(NOW)), method=method, target=target)
    with pytest.raises(AuthError, match="v1 signature refused"):
        _auth(_v1(BODY, "sign", int(NOW)), accept_v1=False)
    with pytest.raises(AuthError, match="bad signature"):
        _auth(_v1(BODY, "other", int(NOW)))


def test_a_signature_is_usable_once_within_the_window() -> None:
    """With a replay guard, the second use of one signature is refused; a fresh one passes."""
    guard = ReplayGuard()
    headers = sign(BODY, "sign", int(NOW))
    assert _auth(headers, replay_guard=guard) == "hmac"
    with pytest.raises(AuthError, match="already used"):
        _auth(headers, replay_guard=guard)
    with pytest.raises(AuthError, match="already used"):
        _auth(headers, replay_guard=guard, now=NOW + 299)
    assert _auth(sign(BODY, "sign", int(NOW) - 1), replay_guard=guard) == "hmac"
    v1 = _v1(BODY, "sign", int(NOW))
    assert _auth(v1, replay_guard=guard) == "hmac-v1"
    with pytest.raises(AuthError, match="already used"):
        _auth(v1, replay_guard=guard)


def test_the_replay_guard_forgets_expired_then_oldest_when_full() -> None:
    """At its limit the guard drops expired signatures first, then the oldest, and stays bounded."""
    guard = ReplayGuard(limit=2)
    assert guard.first_use(b"a", expires=10, now=0) and guard.first_use(b"b", expires=100, now=0)
    assert not guard.first_use(b"a", expires=10, now=5)
    assert guard.first_use(b"c", expires=100, now=20)  # "a" expired: dropped
    assert not guard.first_use(b"b", expires=100, now=20)
    assert guard.first_use(b"d", expires=100, now=20)  # full, nothing expired: "b" (oldest) goes
    assert guard.first_use(b"b", expires=100, now=20) and len(guard._seen) == 2


def test_trimmed_white_space_is_exactly_what_str_strip_removes() -> None:
    """The one explicit set equals Python's str.isspace(), so settings read with strip() agree."""
    assert set(WHITESPACE_TRIMMED) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert len(WHITESPACE_TRIMMED) == len(set(WHITESPACE_TRIMMED)) == 29


@pytest.mark.parametrize("padding", [" ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\n\u3000 \t"])
def test_a_padded_secret_signs_and_checks_as_the_bare_one(padding: str) -> None:
    """Secrets are normalised on both sides: a padded one signs and verifies as the bare one."""
    assert normalise_secret(f"{padding}sign{padding}") == "sign"
    assert _auth(sign(BODY, "sign" + padding, int(NOW))) == "hmac"
    assert _auth(sign(BODY, "sign", int(NOW)), signing_secret=padding + "sign" + padding) == "hmac"
    as_wsgi_hands_it_over = f"Bearer cron{padding}".encode().decode("latin-1")
    assert _auth({"Authorization": as_wsgi_hands_it_over}, cron_secret=padding + "cron") == "bearer"


def test_non_ascii_secret_matches_its_utf8_bytes_as_a_wsgi_server_hands_them_over() -> None:
    """A header arrives decoded as latin-1; the secret is compared as UTF-8 bytes, so both match."""
    secret = "crön-🔑-ü"
    header = f"Bearer {secret}".encode().decode("latin-1")
    assert _auth({"Authorization": header}, cron_secret=secret) == "bearer"
    assert _auth(sign(BODY, secret, int(NOW)), signing_secret=secret) == "hmac"


@pytest.mark.parametrize("timestamp", ["17999999\u00b2", "\uff11\uff18\uff10\uff10\uff10", " ", "1.5", "-1"])
def test_timestamps_that_are_not_ascii_digits_are_refused(timestamp: str) -> None:
    """Digits int() would refuse, or accept from another script, are a malformed timestamp."""
    with pytest.raises(AuthError, match="malformed timestamp"):
        _auth({"X-Autoembed-Signature": "v1=00", "X-Autoembed-Timestamp": timestamp})


def test_during_a_rotation_both_signing_secrets_are_accepted() -> None:
    """With the previous secret configured, requests signed by either pass; others still fail."""
    old, new = "old-secret", "new-secret"
    assert _auth(sign(BODY, old, int(NOW)), signing_secret=new, previous_signing_secret=old) == "hmac"
    assert _auth(sign(BODY, new, int(NOW)), signing_secret=new, previous_signing_secret=old) == "hmac"
    with pytest.raises(AuthError, match="bad signature"):
        _auth(sign(BODY, old, int(NOW)), signing_secret=new)
    with pytest.raises(AuthError, match="bad signature"):
        _auth(sign(BODY, "third", int(NOW)), signing_secret=new, previous_signing_secret=old)


def _low(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_each_scheme_works_with_only_its_own_secret() -> None:
    """Bearer needs only CRON_SECRET, HMAC only the signing secret."""
    assert authenticate({"authorization": "Bearer c"}, BODY, method="POST", target=PATH, cron_secret="c",
                        signing_secret=None, window_seconds=300, now=NOW) == "bearer"
    assert authenticate(_low(sign(BODY, "s", int(NOW))), BODY, method="POST", target=PATH, cron_secret=None,
                        signing_secret="s", window_seconds=300, now=NOW) == "hmac"


def test_bearer_without_cron_secret_is_refused_not_crashed() -> None:
    """A Bearer token to a processor with no CRON_SECRET is a 401, not a crash."""
    with pytest.raises(AuthError):
        authenticate({"authorization": "Bearer x"}, BODY, method="POST", target=PATH, cron_secret=None,
                     signing_secret="s", window_seconds=300, now=NOW)


def test_signature_without_signing_secret_is_refused_not_crashed() -> None:
    """A signature to a processor with no signing secret is a 401, not a crash."""
    with pytest.raises(AuthError, match="missing or invalid credentials"):
        authenticate(_low(sign(BODY, "s", int(NOW))), BODY, method="POST", target=PATH, cron_secret="c",
                     signing_secret=None, window_seconds=300, now=NOW)


def test_timestamp_length_limit_is_12_digits() -> None:
    """Twelve digits are a timestamp; thirteen are malformed."""
    ts = 100_000_000_000  # 12 digits
    assert authenticate(_low(sign(BODY, "s", ts)), BODY, method="POST", target=PATH, cron_secret=None,
                        signing_secret="s", window_seconds=300, now=float(ts)) == "hmac"
    with pytest.raises(AuthError, match="malformed timestamp"):
        authenticate(_low(sign(BODY, "s", 10 * ts)), BODY, method="POST", target=PATH, cron_secret=None,
                     signing_secret="s", window_seconds=300, now=float(10 * ts))


def test_header_text_outside_latin1_is_taken_as_utf8() -> None:
    """A header string that is not latin-1 (not from WSGI) is compared as UTF-8."""
    assert authenticate({"authorization": "Bearer crön-🔑"}, BODY, method="POST", target=PATH,
                        cron_secret="crön-🔑", signing_secret=None, window_seconds=300, now=NOW) == "bearer"


def test_lone_surrogate_in_header_is_refused_not_crashed() -> None:
    """A lone surrogate in a header is refused, not a crash."""
    with pytest.raises(AuthError):
        authenticate({"authorization": "Bearer \ud800"}, BODY, method="POST", target=PATH, cron_secret="c",
                     signing_secret=None, window_seconds=300, now=NOW)


@pytest.mark.parametrize(("kw", "headers", "message"), [
    ({"cron_secret": None, "signing_secret": None}, {},
     "the processor has no CRON_SECRET or EMBEDDING_SIGNING_SECRET"),
    ({}, {}, "missing or invalid credentials"),
    ({}, {"x-autoembed-signature": "v1=00", "x-autoembed-timestamp": "x"}, "missing or malformed timestamp"),
    ({}, _low(sign(BODY, "s", int(NOW) - 901)), "timestamp outside the replay window"),
    ({}, {"x-autoembed-signature": "v1=00", "x-autoembed-timestamp": str(int(NOW))}, "bad signature"),
])
def test_auth_error_messages_exact(kw: dict[str, object], headers: dict[str, str], message: str) -> None:
    """Each refusal logs the reason that explains it."""
    opts = {"cron_secret": "c", "signing_secret": "s", "window_seconds": 900, "now": NOW,
            "method": "POST", "target": PATH, **kw}
    with pytest.raises(AuthError) as exc:
        authenticate(headers, BODY, **opts)
    assert str(exc.value) == message
