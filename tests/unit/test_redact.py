"""The one redaction step: secrets and secret-looking parts never pass it."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from autoembed import redact
from autoembed.config import Settings


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Incorrect API key provided: sk-proj-abcdefghij1234", "Incorrect API key provided: [redacted]"),
        ("postgresql://app:s3cr3t-pw@db.example:6543/postgres", "postgresql://[redacted]@db.example:6543/postgres"),
        ("GET https://llm.example/v1/embeddings?api-key=qwerty123&x=1",
         "GET https://llm.example/v1/embeddings?api-key=[redacted]&x=1"),
        ("header Authorization: Bearer abc.def.ghi", "header Authorization: Bearer [redacted]"),
        ("the registered value registered-secret-value leaked", "the registered value [redacted] leaked"),
        ("nothing secret here: 429 rate limited", "nothing secret here: 429 rate limited"),
    ],
)
def test_text_removes_secrets_and_secret_shapes(given: str, expected: str) -> None:
    """Registered secrets, URL credentials, key parameters, Bearer tokens and sk- keys become [redacted]."""
    redact.register(["registered-secret-value"])
    assert redact.text(given) == expected


def test_url_keeps_only_scheme_host_port_and_path() -> None:
    """A URL for a log line loses user, password and query."""
    assert redact.url("https://user:pw@llm.example:8443/v1?api-key=q") == "https://llm.example:8443/v1?[redacted]"
    assert redact.url(None) is None


def test_every_log_record_is_redacted_once_installed(caplog: pytest.LogCaptureFixture) -> None:
    """After install(), a record of any logger, its arguments and its traceback are redacted."""
    redact.install(["installed-secret-4321"])
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO, logger="some.library"):
        logger.info("provider said %s", "bad key installed-secret-4321")
        try:
            raise ValueError("boom installed-secret-4321")
        except ValueError:
            logger.exception("failed")
    text = caplog.text
    assert "installed-secret-4321" not in text
    assert "provider said bad key [redacted]" in text and "ValueError: boom [redacted]" in text


def test_base_url_credentials_never_reach_the_settings_log() -> None:
    """describe() shows the provider URL without user, password or query, and no secret at all."""
    settings = Settings(database_url="postgresql://u:dbpass@h/d", provider="openai", model="m",
                        openai_base_url="https://user:hunter22@llm.example/v1?api-key=qwerty123")
    text = json.dumps(settings.describe())
    assert "hunter22" not in text and "qwerty123" not in text and "dbpass" not in text
    assert settings.describe()["openai_base_url"] == "https://llm.example/v1?[redacted]"


def test_secrets_are_stripped_when_read() -> None:
    """A secret with a .env newline or spaces around it is the secret without them."""
    settings = Settings.from_env({"DATABASE_URL": "postgresql://x@y/z", "OPENAI_API_KEY": " sk-k \n",
                                  "CRON_SECRET": "crön-🔑-ü\n", "EMBEDDING_SIGNING_SECRET": "  s  "})
    assert (settings.cron_secret, settings.signing_secret, settings.openai_api_key) == (
        "crön-🔑-ü", "s", "sk-k")


def test_basic_credentials_of_a_base_url_are_redacted_in_base64_too() -> None:
    """A provider echoing the Basic header an HTTP client built from OPENAI_BASE_URL's user:password
    keeps neither form; unregistered Basic credentials go too, English words after "basic" stay."""
    settings = Settings(database_url="postgresql://x@y/z", provider="openai", model="m",
                        openai_base_url="http://proxy-user:proxy%2Fpass@127.0.0.1:9/v1")
    redact.register(settings.secrets())
    encoded = base64.b64encode(b"proxy-user:proxy/pass").decode()
    said = f"401: bad credentials in header Authorization: Basic {encoded} (sent {encoded})"
    assert redact.text(said) == ("401: bad credentials in header Authorization: Basic [redacted] "
                                 "(sent [redacted])")
    assert redact.text("Authorization: Basic Zm9vOmJhcg==") == "Authorization: Basic [redacted]"
    assert redact.text("the basic plan has no access") == "the basic plan has no access"


@pytest.mark.parametrize("url", ["postgresql//app:Malformed-pw-1@db.example/postgres",
                                 "postgres:/app:Malformed-pw-2@db.example/postgres"])
def test_the_password_of_a_url_that_does_not_parse_is_redacted(url: str) -> None:
    """libpq quotes a malformed URL whole; its user:password@ part is found all the same."""
    redact.register(redact.url_secrets(url))
    said = redact.text(f'missing "=" after "{url}" in connection info string')
    assert "Malformed-pw" not in said and "[redacted]" in said


def test_a_password_holding_an_unescaped_at_sign_is_redacted_where_libpq_cuts_it() -> None:
    """libpq takes the password up to its first "@" and resolves the rest as a host name."""
    url = "postgresql://postgres.abcd:MyP@ssw0rdTail99@db.example:5432/postgres"
    redact.register(redact.url_secrets(url))
    said = redact.text("failed to resolve host 'ssw0rdTail99@db.example': Name or service not known")
    assert said == "failed to resolve host '[redacted]db.example': Name or service not known"
    # Only where libpq cut it: the part after the "@" alone is no secret everywhere.
    assert redact.text("in 2026 ssw0rdTail99 was seen") == "in 2026 ssw0rdTail99 was seen"
