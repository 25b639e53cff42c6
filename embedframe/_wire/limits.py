"""Client-side rate limits: request and token buckets that pace a job smoothly.

Providers enforce per-minute limits over much shorter windows (Azure OpenAI over 1 or 10 s:
a 600 RPM deployment answers 429 to the 11th request in one second), so a bucket holding
a minute's budget and starting full bursts a minute's worth at once and is refused. Here
a bucket holds :data:`BURST_S` seconds of budget (less than the shortest window seen) and
starts at that; each request holds at most :data:`REQUEST_S` seconds' worth of tokens
(:func:`paced_request_tokens`, the one rule for it), so requests leave at the budget's
pace. A request larger than the bucket waits for a full bucket and leaves it in debt.

When the user sets no ``tokens_per_minute``, the budget is learned from the server's
``x-ratelimit-limit-*`` / ``-remaining-*`` / ``-reset-*`` headers: the job's first request
is small (:data:`PROBE_TOKENS`) and goes alone, and the buckets are built from its answer.
Every answer's ``remaining`` lowers a bucket that believes it has more (another client
may share the account); a 429 halves the burst a bucket allows, never its rate. A request
counted by an upper bound (UTF-8 bytes) gets back what the server's ``usage`` did not count.

Why not a library: the bucket must be one state for asyncio tasks and for threads (a Dask
worker keeps one across the partitions it runs, each on its own event loop), take amounts
larger than its capacity, and be re-synchronised from the server's headers. aiolimiter
(asyncio only; ``acquire`` rejects an amount over the capacity and warns when reused
across loops) and limits (window checks, no waiting take) do neither. Measured:
``benchmarks/bench_ratelimit.py`` (docs/rate-limits.md); the bucket that started full with
a minute's budget took 429 s for 239 s of budget and had 10% of its tokens refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from .._core.retry import parse_duration

__all__ = [
    "BURST_S",
    "PROBE_TOKENS",
    "REQUEST_S",
    "Gate",
    "RateLimiter",
    "TokenBucket",
    "limits_for",
    "paced_request_tokens",
    "shared_limits",
]

BURST_S = 0.5
"""Seconds of budget a bucket holds (and starts with): below the shortest window providers
enforce (1 s), so a full bucket sent at once is never refused."""
REQUEST_S = 0.25
"""Seconds of token budget one request holds at most (half a bucket), so requests are paced."""
PROBE_TOKENS = 1000
"""Tokens in a job's first request while the server's limits are not known yet."""
JITTER_S = 0.1
"""Refill kept in hand when a bucket is set from the server's headers (arrival jitter)."""
_PROBE_WAIT_S = 5.0
"""A probe with no answer after this long stops holding the other workers back."""
_POLL_S = 0.005


def paced_request_tokens(tokens_per_minute: float | None, requests_per_minute: float | None) -> int | None:
    """Most tokens one request should hold under a budget (``None``: no token budget).

    A quarter of a second's tokens, so requests are paced rather than bursts; but at least
    twice the average a request needs for the request budget not to bind first, and never
    more than a minute's tokens.
    """
    if not tokens_per_minute:
        return None
    cap = tokens_per_minute / 60 * REQUEST_S
    if requests_per_minute:
        cap = max(cap, 2 * tokens_per_minute / requests_per_minute)
    return max(1, int(min(cap, tokens_per_minute)))


class Gate:
    """A pause shared by all workers of a job: nobody sends before ``until``."""

    def __init__(self) -> None:
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while (delay := self.until - time.monotonic()) > 0:
            await asyncio.sleep(delay)


