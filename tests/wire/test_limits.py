"""Rate limits: the token buckets, limits measured on the server's side, the server's
x-ratelimit headers, a shared pause on 429, patience, and insufficient_quota."""

from __future__ import annotations

import asyncio
import json
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, QuotaExceededError, RateLimitError, to_numpy
from embedframe._wire import limits as _limits
from embedframe._wire.limits import RateLimiter, TokenBucket
from tests.support import DIM
from tests.support.fakeserver import FakeServer, Fault, RecordedRequest, _Plan, encoding, vector_for_text
from tests.support.hookserver import Answer, Handler, HookedServer


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def texts_of(n: int, size: int) -> list[str]:
    """``n`` distinct texts of exactly ``size`` tokens each."""
    out = [f"{i} " + "hello world " * ((size - 1) // 2) for i in range(n)]
    out = [t if tokens(t) == size else t + "x" * (size - tokens(t)) for t in out]
    assert all(tokens(t) == size for t in out), [tokens(t) for t in out]
    return out


def expected(texts: list[str]) -> np.ndarray:
    return np.stack([vector_for_text(t, DIM) for t in texts])


def arrivals(srv: HookedServer) -> list[tuple[float, RecordedRequest]]:
    return sorted(srv.arrivals, key=lambda a: a[0])


# ------------------------------------------------------------------------ token buckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock of the test's own for the buckets (only embedframe._wire.limits sees it)."""
    c = Clock()
    monkeypatch.setattr(_limits, "time", types.SimpleNamespace(monotonic=c.monotonic))
    return c


def test_bucket_starts_full_and_refills_continuously_up_to_a_minute(clock: Clock) -> None:
    """A bucket holds a minute's worth, starts full, refills per_minute/60 a second and never overflows."""
    b = TokenBucket(600)
    assert b.wait_for(600) == 0
    asyncio.run(b.take(600))
    assert b.wait_for(10) == pytest.approx(1.0)
    clock.now += 0.5
    assert b.wait_for(10) == pytest.approx(0.5)
    clock.now += 3600
    assert b.wait_for(600) == 0 and b.level == 600


def test_bucket_never_asks_for_more_than_it_can_hold(clock: Clock) -> None:
    """Asking for more than the capacity waits for a full bucket, not forever."""
    b = TokenBucket(60)
    asyncio.run(b.take(60))
    assert b.wait_for(1_000_000) == pytest.approx(60.0)


def test_drain_to_only_lowers(clock: Clock) -> None:
    """The server's remaining count lowers the level but never raises it."""
    b = TokenBucket(1000)
    b.drain_to(250)
    assert b.level == 250
    b.drain_to(900)
    assert b.level == 250
    clock.now += 6
    assert b.wait_for(350) == 0


def test_takes_wait_their_turn() -> None:
    """Concurrent takes are served in arrival order and together never beat the refill rate."""
    b = TokenBucket(1200)  # 20 a second
    order: list[int] = []

    async def take(i: int) -> None:
        await b.take(5)
        order.append(i)

    async def main() -> float:
        await b.take(1200)
        started = time.monotonic()
        await asyncio.gather(*(take(i) for i in range(4)))
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert order == [0, 1, 2, 3]
    assert elapsed >= 20 / 20 * 0.9


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.2s"}, 1.2),
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20ms"}, 0.02),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1m30s",
            },
            90.0,
        ),
        ({"x-ratelimit-remaining-tokens": "5", "x-ratelimit-reset-tokens": "1s"}, None),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "soon"}, None),
        ({"x-ratelimit-remaining-tokens": "lots"}, None),
        ({}, None),
    ],
)
def test_observe_reads_the_rate_limit_headers(headers: dict[str, str], pause: float | None) -> None:
    """Nothing left plus a reset duration (6m0s, 1.2s, 20ms) is a pause for every worker; anything else is not."""
    got = RateLimiter(None, None).observe(headers)
    assert got == (pytest.approx(pause) if pause is not None else None)


