"""Client-side rate limits: request and token buckets, shared by every worker of a job.

Each request takes one request token and its token count (known before sending) from the
buckets, waiting until they hold enough. The server's ``x-ratelimit-*`` headers tighten
them as it reports what is left, so the job slows down before the server says 429; a
429 pauses every worker together (the shared :class:`Gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from .._core.retry import parse_duration

__all__ = ["Gate", "RateLimiter", "TokenBucket", "limits_for", "shared_limits"]


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
    """``per_minute`` units a minute, refilled continuously, holding at most a minute's worth."""

    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now)."""
        self._refill()
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` units are available, then take them (in arrival order)."""
        async with self._lock:
            while (delay := self.wait_for(amount)) > 0:
                await asyncio.sleep(delay)
            self.level -= min(amount, self.capacity)

    def drain_to(self, remaining: float) -> None:
        """The server says only ``remaining`` are left: never believe we have more."""
        self._refill()
        self.level = min(self.level, remaining)


class RateLimiter:
    """The job's request and token budgets (either may be ``None``: no client-side limit)."""

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.waited = 0.0

    async def acquire(self, tokens: int) -> None:
        """Wait for one request and ``tokens`` tokens of budget."""
        started = time.monotonic()
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(tokens)
        self.waited += time.monotonic() - started

    def observe(self, headers: Mapping[str, str]) -> float | None:
        """Read the server's ``x-ratelimit-*`` headers; the pause they call for, if any.

        When the server reports no requests or tokens left, the answer is the time until
        its reset, so every worker can wait it out together.
        """
        pause = None
        for kind, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            if remaining is None:
                continue
            if bucket is not None:
                bucket.drain_to(remaining)
            if remaining <= 0:
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}", "") or "")
                if reset is not None:
                    pause = max(pause or 0.0, reset)
        return pause


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


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
