"""Settings from the environment."""

from __future__ import annotations

from dataclasses import fields

import pytest
from autoembed.config import VARIABLES, Settings, database_url, environment_secrets
from autoembed.errors import ConfigError

URL = "postgresql://u@h:5432/db"
# A complete environment, so each bad value below fails for its own reason.
GOOD = {"DATABASE_URL": URL, "OPENAI_API_KEY": "sk-test-key"}


def test_missing_api_key_is_an_error_never_a_silent_switch() -> None:
    """Without OPENAI_API_KEY the default provider says what to set; local is chosen only by name."""
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set: set it, or EMBEDDING_PROVIDER=local"):
        Settings.from_env({"DATABASE_URL": URL})
    s = Settings.from_env({"DATABASE_URL": URL, "EMBEDDING_PROVIDER": "local"})
    assert (s.provider, s.model) == ("local", "sentence-transformers/all-MiniLM-L6-v2")


def test_settings_that_embed_nothing_need_no_key() -> None:
    """embeds=False builds the settings from DATABASE_URL alone, with the default model and no key."""
    s = Settings.from_env({"DATABASE_URL": URL}, embeds=False)
    assert (s.provider, s.model, s.openai_api_key) == ("openai", "text-embedding-3-small", None)


def test_openai_defaults_and_secrets_hidden() -> None:
    """An API key selects OpenAI's text-embedding-3-small; repr shows no secret."""
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:pw-123@h/db", "OPENAI_API_KEY": "sk-9",
                           "CRON_SECRET": "c-1", "EMBEDDING_SIGNING_SECRET": "s-1"})
    assert (s.provider, s.model) == ("openai", "text-embedding-3-small")
    text = repr(s) + str(s.describe())
    for secret in ("sk-9", "c-1", "s-1", "pw-123"):
        assert secret not in text
    assert set(s.secrets()) >= {"sk-9", "c-1", "s-1", "pw-123"}


def test_unset_or_blank_variables_leave_the_fields_defaults() -> None:
    """The environment's defaults are the dataclass fields' defaults, written once."""
    blank = {v.name: "  " for v in VARIABLES if v.name not in GOOD}
    expected = Settings(database_url=URL, provider="openai", model="text-embedding-3-small",
                        openai_api_key="sk-test-key")
    assert Settings.from_env(GOOD) == expected
    assert Settings.from_env({**GOOD, **blank}) == expected


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "DATABASE_URL"),
        ({"DATABASE_URL": "", "OPENAI_API_KEY": "k"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql//u:p@h/db"}, "DATABASE_URL"),  # not "OPENAI_API_KEY"
        ({**GOOD, "EMBEDDING_PROVIDER": "cohere"}, "EMBEDDING_PROVIDER"),
        ({**GOOD, "OPENAI_API_KEY": " \n"}, "OPENAI_API_KEY"),
        ({**GOOD, "EMBEDDING_CLAIM_SIZE": "0"}, "EMBEDDING_CLAIM_SIZE"),
        ({**GOOD, "EMBEDDING_CONCURRENCY": "many"}, "EMBEDDING_CONCURRENCY"),
        ({**GOOD, "EMBEDDING_TIME_BUDGET_SECONDS": "-1"}, "EMBEDDING_TIME_BUDGET_SECONDS"),
        ({**GOOD, "EMBEDDING_PACING": "sometimes"}, "EMBEDDING_PACING"),
        ({**GOOD, "EMBEDDING_TIME_BUDGET_SECONDS": "50"}, "EMBEDDING_CALLER_TIMEOUT_SECONDS"),
    ],
)
def test_bad_environment(env: dict[str, str], named: str) -> None:
    """A missing or invalid setting is a ConfigError naming it (and nothing else fails first)."""
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


# The accepted range of every integer variable, written here on purpose a second
# time: a changed bound in config.py fails its case below.
INTEGER_RANGES = {
    "EMBEDDING_DIMENSIONS": (1, 16_000),  # pgvector's vector, and embedding_models' check
    "EMBEDDING_CLAIM_SIZE": (1, 2048),
    "EMBEDDING_CONCURRENCY": (1, 32),
    "EMBEDDING_WRITERS": (1, 8),
    "EMBEDDING_LEASE_SECONDS": (10, 86400),
    "EMBEDDING_BATCH_API_THRESHOLD": (0, 1 << 20),
    "EMBEDDING_INDEX_BUILD_MEMORY_MB": (64, 65536),
    "EMBEDDING_REPLAY_WINDOW_SECONDS": (30, 86400),
}
SECONDS = ("EMBEDDING_TIME_BUDGET_SECONDS", "EMBEDDING_REQUEST_TIMEOUT_SECONDS",
           "EMBEDDING_CALLER_TIMEOUT_SECONDS", "EMBEDDING_BACKGROUND_BUDGET_SECONDS")