def test_observe_lowers_the_client_budget_before_the_server_refuses(clock: Clock) -> None:
    """A remaining count below the client's own budget lowers the bucket, so the client slows down first."""
    limiter = RateLimiter(100, 60_000)
    limiter.observe({"x-ratelimit-remaining-tokens": "100", "x-ratelimit-remaining-requests": "3"})
    assert limiter.tokens is not None and limiter.requests is not None
    assert limiter.tokens.level == 100 and limiter.requests.level == 3
    assert limiter.tokens.wait_for(1100) == pytest.approx(1.0)


# --------------------------------------------------------- limits measured at the server


def cumulative_ok(points: list[tuple[float, int]], budget: float, per_second: float, slack: float) -> None:
    """At every arrival, what arrived so far is within the budget plus its refill since the first."""
    t0 = points[0][0]
    total = 0
    for t, amount in points:
        total += amount
        allowed = budget + per_second * (t - t0 + slack)
        assert total <= allowed, f"{total} arrived by t+{t - t0:.2f}s, more than {allowed:.0f}"


def test_tokens_per_minute_holds_at_the_server(config: EmbedConfig) -> None:
    """With tokens_per_minute=3000 the tokens arrived by any moment never exceed 3000 plus the refill, and the limit binds."""
    texts = texts_of(66, 50)  # 3300 tokens: the first 3000 at once, then 50 a second
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url),
            tokens_per_minute=3000,
            max_input_tokens=512,
            max_inputs_per_request=2,
            concurrency=4,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    points = [(t, rec.total_tokens) for t, rec in got]
    assert sum(p[1] for p in points) == 3300
    cumulative_ok(points, 3000, 3000 / 60, slack=0.25)
    assert got[-1][0] - got[0][0] >= 300 / 50 * 0.9, "the budget made the job wait"
    assert out.attrs["embedframe"]["tokens_sent"] == 3300


def test_one_request_never_holds_more_than_the_token_budget(config: EmbedConfig) -> None:
    """Inputs that together exceed tokens_per_minute are split so each request fits the budget."""
    texts = texts_of(12, 50)  # 600 tokens, budget 590 a minute
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts, config=config.replace(base_url=srv.url), tokens_per_minute=590, max_input_tokens=100
        )
        assert max(r.total_tokens for r in srv.requests) <= 590
        assert all(r.status == 200 for r in srv.requests) and len(srv.requests) == 2
    np.testing.assert_array_equal(to_numpy(out), expected(texts))


def test_requests_per_minute_holds_at_the_server(config: EmbedConfig) -> None:
    """With requests_per_minute=60 the requests arriving by any moment never exceed 60 plus one a second."""
    texts = [f"rpm text {i}" for i in range(64)]
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url),
            requests_per_minute=60,
            max_inputs_per_request=1,
            concurrency=4,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    assert len(got) == 64
    cumulative_ok([(t, 1) for t, _ in got], 60, 1.0, slack=0.25)
    assert got[-1][0] - got[0][0] >= 4 * 0.9


# ------------------------------------------------------------------ the server's signals


