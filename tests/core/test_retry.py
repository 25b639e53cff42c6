"""Retry decisions and waits."""

from __future__ import annotations

import random

import pytest

from embedframe._core.retry import backoff, is_retryable_status, parse_duration, server_wait


@pytest.mark.parametrize(
    ("status", "code", "retry"),
    [
        (429, "rate_limit_exceeded", True),
        (429, "insufficient_quota", False),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (408, None, True),
        (400, None, False),
        (401, None, False),
        (403, None, False),
        (404, None, False),
        (422, None, False),
    ],
)
def test_retryable_statuses(status: int, code: str | None, retry: bool) -> None:
    """429 (not quota), 408, 409 and 5xx are retried; other 4xx are not."""
    assert is_retryable_status(status, code) is retry


@pytest.mark.parametrize(
    ("status", "header", "retry"),
    [
        (400, "true", True),
        (503, "false", False),
        (429, "False", False),
        (500, "maybe", True),
        (400, None, False),
    ],
)
def test_x_should_retry_overrides_the_status(status: int, header: str | None, retry: bool) -> None:
    """The server's x-should-retry: true/false decides, as in the openai SDK; any other value is ignored."""
    assert is_retryable_status(status, None, header) is retry


def test_server_wait_prefers_ms_then_seconds_then_date_then_message() -> None:
    """retry-after-ms, retry-after (seconds or HTTP date) and 'try again in Ns' are all read."""
    assert server_wait({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert server_wait({"retry-after": "3"}) == 3.0
    assert server_wait({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert server_wait({}, "Rate limit reached. Please try again in 2.812s.") == 2.812
    assert server_wait({}, "Please try again in 20ms.") == 0.02
    assert server_wait({}, "Requests to the API have exceeded the rate limit. Retry after 17 seconds.") == 17
    assert server_wait({}, "no hint here") is None


def test_backoff_doubles_with_jitter_and_cap() -> None:
    """The wait doubles per attempt, stays in [cap/2, cap] and never passes the maximum."""
    rng = random.Random(1)
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (10, 8.0)]:
        w = backoff(attempt, initial=0.5, maximum=8.0, rng=rng)
        assert cap / 2 <= w <= cap


def test_parse_duration() -> None:
    """x-ratelimit-reset durations like 6m0s, 1.2s and 20ms are read as seconds."""
    assert parse_duration("6m0s") == 360 and parse_duration("1.2s") == 1.2
    assert parse_duration("20ms") == 0.02 and parse_duration("1h2m3s") == 3723
    assert parse_duration("soon") is None
