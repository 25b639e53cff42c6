"""Rate limits: the token buckets and their pacing, budgets learned from the server's
x-ratelimit headers, the fake server's limiter, limits measured on the server's side, a
shared pause on 429, patience, and insufficient_quota."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import types
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, QuotaExceededError, RateLimitError, to_numpy
from embedframe._core.retry import parse_duration
from embedframe._job.engine import ANSWER_BYTES, request_limits
from embedframe._wire import limits as _limits
from embedframe._wire.limits import BURST_S, PROBE_TOKENS, RateLimiter, TokenBucket, paced_request_tokens
from tests.support import DIM
from tests.support.fakeserver import (
    FakeServer,
    Fault,
    RateLimit,
    RecordedRequest,
    _Plan,
    duration,
    encoding,
    vector_for_text,
)
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
    """A clock of the test's own; ``sleep`` only records (and advances the clock)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock of the test's own for the buckets (only embedframe._wire.limits sees it)."""
    c = Clock()
    monkeypatch.setattr(_limits, "time", types.SimpleNamespace(monotonic=c.monotonic, sleep=c.sleep))
    return c


def test_bucket_holds_half_a_second_not_a_minute(clock: Clock) -> None:
    """A bucket holds BURST_S seconds of its rate, starts there, refills per_minute/60 a second, never more."""
    b = TokenBucket(600)  # 10 a second
    assert b.capacity == 10 * BURST_S == 5 and b.level == 5
    assert b.wait_for(5) == 0 and b.wait_for(6) == 0  # more than it holds: from a full bucket
    asyncio.run(b.take(5))
    assert b.wait_for(1) == pytest.approx(0.1)
    clock.now += 0.2
    assert b.level == pytest.approx(2)
    clock.now += 3600
    assert b.level == 5, "an idle hour does not store up a burst"


def test_a_take_larger_than_the_bucket_waits_for_a_full_one_and_leaves_debt(clock: Clock) -> None:
    """200 from a 50-unit bucket goes once it is full and leaves it 150 in debt for the next take."""
    b = TokenBucket(6000)  # 100 a second, holds 50
    b.take_blocking(30)
    assert b.reserve(200) == pytest.approx(clock.now + 0.3)  # 30 to refill, then all of it
    assert b.reserve(10) == pytest.approx(clock.now + 0.3 + 1.6)  # 150 of debt and 10 more
    clock.now += 10
    assert b.level == 50


def test_takes_are_served_in_turn_from_threads_and_tasks(clock: Clock) -> None:
    """Eight threads and four tasks share one bucket: together they never beat its rate, each in turn."""
    b = TokenBucket(6000)  # 100 a second, holds 50
    threads = [threading.Thread(target=b.take_blocking, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(clock.slept) == pytest.approx([0.25 * i for i in range(1, 7)])  # two went at once
    reserved = [b.reserve(25) - clock.now for _ in range(4)]
    assert reserved == pytest.approx([1.75, 2.0, 2.25, 2.5])


def test_async_and_blocking_takers_pace_one_budget_on_the_real_clock() -> None:
    """Tasks and threads taking from one bucket together get what it allows, in order, and no more."""
    b = TokenBucket(12_000)  # 200 a second, holds 100
    granted: list[tuple[float, int]] = []

    def thread_take() -> None:
        b.take_blocking(40)
        granted.append((time.monotonic(), 40))

    async def task_take() -> None:
        await b.take(40)
        granted.append((time.monotonic(), 40))

    async def main() -> None:
        await asyncio.gather(*(task_take() for _ in range(4)))

    started = time.monotonic()
    threads = [threading.Thread(target=thread_take) for _ in range(4)]
    for t in threads:
        t.start()
    asyncio.run(main())
    for t in threads:
        t.join()
    total = 0
    for t, amount in sorted(granted):
        total += amount
        assert total <= 100 + 200 * (t - started) + 1, f"{total} granted by t+{t - started:.3f}s"
    assert max(t for t, _ in granted) - started >= (320 - 100) / 200 * 0.9


def test_drain_to_only_lowers(clock: Clock) -> None:
    """The server's remaining count lowers the level but never raises it."""
    b = TokenBucket(60_000)  # 1000 a second, holds 500
    b.drain_to(250)
    assert b.level == 250
    b.drain_to(400)
    assert b.level == 250
    clock.now += 0.1
    assert b.wait_for(350) == 0