class _NothingLeft(Handler):
    """Says 'no tokens left, reset in 1s' on the answers to the first four requests."""

    def extra_headers(self, status: int) -> list[tuple[str, str]]:
        if self.number <= 4:
            return [("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "1s")]
        return []


def test_no_tokens_left_makes_every_worker_wait_for_the_reset(config: EmbedConfig) -> None:
    """x-ratelimit-remaining-tokens: 0 with reset 1s holds all workers for a second, before any 429."""
    texts = [f"reset text {i}" for i in range(40)]
    with HookedServer(_NothingLeft, dim=DIM) as srv:
        out = embedframe.embed(
            texts, config=config.replace(base_url=srv.url), max_inputs_per_request=2, concurrency=4
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    first_wave = [t for t, rec in got if srv.number(rec) <= 4]
    later = [t for t, rec in got if srv.number(rec) > 4]
    assert len(first_wave) == 4 and len(later) == 16
    assert min(later) - max(first_wave) >= 0.9
    assert all(rec.status == 200 for _, rec in got) and out.attrs["embedframe"]["rate_limited"] == 0


class _FastRefusal(Handler):
    """Answers the first request at once with a 429 asking for 0.6 s; the others after 0.2 s."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if self.number == 1:
            body = {
                "error": {"message": "Rate limit reached.", "type": "requests", "code": "rate_limit_exceeded"}
            }
            return 429, json.dumps(body).encode(), "application/json"
        return None

    def extra_headers(self, status: int) -> list[tuple[str, str]]:
        return [("retry-after", "0.6")] if status == 429 else []


def test_a_429_pauses_every_worker_together(config: EmbedConfig) -> None:
    """After one worker hears a 429 with Retry-After, the other workers wait it out too instead of sending."""
    texts = [f"pause text {i}" for i in range(30)]
    with HookedServer(_FastRefusal, dim=DIM, latency_s=0.2) as srv:
        out = embedframe.embed(
            texts, config=config.replace(base_url=srv.url), max_inputs_per_request=3, concurrency=3
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    t_429 = next(t for t, rec in got if rec.status == 429)
    # without the shared pause the other two workers would send again about 0.2 s after it
    assert [t - t_429 for t, _ in got if t_429 + 0.15 < t < t_429 + 0.55] == []
    assert len([t for t, _ in got if t >= t_429 + 0.55]) >= 8
    assert out.attrs["embedframe"]["rate_limited"] == 1


def test_retry_after_beyond_patience_stops_and_keeps_what_was_paid(config: EmbedConfig) -> None:
    """A Retry-After over max_retry_wait stops with 'run again after', keeping every answer paid for (in-flight too)."""
    texts = [f"patience text {i}" for i in range(40)]
    with HookedServer(dim=DIM, latency_s=0.3) as srv:
        srv.fault_at(6, fault=Fault("429", retry_after="7200"))
        cfg = config.replace(base_url=srv.url, max_inputs_per_request=5, concurrency=4, max_retry_wait=60)
        started = time.monotonic()
        with pytest.raises(
            RateLimitError, match=r"wait 7200 s, more than max_retry_wait=60 s; run again after"
        ):
            embedframe.embed(texts, config=cfg)
        assert time.monotonic() - started < 5
        time.sleep(0.4)  # let the server finish anything still in flight
        paid = srv.ok_inputs()
        assert len(paid) >= 20
        srv.reset()
        out = embedframe.embed(texts, config=cfg)
        np.testing.assert_array_equal(to_numpy(out), expected(texts))
        assert sorted(srv.ok_inputs()) == sorted(set(texts) - set(paid)), "paid-for answers were lost"


def test_insufficient_quota_stops_without_a_retry_storm(server: FakeServer, config: EmbedConfig) -> None:
    """insufficient_quota with 4 workers: one request each at most, then QuotaExceededError saying what to do."""
    server.inject(*["429_quota"] * 50)
    texts = [f"quota text {i}" for i in range(80)]
    started = time.monotonic()
    with pytest.raises(QuotaExceededError, match="out of quota") as info:
        embedframe.embed(texts, config=config, max_inputs_per_request=2, concurrency=4)
    assert time.monotonic() - started < 5
    assert info.value.code == "insufficient_quota" and info.value.status == 429
    time.sleep(0.2)
    assert 1 <= len(server.requests) <= 4


def test_a_file_job_shares_one_budget_across_its_batches(config: EmbedConfig, tmp_path: Path) -> None:
    """embed_file's batches are separate jobs, but tokens_per_minute holds for the file as a whole."""
    texts = texts_of(66, 50)  # 3300 tokens in 6 batches of 11 rows
    src = tmp_path / "in.parquet"
    pd.DataFrame({"text": texts}).to_parquet(src)
    with HookedServer(dim=DIM) as srv:
        embedframe.embed_file(
            src,
            tmp_path / "out.parquet",
            column="text",
            batch_rows=11,
            config=config.replace(base_url=srv.url),
            tokens_per_minute=3000,
            max_input_tokens=512,
            max_inputs_per_request=2,
        )
        got = arrivals(srv)
    points = [(t, rec.total_tokens) for t, rec in got]
    assert sum(p[1] for p in points) == 3300
    cumulative_ok(points, 3000, 3000 / 60, slack=0.25)
