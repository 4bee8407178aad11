"""A synchronous run's budget fits the caller's declared wait, or is refused with what to fix."""

from __future__ import annotations

from typing import Any

import pytest
from autoembed.config import RUN_MARGIN_SECONDS, Settings
from autoembed.errors import ConfigError
from autoembed.handler import synchronous_budget

SETTINGS = Settings(database_url="postgresql://x@y/z", provider="openai", model="m",
                    time_budget_seconds=40, request_timeout_seconds=15)


@pytest.mark.parametrize(
    ("payload", "budget"),
    [
        ({}, 40),                                   # no declared wait: the configured budget
        ({"timeout_ms": 60_000}, 40),               # 60 - 15 - 5 = 40: fits exactly
        ({"timeout_ms": 30_000}, 30 - 15 - RUN_MARGIN_SECONDS),  # cut to fit
        ({"timeout_ms": 600_000}, 40),              # never longer than configured
        ({"timeout_ms": "60000"}, 40),              # not an integer: ignored
        ({"timeout_ms": True}, 40),                 # a bool is no timeout
        ([1, 2], 40),                               # not an object
    ],
)
def test_budget_fits_the_callers_wait(payload: Any, budget: float) -> None:
    """budget + request timeout + margin never exceeds the caller's timeout_ms."""
    assert synchronous_budget(SETTINGS, payload) == budget


def test_a_wait_too_short_for_one_request_is_refused_with_the_fix() -> None:
    """pg_net's default 5 s cannot hold a synchronous run: the error names the timeout to set."""
    with pytest.raises(ConfigError, match=r"caller waits 5000 ms.*timeout_milliseconds >= 21000"):
        synchronous_budget(SETTINGS, {"timeout_ms": 5000})


def test_budgets_a_caller_would_not_wait_for_are_refused_at_start() -> None:
    """A 70 s budget with the default 60 s caller timeout is a one-line configuration error."""
    env = {"DATABASE_URL": "postgresql://x@y/z", "OPENAI_API_KEY": "k",
           "EMBEDDING_TIME_BUDGET_SECONDS": "70"}
    with pytest.raises(ConfigError, match="must not exceed EMBEDDING_CALLER_TIMEOUT_SECONDS"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "EMBEDDING_CALLER_TIMEOUT_SECONDS": "90"}).time_budget_seconds == 70
