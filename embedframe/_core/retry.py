"""When to retry a request and how long to wait (pure).

Retried: 408, 409, 429 (except ``insufficient_quota``), 5xx, timeouts, dropped
connections and responses that break the contract. Not retried: every other 4xx. The wait
is the server's ``retry-after-ms`` / ``retry-after`` / "try again in Ns" when it gives one,
else exponential backoff with jitter.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping

__all__ = ["backoff", "is_retryable_status", "server_wait"]

_TRY_AGAIN = re.compile(
    r"(?:try again|retry after)\s+(?:in\s+)?([0-9]+(?:\.[0-9]+)?)\s*(ms|s|sec|seconds?)?\b", re.I
)


def is_retryable_status(status: int, code: str | None = None, should_retry: str | None = None) -> bool:
    """Whether a response with this status (and error code) may succeed if sent again.

    ``should_retry`` is the server's ``x-should-retry`` header: ``true`` or ``false``
    overrides the status, as the openai SDK lets it.
    """
    verdict = (should_retry or "").strip().lower()
    if verdict in ("true", "false"):
        return verdict == "true"
    if status == 429:
        return code != "insufficient_quota"
    return status in (408, 409) or status >= 500


def server_wait(headers: Mapping[str, str], message: str = "", *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from its headers or its message; ``None`` if it did not say."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - (time.time() if now is None else now))
    match = _TRY_AGAIN.search(message)
    if match:
        value = float(match.group(1))
        return value / 1000 if (match.group(2) or "").lower() == "ms" else value
    return None


def backoff(attempt: int, *, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Wait before retry number ``attempt`` (0-based): ``initial * 2**attempt`` capped, with jitter.

    The jitter takes the wait uniformly from half to all of that, so workers that failed
    together do not come back together.
    """
    cap = float(min(maximum, initial * (2**attempt)))
    return cap / 2 + (rng or random).uniform(0, cap / 2)


def parse_duration(text: str) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` duration such as ``6m0s``, ``1.2s``, ``20ms``."""
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)", text.strip())
    if not parts or "".join(v + u for v, u in parts) != text.strip():
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(v) * scale[u] for v, u in parts)