@pytest.mark.parametrize(
    ("tpm", "rpm", "cap"),
    [
        (150_000, 3000, 625),  # a quarter of a second's tokens
        (150_000, 100, 3000),  # at least twice what each of 100 requests a minute must carry
        (6000, None, 25),
        (60_000, 1, 60_000),  # never more than a minute's tokens
        (None, 3000, None),  # no token budget: no cap of its own
    ],
)
def test_paced_request_tokens(tpm: int | None, rpm: int | None, cap: int | None) -> None:
    """One request holds a quarter second of the token budget, unless the request budget needs more."""
    assert paced_request_tokens(tpm, rpm) == cap


def test_request_limits_pace_requests_or_probe_the_server(config: EmbedConfig) -> None:
    """With tokens_per_minute requests hold its paced share; without, the first request is a small probe."""
    paced = request_limits(config.replace(tokens_per_minute=150_000, requests_per_minute=3000))
    assert (paced.max_tokens, paced.first_tokens) == (625, None)
    learning = request_limits(config)
    assert (learning.max_tokens, learning.first_tokens) == (config.max_tokens_per_request, PROBE_TOKENS)


@pytest.mark.parametrize(
    ("options", "max_inputs"),
    [
        ({"model": "text-embedding-3-small"}, 682),  # 1536-d: 682 x 6 KiB of vectors <= 4 MiB
        ({"model": "text-embedding-3-large"}, 341),  # 3072-d
        ({"model": "text-embedding-3-large", "dimensions": 256}, 2048),  # small vectors: the API's 2048
        ({"model": "text-embedding-3-small", "max_inputs_per_request": 2048}, 2048),  # the user's choice wins
        ({"model": "text-embedding-3-small", "max_inputs_per_request": 100}, 100),
        ({"model": "some-model-off-the-table"}, 2048),  # size unknown before the first answer
    ],
)
def test_request_limits_keep_each_answer_to_answer_bytes(
    config: EmbedConfig, options: dict[str, object], max_inputs: int
) -> None:
    """Unless the user sets max_inputs_per_request, a request asks for at most ANSWER_BYTES of vectors."""
    limits = request_limits(config.replace(**options))
    assert limits.max_inputs == max_inputs
    assert ANSWER_BYTES == 4 << 20


# ------------------------------------------------------------ the server's headers


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
        (
            {
                "x-ratelimit-limit-tokens": "150000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            None,  # with the limit known, nothing left is a debt the bucket pays off, not a pause
        ),
        ({}, None),
    ],
)
def test_observe_pauses_only_for_a_budget_it_cannot_model(
    headers: dict[str, str], pause: float | None
) -> None:
    """Nothing left plus a reset time (6m0s, 1.2s, 20ms) and no limit header is a pause for every worker."""
    got = RateLimiter(None, None).observe(headers)
    assert got == (pytest.approx(pause) if pause is not None else None)


def openai_headers(limit: int, remaining: int, reset: str, kind: str = "tokens") -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(remaining),
        f"x-ratelimit-reset-{kind}": reset,
    }


def test_the_headers_build_the_buckets_when_the_user_gives_none(clock: Clock) -> None:
    """limit/remaining/reset for requests and tokens become paced buckets at the server's rates."""
    limiter = RateLimiter()
    assert limiter.tokens is None and limiter.requests is None
    limiter.observe(
        openai_headers(150_000, 149_000, "400ms") | openai_headers(3000, 2999, "20ms", "requests")
    )
    assert limiter.tokens is not None and limiter.requests is not None
    assert limiter.tokens.rate == 2500 and limiter.tokens.capacity == 1250 and limiter.tokens.level == 1250
    assert limiter.requests.rate == 50 and limiter.requests.capacity == 25
    assert limiter.server_capacity["tokens"] == pytest.approx(150_000)  # a minute's window
    assert limiter.paced_tokens() == 625
    assert limiter.learned == {"tokens": 150_000, "requests": 3000}


