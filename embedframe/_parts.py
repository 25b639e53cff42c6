"""The parts of a resolved :class:`~embedframe.EmbedConfig` that each stage of a job receives.

Users type flat keyword options; :class:`EmbedConfig` validates them once and hands each
stage only what it uses: the planner its :class:`TextRules`, the sender its
:class:`RetryPolicy`, the job its :class:`CacheLocation` (the per-request sizes are
:class:`~embedframe._job.engine.RequestLimits`, which also depend on the pacing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._core.retry import backoff

__all__ = ["CacheLocation", "Pacing", "RetryPolicy", "TextRules"]


@dataclass(frozen=True)
class TextRules:
    """How texts become inputs: the window, chunking and what is done with empty and long texts."""

    limit: int
    """Most tokens of text in one input."""
    window: int
    """Tokens per chunk."""
    overlap: int
    long_text: str
    empty: str


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take, and how it is retried."""

    timeout: float
    max_retries: int
    wait_initial: float
    wait_max: float
    max_retry_wait: float
    """Longest single wait a server may ask for before the job stops."""

    def backoff(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (doubling from ``wait_initial``, with jitter)."""
        return backoff(attempt, initial=self.wait_initial, maximum=self.wait_max)


@dataclass(frozen=True)
class Pacing:
    """How fast a job may send: requests in flight and the client-side budgets."""

    concurrency: int
    requests_per_minute: int | None
    tokens_per_minute: int | None


@dataclass(frozen=True)
class CacheLocation:
    """Where the vector cache lives: a local directory, an fsspec URL, or nowhere."""

    directory: Path | None
    url: str | None
    storage_options: Mapping[str, Any] | None

    @property
    def key(self) -> str | None:
        """One name per location (the URL with its options, or the resolved directory);
        ``None`` when caching is off."""
        if self.url is not None:
            return "\0".join(
                (self.url, json.dumps(dict(self.storage_options or {}), sort_keys=True, default=repr))
            )
        if self.directory is not None:
            return str(self.directory.resolve())
        return None