def _type_of(name: str) -> str:
    [variable] = [v for v in VARIABLES if v.name == name]
    return str({f.name: f.type for f in fields(Settings)}[variable.field])


def test_every_number_has_its_range_tested() -> None:
    """Each integer and seconds variable the settings read is in this file's tables."""
    integers = {v.name for v in VARIABLES if _type_of(v.name).startswith("int")}
    floats = {v.name for v in VARIABLES if _type_of(v.name) == "float"}
    assert (integers, floats) == (set(INTEGER_RANGES), set(SECONDS))


@pytest.mark.parametrize("name", sorted(INTEGER_RANGES))
def test_integer_bounds(name: str) -> None:
    """Both bounds are accepted and one past either is a ConfigError naming the variable."""
    low, high = INTEGER_RANGES[name]
    field = next(v.field for v in VARIABLES if v.name == name)
    for accepted in (low, high):
        assert getattr(Settings.from_env({**GOOD, name: str(accepted)}), field) == accepted
    for refused in (low - 1, high + 1, "1.5"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({**GOOD, name: str(refused)})


@pytest.mark.parametrize("name", SECONDS)
def test_seconds_are_positive_numbers(name: str) -> None:
    """A fraction is accepted; zero, negative, NaN, infinity and words name the variable."""
    field = next(v.field for v in VARIABLES if v.name == name)
    accepted = 60.5 if name == "EMBEDDING_CALLER_TIMEOUT_SECONDS" else 0.5  # the others must fit it
    assert getattr(Settings.from_env({**GOOD, name: str(accepted)}), field) == accepted
    for refused in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({**GOOD, name: refused})


MALFORMED_URLS = [
    "postgresql//user:Pw-malformed-1@host/db",
    "postgres:/user:Pw-malformed-2@host/db",
    "postgresql://user:Pw-malformed-3@host:notaport/db",
    "postgresql://user:Pw-malformed-4@host:99999/db",
    "mysql://user:Pw-malformed-5@host/db",
    "user:Pw-malformed-6@host/db",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_database_url_is_named_never_echoed(url: str) -> None:
    """A DATABASE_URL of the wrong shape is a ConfigError naming it, without its text or password."""
    with pytest.raises(ConfigError, match="DATABASE_URL") as raised:
        database_url({"DATABASE_URL": url})
    assert "Pw-malformed" not in str(raised.value) and "user:" not in str(raised.value)


def test_well_formed_database_urls_pass() -> None:
    """URLs of either scheme, with or without a port or query, and key=value strings are accepted."""
    for url in ("postgresql://u:p@h:6543/postgres?sslmode=require", "postgres://h/db",
                "host=h port=5432 dbname=db user=u"):
        assert database_url({"DATABASE_URL": f" {url}\n"}) == url


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_passwords_of_malformed_urls_are_secrets(url: str) -> None:
    """The password of a URL that does not parse is still among the environment's secrets."""
    password = url.split("user:", 1)[1].split("@", 1)[0]
    assert password.startswith("Pw-malformed") and password in environment_secrets({"DATABASE_URL": url})


@pytest.mark.parametrize("url", ["notaurl", "ftp://example.com/v1", "http://", "api.openai.com/v1",
                                 "https://user:Pw-secret-1@:0/v1"])
def test_a_base_url_that_is_not_http_is_named_at_start(url: str) -> None:
    """A probe's OPENAI_BASE_URL=notaurl ran, and failed every row for good as 'unreachable'."""
    with pytest.raises(ConfigError, match=r"^OPENAI_BASE_URL must be an http:// or https:// URL") as caught:
        Settings.from_env({**GOOD, "OPENAI_BASE_URL": url})
    assert "Pw-secret-1" not in str(caught.value)


def test_base_urls_of_any_compatible_server_pass() -> None:
    for url in ("https://api.openai.com/v1", "http://127.0.0.1:8080/v1", "HTTPS://proxy.example/openai"):
        assert Settings.from_env({**GOOD, "OPENAI_BASE_URL": url}).openai_base_url == url


def test_a_misspelled_variable_is_warned_of_by_the_name_it_resembles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It would be ignored silently: the default would run in its place."""
    env = {**GOOD, "EMBEDING_MODEL": "text-embedding-3-large", "EMBEDDING_CLAIMSIZE": "10", "HOME": "/root"}
    with caplog.at_level("WARNING"):
        assert Settings.from_env(env).model == "text-embedding-3-small"
    assert [r.getMessage() for r in caplog.records] == [
        "EMBEDING_MODEL is not a setting autoembed reads: did you mean EMBEDDING_MODEL?",
        "EMBEDDING_CLAIMSIZE is not a setting autoembed reads: did you mean EMBEDDING_CLAIM_SIZE?"]