def test_a_share_of_the_reported_limits_for_one_of_several_processes(clock: Clock) -> None:
    """share=1/2 (one of two Dask workers) builds buckets at half the rate and half what is left."""
    limiter = RateLimiter(share=0.5)
    limiter.observe(openai_headers(150_000, 149_000, "400ms"))
    assert limiter.tokens is not None and limiter.tokens.rate == 1250
    assert limiter.learned == {"tokens": 75_000}
    with pytest.raises(ValueError, match="share"):
        RateLimiter(share=0)


def test_a_server_window_shorter_than_the_burst_shrinks_it(clock: Clock) -> None:
    """A server holding half a second (remaining + reset x rate = 1250) gets a smaller burst, kept in hand."""
    limiter = RateLimiter()
    limiter.observe(openai_headers(150_000, 250, "400ms"))
    assert limiter.tokens is not None
    assert limiter.server_capacity["tokens"] == pytest.approx(1250)
    assert limiter.tokens.capacity == pytest.approx(1000)
    assert limiter.tokens.level <= 0, "what the server has left, less the jitter margin"


def test_nothing_left_is_a_debt_paid_at_the_rate_not_a_minute_long_pause(clock: Clock) -> None:
    """remaining 0 with a 1-minute window means one refill away, not a wait for the whole reset."""
    limiter = RateLimiter()
    limiter.observe(openai_headers(150_000, 100_000, "20s"))  # the server holds a minute: 150,000
    assert limiter.tokens is not None
    limiter.observe(openai_headers(150_000, 0, "1m0s"))
    assert limiter.tokens.wait_for(625) == pytest.approx(0.25)
    # a server whose window is unknown and which reports a 24.4 s debt: wait it out
    debt = RateLimiter()
    debt.observe(openai_headers(150_000, 0, "24.4s"))
    assert debt.tokens is not None and debt.tokens.wait_for(625) > 24


def test_remaining_lowers_the_bucket_only_below_what_it_could_have_refilled(clock: Clock) -> None:
    """A remaining count below the client's own level lowers it, allowing for the refill since the request left."""
    limiter = RateLimiter(100, 60_000)  # 1000 tokens a second, holds 500
    limiter.observe({"x-ratelimit-remaining-tokens": "100", "x-ratelimit-remaining-requests": "0"})
    assert limiter.tokens is not None and limiter.requests is not None
    assert limiter.tokens.level == 100 and limiter.requests.level == 0
    clock.now += 0.05
    limiter.observe({"x-ratelimit-remaining-tokens": "100"}, age=0.3)  # could be 400 by now
    assert limiter.tokens.level == pytest.approx(150)


def test_a_server_limit_below_the_users_wins(clock: Clock) -> None:
    """tokens_per_minute above the account's limit is paced at the server's limit."""
    limiter = RateLimiter(None, 300_000)
    limiter.observe(openai_headers(150_000, 149_000, "400ms"))
    assert limiter.tokens is not None and limiter.tokens.rate == 2500


def test_a_429_halves_the_burst_never_the_rate(clock: Clock) -> None:
    """After a 429 the buckets allow half the burst (down to one request's worth) at the same rate."""
    limiter = RateLimiter(3000, 150_000)
    assert limiter.tokens is not None and limiter.requests is not None
    limiter.refused()
    assert limiter.tokens.capacity == 625 and limiter.requests.capacity == 12.5
    assert limiter.tokens.level <= 0
    limiter.refused()
    assert limiter.tokens.capacity == 625, "never below one request's worth"
    assert limiter.tokens.rate == 2500 and limiter.requests.rate == 50