class TokenBucket:
    """``per_minute`` units a minute, refilled continuously, holding ``burst_s`` seconds' worth.

    One state for every taker, guarded by a thread lock: a take reserves its amount at once
    (in arrival order) and is told how long to wait, so asyncio tasks (:meth:`take`) and
    threads (:meth:`take_blocking`) share the same bucket and refill arithmetic. An amount
    over the capacity is granted from a full bucket and leaves it in debt.
    """

    def __init__(self, per_minute: float, *, burst_s: float = BURST_S, level: float | None = None) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute!r}")
        self._lock = threading.Lock()
        self.rate = per_minute / 60.0
        """Units a second."""
        self.capacity = max(1.0, self.rate * burst_s)
        self._level = self.capacity if level is None else min(level, self.capacity)
        self._stamp = time.monotonic()
        """When ``_level`` is true; later than now while takes wait for their turn."""

    @property
    def per_minute(self) -> float:
        return self.rate * 60.0

    def _advance(self, now: float) -> None:
        if now > self._stamp:
            self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
            self._stamp = now

    def _grant(self, amount: float, now: float, not_before: float) -> tuple[float, float]:
        """When ``amount`` can be taken (no sooner than ``not_before``), and the level then."""
        self._advance(now)
        at = max(self._stamp, not_before)
        level = min(self.capacity, self._level + (at - self._stamp) * self.rate)
        need = min(amount, self.capacity)
        if level < need:
            at += (need - level) / self.rate
            level = need
        return at, level

    @property
    def level(self) -> float:
        """Units in the bucket now; negative while in debt or while takes wait for their turn."""
        with self._lock:
            now = time.monotonic()
            self._advance(now)
            return self._level - (self._stamp - now) * self.rate

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` could be taken (0 if now); takes nothing."""
        with self._lock:
            now = time.monotonic()
            at, _ = self._grant(amount, now, now)
            return at - now

    def reserve(self, amount: float, not_before: float = 0.0) -> float:
        """Take ``amount`` in turn; the monotonic time at which it may be used."""
        with self._lock:
            now = time.monotonic()
            if amount <= 0:
                return max(now, not_before)
            at, level = self._grant(amount, now, not_before)
            self._level, self._stamp = level - amount, at
            return at

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` units are ours (takes are served in arrival order)."""
        await _sleep_until(self.reserve(amount))

    def take_blocking(self, amount: float) -> None:
        """:meth:`take` for a thread: blocks it until ``amount`` units are its own."""
        _block_until(self.reserve(amount))

    def drain_to(self, remaining: float) -> None:
        """The server says only ``remaining`` are left: never believe we have more."""
        with self._lock:
            now = time.monotonic()
            self._advance(now)
            excess = self._level - (self._stamp - now) * self.rate - remaining
            if excess > 0:
                self._level -= excess

    def give_back(self, amount: float) -> None:
        """Return ``amount`` taken but not used (the bucket never holds more than its capacity)."""
        if amount <= 0:
            return
        with self._lock:
            self._advance(time.monotonic())
            self._level = min(self.capacity, self._level + amount)

    def resize(self, per_minute: float | None = None, capacity: float | None = None) -> None:
        """A new rate and/or capacity (the level never more than the capacity)."""
        with self._lock:
            self._advance(time.monotonic())
            if per_minute is not None and per_minute > 0:
                self.rate = per_minute / 60.0
            if capacity is not None:
                self.capacity = max(1.0, capacity)
            self._level = min(self._level, self.capacity)


class RateLimiter:
    """A job's request and token budgets, given or learned from the server's headers.

    ``requests_per_minute`` / ``tokens_per_minute`` are the user's (either may be ``None``);
    a budget the user did not set is built from the server's ``x-ratelimit-*`` headers when
    it sends them. Used from asyncio (:meth:`acquire`) and from threads
    (:meth:`acquire_blocking`) alike. ``share`` is the part of what the server reports that
    this limiter may use: ``1/N`` for each of N processes sending to one account (Dask).
    """

    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        *,
        share: float = 1.0,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        self.share = share
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self._given = {"requests": requests_per_minute, "tokens": tokens_per_minute}
        self.learned: dict[str, float] = {}
        """Per-minute limits the server reported."""
        self.server_capacity: dict[str, float] = {}
        """What the server's own buckets hold, as its headers show (``remaining`` plus the
        refill until ``reset``)."""
        self._lock = threading.Lock()
        self._known = tokens_per_minute is not None
        self._probe_since: float | None = None
        self.waited = 0.0
        self.refusals = 0

    def _bucket(self, kind: str) -> TokenBucket | None:
        return self.requests if kind == "requests" else self.tokens

    def paced_tokens(self) -> int | None:
        """Most tokens a request should hold under the budget as known now."""
        tokens = self.tokens.per_minute if self.tokens is not None else None
        requests = self.requests.per_minute if self.requests is not None else None
        return paced_request_tokens(tokens, requests)

    async def request_tokens(self) -> int | None:
        """Most tokens the next request should hold (``None``: no cap of the budget's own).

        While the token budget is neither given nor learned, the first caller gets
        :data:`PROBE_TOKENS` and sends alone; the others wait for its answer's headers.
        """
        while True:
            with self._lock:
                now = time.monotonic()
                if self._known:
                    return self.paced_tokens()
                if self._probe_since is None or now - self._probe_since > _PROBE_WAIT_S:
                    self._probe_since = now
                    return PROBE_TOKENS
            await asyncio.sleep(_POLL_S)

    def _reserve(self, tokens: int, requests: int) -> float:
        at = 0.0
        if self.requests is not None:
            at = self.requests.reserve(requests)
        if self.tokens is not None:
            at = self.tokens.reserve(tokens, not_before=at)
        return at

    async def acquire(self, tokens: int, requests: int = 1) -> None:
        """Wait for ``requests`` requests and ``tokens`` tokens of budget."""
        started = time.monotonic()
        await _sleep_until(self._reserve(tokens, requests))
        self.waited += time.monotonic() - started

    def acquire_blocking(self, tokens: int, requests: int = 1) -> None:
        """:meth:`acquire` for a thread (a Dask worker's task): blocks until the budget is there."""
        started = time.monotonic()
        _block_until(self._reserve(tokens, requests))
        self.waited += time.monotonic() - started

    def observe(self, headers: Mapping[str, str], *, age: float = 0.0) -> float | None:
        """Read an answer's ``x-ratelimit-*`` headers; the pause they call for, if any.

        ``age`` is how long ago the request was sent: the server's ``remaining`` may be that
        old, so a bucket is lowered only below what it could have refilled to since. A kind
        with a limit header gets a bucket (the user's, else one learned from it); without
        one, nothing left plus a reset time is a pause for every worker.
        """
        pause = None
        for kind in ("requests", "tokens"):
            limit = _scaled(_number(headers.get(f"x-ratelimit-limit-{kind}")), self.share)
            remaining = _scaled(_number(headers.get(f"x-ratelimit-remaining-{kind}")), self.share)
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}", "") or "")
            if limit is not None and limit > 0 and self._learn(kind, limit, remaining, reset):
                continue
            bucket = self._bucket(kind)
            if remaining is None:
                continue
            if bucket is not None:
                bucket.drain_to(self._left(kind, bucket, remaining, reset) + age * bucket.rate)
            elif remaining <= 0 and reset is not None:
                pause = max(pause or 0.0, reset)
        with self._lock:
            self._known = True
        return pause

    def _left(self, kind: str, bucket: TokenBucket, remaining: float, reset: float | None) -> float:
        """What the server has left: ``remaining``, or the debt its reset time shows when it
        says 0 (its bucket refills for ``reset`` seconds before it is full)."""
        if remaining > 0 or reset is None:
            return remaining
        return self.server_capacity.get(kind, bucket.capacity) - reset * bucket.rate

    def _learn(self, kind: str, limit: float, remaining: float | None, reset: float | None) -> bool:
        """Fit the ``kind`` bucket to the server's limit; whether it was made just now."""
        self.learned[kind] = limit
        if remaining is not None and remaining > 0 and reset is not None:
            self.server_capacity[kind] = remaining + reset * limit / 60
        bucket = self._bucket(kind)
        given = self._given[kind]
        rate = limit if given is None else min(given, limit)
        capacity = rate / 60 * BURST_S
        if kind in self.server_capacity:  # a server window shorter than ours: stay within it
            capacity = min(capacity, 0.8 * self.server_capacity[kind])
        if bucket is not None:
            if abs(bucket.per_minute - rate) > 1e-9 * rate:  # the limit changed
                bucket.resize(rate, capacity)
            elif bucket.capacity > max(1.0, capacity):
                bucket.resize(capacity=capacity)
            return False
        bucket = TokenBucket(rate, burst_s=BURST_S)
        bucket.resize(capacity=capacity)
        if remaining is not None:
            left = self._left(kind, bucket, remaining, reset) - JITTER_S * bucket.rate
            bucket.drain_to(left)
        with self._lock:
            if kind == "requests":
                self.requests = bucket
            else:
                self.tokens = bucket
        return True

    def used(self, taken: int, counted: int | None) -> None:
        """A request took ``taken`` tokens of budget and the server counted ``counted``
        (its ``usage``): give back the difference when ``taken`` was an upper bound (UTF-8
        bytes where the model's tokenizer is unknown: ~4x the tokens of English text), so the
        job runs at the budget's real pace. A count below an eighth of the bound is not
        believed (servers that report 0, or their own idea of usage)."""
        if self.tokens is None or counted is None or not taken // 8 <= counted < taken:
            return
        self.tokens.give_back(taken - counted)

    def refused(self) -> None:
        """The server said 429: its window is shorter than the burst we allowed. Halve the
        burst (down to one request's worth); the rate stays, so the job keeps its pace."""
        self.refusals += 1
        paced = self.paced_tokens()
        for bucket, floor in ((self.requests, 1.0), (self.tokens, float(paced or 1))):
            if bucket is not None:
                bucket.resize(capacity=max(floor, bucket.capacity / 2))
                bucket.drain_to(0.0)


async def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _block_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@dataclass
class _Shared:
    limits: dict[tuple[object, ...], tuple[RateLimiter, Gate]] = field(default_factory=dict)
    gate: Gate | None = None
    limiter: RateLimiter | None = None


_scope: ContextVar[_Shared | None] = ContextVar("embedframe_shared_limits", default=None)


@contextlib.contextmanager
def shared_limits(*, gate: Gate | None = None, limiter: RateLimiter | None = None) -> Iterator[None]:
    """Within this block, jobs to the same server share their rate budget and 429 pause.

    A job made of several jobs (``embed_file``: one per batch of rows) runs in such a
    block, so its budget is the configured one overall, not a fresh full bucket per part.
    ``gate`` and ``limiter``, when given, are the pause and budget of every job in the
    block, whatever its server: a Dask worker passes its share of the cluster's budget
    (kept across the partitions it runs) and a pause all workers see.
    """
    token = _scope.set(_Shared(gate=gate, limiter=limiter)) if _scope.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _scope.reset(token)


def limits_for(
    endpoint: str, model: str | None, requests_per_minute: int | None, tokens_per_minute: int | None
) -> tuple[RateLimiter, Gate]:
    """The limiter and pause for a job: shared within :func:`shared_limits`, else the job's own."""
    shared = _scope.get()
    if shared is None:
        return RateLimiter(requests_per_minute, tokens_per_minute), Gate()
    key = (endpoint, model, requests_per_minute, tokens_per_minute)
    found = shared.limits.get(key)
    if found is None:
        found = shared.limits[key] = (
            shared.limiter or RateLimiter(requests_per_minute, tokens_per_minute),
            shared.gate or Gate(),
        )
    return found


def _scaled(value: float | None, share: float) -> float | None:
    return None if value is None else value * share


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