def test_the_first_request_probes_while_the_others_wait() -> None:
    """Without a token budget the first caller gets a probe's size; the others wait for its answer's headers."""

    async def main() -> tuple[int | None, int | None]:
        limiter = RateLimiter()
        assert await limiter.request_tokens() == PROBE_TOKENS
        waiting = asyncio.ensure_future(limiter.request_tokens())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        limiter.observe(openai_headers(150_000, 149_000, "400ms"))
        learned = await asyncio.wait_for(waiting, 1)
        silent = RateLimiter()
        await silent.request_tokens()
        silent.observe({})  # a server that sends no limits: no cap
        return learned, await silent.request_tokens()

    assert asyncio.run(main()) == (625, None)


def test_a_probe_with_no_answer_stops_holding_the_others_back(clock: Clock) -> None:
    """A probe lost on the wire: after a few seconds the next caller probes instead of waiting forever."""

    async def main() -> int | None:
        limiter = RateLimiter()
        await limiter.request_tokens()
        clock.now += 6
        return await asyncio.wait_for(limiter.request_tokens(), 1)

    assert asyncio.run(main()) == PROBE_TOKENS


# ---------------------------------------------------------- the fake server's limiter


def post(client: httpx.Client, srv: FakeServer, text: str) -> httpx.Response:
    return client.post(f"{srv.url}/embeddings", json={"model": "text-embedding-3-small", "input": [text]})


def test_fake_server_refills_buckets_over_its_window_and_says_so() -> None:
    """A 1 s window holds a second of the rate; 429 with retry-after when short; OpenAI's headers on every answer."""
    assert (duration(360), duration(90), duration(1.5), duration(0.02)) == ("6m0s", "1m30s", "1.5s", "20ms")
    text = texts_of(1, 60)[0]
    with FakeServer(dim=DIM, rate_limit=RateLimit(600, 6000, window_s=1)) as srv, httpx.Client() as client:
        ok = post(client, srv, text)
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit-tokens"] == "6000"
        assert ok.headers["x-ratelimit-limit-requests"] == "600"
        assert int(ok.headers["x-ratelimit-remaining-tokens"]) in (40, 41)
        assert ok.headers["x-ratelimit-remaining-requests"] == "9"
        assert 0.55 <= parse_duration(ok.headers["x-ratelimit-reset-tokens"]) <= 0.6
        refused = post(client, srv, text)  # 60 wanted, about 40 there: 0.2 s short
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "tokens"
        assert "Please try again in" in error["message"] and "(TPM): Limit 6000" in error["message"]
        assert 0 < int(refused.headers["retry-after-ms"]) <= 210
        assert refused.headers["retry-after"] == "1"
        assert int(refused.headers["x-ratelimit-remaining-tokens"]) >= 40, "a refusal takes nothing"
        assert [r.status for r in srv.requests] == [200, 429]


def test_fake_server_admits_a_request_larger_than_its_bucket_only_when_full() -> None:
    """150 tokens against a 100-token bucket: refused until it is full, then admitted into debt."""
    text = texts_of(1, 150)[0]
    with FakeServer(dim=DIM, rate_limit=RateLimit(None, 6000, window_s=1)) as srv, httpx.Client() as client:
        assert post(client, srv, texts_of(1, 10)[0]).status_code == 200
        refused = post(client, srv, text)
        assert refused.status_code == 429 and "x-ratelimit-limit-requests" not in refused.headers
        time.sleep(int(refused.headers["retry-after-ms"]) / 1000)
        admitted = post(client, srv, text)
        assert admitted.status_code == 200
        assert admitted.headers["x-ratelimit-remaining-tokens"] == "0"
        assert parse_duration(admitted.headers["x-ratelimit-reset-tokens"]) >= 1.45  # 50 of debt, then full
        assert post(client, srv, "one").status_code == 429


def test_fake_server_request_bucket_and_long_windows() -> None:
    """60 RPM over 10 s takes 10 requests at once and refuses the 11th; a 60 s window holds a minute."""
    with FakeServer(dim=DIM, rate_limit=RateLimit(60, None, window_s=10)) as srv, httpx.Client() as client:
        statuses = [post(client, srv, f"r {i}").status_code for i in range(11)]
        assert statuses == [200] * 10 + [429]
        assert srv.requests[-1].status == 429
    with FakeServer(dim=DIM, rate_limit=RateLimit(None, 6000, window_s=60)) as srv, httpx.Client() as client:
        ok = post(client, srv, texts_of(1, 60)[0])
        assert int(ok.headers["x-ratelimit-remaining-tokens"]) == 5940
        assert parse_duration(ok.headers["x-ratelimit-reset-tokens"]) == pytest.approx(0.6, abs=0.01)


# --------------------------------------------------------- limits measured at the server


ARRIVAL_JITTER_S = 0.25
"""Lateness an arrival stamp may carry: the server runs in the test's process (one GIL) and
stamps a request once its body is read; on a loaded 2-core CI machine the first requests of a
job (new connections) were stamped ~0.15 s late, bunching them with the next ones. Without
pacing every request of these jobs arrives within a few milliseconds, far above the bound."""


def cumulative_ok(points: list[tuple[float, int]], budget: float, per_second: float, slack: float) -> None:
    """At every arrival, what arrived so far is within the budget plus its refill since the first."""
    t0 = points[0][0]
    total = 0
    for t, amount in points:
        total += amount
        allowed = budget + per_second * (t - t0 + slack)
        assert total <= allowed, f"{total} arrived by t+{t - t0:.2f}s, more than {allowed:.0f}"


def test_tokens_per_minute_is_paced_at_the_server(config: EmbedConfig) -> None:
    """tokens_per_minute=60,000: never more than half a second's tokens ahead of the rate, requests of a quarter second."""
    texts = texts_of(60, 50)  # 3000 tokens: 3 s of budget, never a burst of it
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url),
            tokens_per_minute=60_000,
            max_input_tokens=512,
            concurrency=4,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    points = [(t, rec.total_tokens) for t, rec in got]
    assert sum(p[1] for p in points) == 3000
    assert max(p[1] for p in points) <= 250, "one request holds at most a quarter second's tokens"
    cumulative_ok(points, 500, 1000, slack=ARRIVAL_JITTER_S)
    assert got[-1][0] - got[0][0] >= (3000 - 500 - 250) / 1000 * 0.9, "the budget made the job wait"
    assert out.attrs["embedframe"]["tokens_sent"] == 3000


def test_requests_per_minute_is_paced_at_the_server(config: EmbedConfig) -> None:
    """requests_per_minute=600: five at once at most, then ten a second."""
    texts = [f"rpm text {i}" for i in range(30)]
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url),
            requests_per_minute=600,
            tokens_per_minute=60_000,
            max_inputs_per_request=1,
            concurrency=8,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    assert len(got) == 30
    cumulative_ok([(t, 1) for t, _ in got], 5, 10, slack=ARRIVAL_JITTER_S)
    assert got[-1][0] - got[0][0] >= (30 - 5) / 10 * 0.9


def test_a_budget_counted_in_bytes_runs_at_the_pace_of_the_tokens_the_server_counted(
    config: EmbedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """A model whose tokenizer is unknown is counted in UTF-8 bytes (~5x its tokens here); what
    the server's usage did not count is given back, so the job keeps the budget's real pace."""
    texts = texts_of(60, 50)  # 3000 tokens as the server counts them (cl100k)
    nbytes = sum(len(t.encode()) + 1 for t in texts)
    assert nbytes > 4 * 3000
    with HookedServer(dim=DIM) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url, model="acme-embedder-v1"),
            tokens_per_minute=60_000,
            max_input_tokens=512,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    assert "counting UTF-8 bytes" in caplog.text
    points = [(t, rec.total_tokens) for t, rec in got]
    assert sum(n for _, n in points) == 3000
    cumulative_ok(points, 500, 1000, slack=ARRIVAL_JITTER_S)  # the real tokens keep within the budget
    span = got[-1][0] - got[0][0]
    assert span >= (3000 - 500 - 250) / 1000 * 0.9, "still paced"
    assert span < (nbytes - 500) / 1000 / 2, "paced by the tokens counted, not by the bytes"


def test_tokens_given_back_never_exceed_what_was_taken_or_an_unbelievable_usage() -> None:
    """used(): the difference is given back for a plausible usage only, and a bucket never holds more than its capacity."""
    limiter = RateLimiter(None, 60_000)
    bucket = limiter.tokens
    assert bucket is not None
    bucket.reserve(500)  # empty
    limiter.used(400, 100)
    assert 299 <= bucket.level <= 310
    for taken, counted in ((400, 0), (400, 49), (400, None), (400, 400), (400, 900)):
        before = bucket.level
        limiter.used(taken, counted)
        assert bucket.level - before < 5  # nothing given back (only the refill)
    limiter.used(10_000, 9_000)
    assert bucket.level <= bucket.capacity


def test_a_job_learns_its_budget_from_the_headers(config: EmbedConfig) -> None:
    """No client limits, a server enforcing 60,000 TPM over 1 s: a small probe alone, then paced requests, no 429."""
    texts = texts_of(80, 50)  # 4000 tokens: 4 s at the server's rate
    limit = RateLimit(3000, 60_000, window_s=1)
    with HookedServer(dim=DIM, rate_limit=limit) as srv:
        out = embedframe.embed(texts, config=config.replace(base_url=srv.url), max_input_tokens=512)
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    _, probe = got[0]
    assert probe.total_tokens <= PROBE_TOKENS and probe.status == 200
    assert srv.number(probe) == 1
    assert max(rec.total_tokens for _, rec in got[1:]) <= 250
    assert [rec.status for _, rec in got].count(429) == 0
    assert out.attrs["embedframe"]["rate_limited"] == 0
    # counted exactly once the budget is known, not cut and charged by byte lengths
    assert len(got) <= 1 + 3000 // 250 + 2
    assert out.attrs["embedframe"]["tokens_sent"] == 4000
    assert got[-1][0] - got[0][0] >= (4000 - 1000) / 1000 * 0.9, "paced at the server's rate"


def test_a_429_costs_a_pause_not_the_rate(config: EmbedConfig) -> None:
    """A server window shorter than the client's burst gets a 429 or two; the rest of the job keeps the full rate."""
    texts = texts_of(125, 24)  # 3000 tokens
    limit = RateLimit(None, 60_000, window_s=0.3)  # holds 300 tokens: less than the client's 500
    with HookedServer(dim=DIM, rate_limit=limit) as srv:
        out = embedframe.embed(
            texts,
            config=config.replace(base_url=srv.url),
            tokens_per_minute=60_000,
            max_input_tokens=512,
            concurrency=4,
        )
        got = arrivals(srv)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    refused = [t for t, rec in got if rec.status == 429]
    assert 1 <= len(refused) <= 3 and out.attrs["embedframe"]["rate_limited"] == len(refused)
    after = [(t, rec.total_tokens) for t, rec in got if t > refused[-1] and rec.status == 200]
    span = after[-1][0] - refused[-1]
    assert sum(n for _, n in after) / span >= 1000 * 0.75, "the rate after the 429s is the budget's"


# ------------------------------------------------------------------ the server's signals


class _NothingLeft(Handler):
    """Says 'no tokens left, reset in 1s' (and no limit) on the answer to the job's first request
    (its probe, which the other workers wait for)."""

    def extra_headers(self, status: int) -> list[tuple[str, str]]:
        if self.number == 1:
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
    first_wave = [t for t, rec in got if srv.number(rec) == 1]
    later = [t for t, rec in got if srv.number(rec) > 1]
    assert len(first_wave) == 1 and len(later) == 19
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
            tokens_per_minute=60_000,
            max_input_tokens=512,
            max_inputs_per_request=2,
        )
        got = arrivals(srv)
    points = [(t, rec.total_tokens) for t, rec in got]
    assert sum(p[1] for p in points) == 3300
    cumulative_ok(points, 500, 1000, slack=ARRIVAL_JITTER_S)  # not a fresh burst per batch
    assert got[-1][0] - got[0][0] >= (3300 - 500 - 100) / 1000 * 0.9
