"""Configuration: every option, validated and normalised once, and the environment read in one place.

``EmbedConfig`` is immutable and reusable: make one in a notebook and pass it to every call
(``df.embed("text", config=cfg)``); keyword options given to a call override it for that
call only (``cfg.replace(...)``).

Longer than most modules on purpose: each of the ~30 options is declared here once, with
its default, its documentation (shown by ``help()`` and the API reference, see
:mod:`embedframe.options`) and its validation, so the list cannot drift.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from ._core.tokenizer import LazyTokenizer, Tokenizer
from ._parts import CacheLocation, Pacing, RetryPolicy, TextRules
from ._storage.cachestore import check_url, is_remote, is_url, local_path, public_location
from ._wire.urls import check_key_transport, normalise_url
from ._wire.urls import public_host as host_of
from .errors import ConfigError
from .models import UNKNOWN_WINDOW, ModelInfo, model_info

__all__ = ["EmbedConfig", "resolve_config"]

LongTextPolicy = Literal["chunk", "truncate", "error"]
EmptyPolicy = Literal["null", "error"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"

_ENV = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "organization": "OPENAI_ORG_ID",
    "project": "OPENAI_PROJECT_ID",
}


CACHE_DIR_ENV = "EMBEDFRAME_CACHE_DIR"
"""Where the vector cache lives when ``cache=True`` (default: the user's cache directory)."""
SERVE_API_KEY_ENV = "EMBEDFRAME_SERVE_API_KEY"
"""The key ``embedframe serve`` requires when ``--api-key`` is not given."""


def environment(var: str) -> str | None:
    """The value of ``var``, stripped, or ``None`` when unset or blank: the one place
    embedframe reads its settings from the environment."""
    value = os.environ.get(var, "").strip()
    return value or None


def _from_environment() -> dict[str, str]:
    """The settings the openai SDK reads from the environment."""
    return {name: value for name, var in _ENV.items() if (value := environment(var)) is not None}


def default_cache() -> Path | str:
    """Where ``cache=True`` keeps the vector cache: ``$EMBEDFRAME_CACHE_DIR`` if set (a
    directory, a ``file://`` URL, or an fsspec URL such as ``s3://bucket/vectors``, returned
    as the URL), else the user's cache dir + ``vectors``."""
    override = environment(CACHE_DIR_ENV)
    if override is not None:
        if is_remote(override):
            return override
        return local_path(override, what=f"${CACHE_DIR_ENV}")
    import platformdirs

    return Path(platformdirs.user_cache_dir("embedframe")) / "vectors"


def default_cache_dir() -> Path:
    """The local directory ``cache=True`` uses (see :func:`default_cache`); a
    :class:`ConfigError` where ``$EMBEDFRAME_CACHE_DIR`` is an object-store URL."""
    where = default_cache()
    if isinstance(where, str):
        raise ConfigError(
            f"${CACHE_DIR_ENV} is the URL {public_location(where)!r}, not a local directory; "
            "unset it, or pass cache='a/local/folder', where a local directory is needed"
        )
    return where


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as ``huggingface_hub`` finds it: ``$HF_HUB_CACHE``,
    else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub``."""
    explicit = environment("HF_HUB_CACHE") or environment("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = environment("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = environment("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def uses_environment_proxy(url: str) -> bool:
    """Whether ``HTTP(S)_PROXY`` / ``ALL_PROXY`` (and not ``NO_PROXY``) route ``url`` through
    a proxy, as httpx and the openai SDK read them; the only place we look at them."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009  (not in typeshed)
    return not bypass(parts.hostname or "", proxies)


@dataclass(frozen=True, kw_only=True, repr=False)
class EmbedConfig:
    """All options of an embedding job.

    Unset ``api_key``, ``base_url``, ``organization`` and ``project`` are taken from
    ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``
    when the config is made.
    """

    api_key: str | None = None
    """The API key (sent as a bearer token, or Azure's ``api-key`` header); default
    ``$OPENAI_API_KEY``. Never shown in messages, logs, reprs, caches or Parquet files."""
    base_url: str | None = None
    """Root of the API, e.g. ``https://api.openai.com/v1``; requests go to ``{base_url}/embeddings``."""
    model: str | None = None
    """Model name; default ``text-embedding-3-small`` on a server, the local model without one."""
    dimensions: int | None = None
    """Shorter vectors, for models that support it (text-embedding-3-*, the local model);
    default: the model's full size."""
    user: str | None = None
    """An end-user id passed on to the server (OpenAI's ``user``)."""
    organization: str | None = None
    """``OpenAI-Organization`` header; default ``$OPENAI_ORG_ID``."""
    project: str | None = None
    """``OpenAI-Project`` header; default ``$OPENAI_PROJECT_ID``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra HTTP headers sent with every request."""
    api_version: str | None = None
    """Azure OpenAI's ``api-version`` query parameter (``base_url`` is then the deployment URL,
    ``https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT``)."""

    encoding: str | None = None
    """tiktoken encoding; default: the model's (``cl100k_base`` for OpenAI's models)."""
    tokenizer: str | os.PathLike[str] | Tokenizer | None = None
    """The model's own tokenizer: a ``tokenizer.json`` or the folder holding it, a Hugging
    Face repository id found in the local Hugging Face cache (never downloaded), a tiktoken
    encoding, ``"server"`` (the server's ``/tokenize``) or ``"bytes"`` (an upper bound);
    default: found for the model (see the Models page)."""
    max_input_tokens: int | None = None
    """Most tokens of text in one input; default: the server's reported window, else the
    model table's (8191 for OpenAI's models)."""
    long_text: LongTextPolicy = "chunk"
    """What to do with a text over ``max_input_tokens``: ``chunk``, ``truncate`` or ``error``."""
    chunk_tokens: int | None = None
    """Tokens per chunk; default ``max_input_tokens``."""
    chunk_overlap: int = 0
    """Tokens shared by consecutive chunks."""
    empty: EmptyPolicy = "null"
    """Empty or whitespace-only strings: a null vector (``null``) or an error (``error``)."""

    max_inputs_per_request: int = 2048
    """Most inputs in one request (OpenAI allows 2048; a server that takes fewer is learned
    from its refusal). Left unset, a request also asks for at most 4 MiB of vectors (682
    inputs at 1536-d) when the vector size is known beforehand."""
    max_tokens_per_request: int = 300_000
    """Most tokens summed over one request (OpenAI allows 300,000)."""
    concurrency: int = 8
    """Requests in flight at once."""
    requests_per_minute: int | None = None
    """Client-side request budget, paced smoothly (a bucket holding half a second of it);
    ``None``: the server's, learned from its ``x-ratelimit-*`` headers when it sends them."""
    tokens_per_minute: int | None = None
    """Client-side token budget, paced smoothly: a request holds at most a quarter second's
    worth; ``None``: the server's, learned from its ``x-ratelimit-*`` headers."""
    timeout: float = 60.0
    """Seconds allowed for one request."""
    max_retries: int = 6
    """Retries of one request after a 429, a 5xx, a timeout or a dropped connection."""
    wait_initial: float = 0.5
    """First backoff wait, in seconds; it doubles with each retry."""
    wait_max: float = 30.0
    """Longest backoff wait, in seconds."""
    max_retry_wait: float = 120.0
    """Longest single wait a server's ``Retry-After`` may ask for before the job stops."""
    progress: bool | None = None
    """Progress bar: ``True`` always, ``False`` never, ``None`` only for jobs that take a while."""
    cache: bool | str | os.PathLike[str] = True
    """Vector cache: ``True`` for the default directory, a directory, an fsspec URL
    (``s3://bucket/cache``, ``gs://...``), or ``False`` for none."""
    cache_storage_options: Mapping[str, Any] | None = None
    """fsspec options for a URL ``cache`` (``endpoint_url``, ``key``, ``secret``, ...); never shown."""

    def __post_init__(self) -> None:
        env = _from_environment()
        for name in _ENV:
            if getattr(self, name) is None and name in env:
                object.__setattr__(self, name, env[name])
        if self.base_url is not None:
            url, version = normalise_url(self.base_url)
            object.__setattr__(self, "base_url", url)
            if version is not None and self.api_version is None:
                object.__setattr__(self, "api_version", version)
        object.__setattr__(self, "headers", dict(self.headers))
        if isinstance(self.cache_storage_options, Mapping):
            object.__setattr__(self, "cache_storage_options", dict(self.cache_storage_options))
        self._validate()

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key" and value is not None:
                value = "***"
            if f.name == "base_url" and value is not None:
                value = self.public_endpoint.removesuffix("/embeddings")
            if f.name == "headers" and value:
                value = {k: "***" for k in value}
            if f.name == "cache" and isinstance(value, str):
                value = public_location(value)
            if f.name == "cache_storage_options" and value:
                value = {k: "***" for k in value}
            parts.append(f"{f.name}={value!r}")
        return f"EmbedConfig({', '.join(parts)})"

    def __new__(cls, **options: Any) -> Self:
        # Record which options the caller gave, so a default can tell "not set" from "set to
        # the default value" (the generated __init__ sees only the values).
        self = super().__new__(cls)
        object.__setattr__(self, "_set", frozenset(options))
        return self

    def is_set(self, name: str) -> bool:
        """Whether the user gave option ``name`` (rather than leaving it at its default)."""
        explicit: frozenset[str] = getattr(self, "_set", frozenset())
        return name in explicit

    def replace(self, **changes: Any) -> EmbedConfig:
        """A copy with ``changes`` applied (and recorded as set by the user), validated."""
        check_option_names(changes)
        new = dataclasses.replace(self, **changes)
        object.__setattr__(new, "_set", getattr(self, "_set", frozenset()) | frozenset(changes))
        return new

    def derive(self, *, validate: bool = True, **changes: Any) -> EmbedConfig:
        """A copy with values embedframe worked out itself (the backend's model, URL and
        window, a worker's share of the budget): not recorded as set by the user, and without
        reading the environment or normalising the URL again. ``validate=False`` for a step
        whose result a later ``derive`` validates (a job validates its options once at the
        boundary and once more with what its backend found)."""
        check_option_names(changes)
        new = copy.copy(self)
        for name, value in changes.items():
            object.__setattr__(new, name, value)
        if validate:
            new._validate()
        return new

    @property
    def model_info(self) -> ModelInfo:
        """The model table's entry for ``model``."""
        return model_info(self.model or DEFAULT_MODEL)

    @property
    def expected_dimensions(self) -> int | None:
        """The size the vectors should have, when known before any answer: ``dimensions``,
        else the model table's; the one place it is derived."""
        return self.dimensions or self.model_info.dimensions

    @property
    def public_endpoint(self) -> str:
        """The embeddings URL as it may be shown: no user, password or query string."""
        parts = urlsplit(self.endpoint)
        return urlunsplit((parts.scheme, host_of(self.endpoint), parts.path, "", ""))

    @property
    def public_host(self) -> str | None:
        """``host[:port]`` of the server as it may be shown, or ``None`` when none is named yet."""
        if self.base_url is None and self.api_key is None:
            return None
        return host_of(self.base_url or OPENAI_BASE_URL)

    @property
    def is_azure(self) -> bool:
        """Whether the server is Azure OpenAI (``api-key`` header, ``api-version`` query)."""
        host = urlsplit(self.base_url or "").hostname or ""
        return self.api_version is not None or host.endswith(
            (".openai.azure.com", ".cognitiveservices.azure.com")
        )

    @property
    def endpoint(self) -> str:
        """The URL of the embeddings route."""
        parts = urlsplit(self.base_url or OPENAI_BASE_URL)
        query = [q for q in (parts.query, self.api_version and f"api-version={self.api_version}") if q]
        return urlunsplit((parts.scheme, parts.netloc, f"{parts.path}/embeddings", "&".join(query), ""))

    @property
    def cache_dir(self) -> Path | None:
        """The local cache directory, or ``None`` when caching is off or the cache is a URL."""
        if self.cache is False or self.cache_url is not None:
            return None
        if self.cache is True:
            return default_cache_dir()
        if is_url(self.cache):
            return local_path(self.cache, what="cache").expanduser()
        return Path(self.cache).expanduser()

    @property
    def cache_url(self) -> str | None:
        """The cache's fsspec URL (not ``file://``), or ``None`` for a local cache or none;
        ``cache=True`` takes ``$EMBEDFRAME_CACHE_DIR``'s URL where it holds one."""
        if self.cache is True:
            where = default_cache()
            return where if isinstance(where, str) else None
        if isinstance(self.cache, str) and is_remote(self.cache):
            return self.cache.strip()
        return None

    @property
    def tokenizer_name(self) -> str:
        """What counts tokens, as caches and provenance record it: a tiktoken encoding, or a
        resolved tokenizer's name and file hash (``BAAI/bge-m3@sha256:...``)."""
        tok = self.tokenizer
        if tok is not None and not isinstance(tok, (str, os.PathLike)):
            sha = getattr(tok, "sha256", None)
            return f"{tok.name}@sha256:{sha}" if sha else tok.name
        if tok is not None:
            return os.fspath(tok)
        return self.encoding or self.model_info.tokenizer or "unknown"

    @property
    def tokenizer_key(self) -> str:
        """The tokenizer and window as the cache key holds them: a tiktoken encoding alone
        (OpenAI's windows are fixed, so keys made before windows were recorded stay valid),
        else the tokenizer's name and file hash with the window chunks were cut to."""
        if isinstance(self.tokenizer, LazyTokenizer) or (self.tokenizer is None and self.encoding):
            return self.tokenizer_name
        return f"{self.tokenizer_name} window={self.input_limit}"

    @property
    def tokenizer_sha256(self) -> str | None:
        """The SHA-256 of the resolved tokenizer's file, when it has one."""
        return getattr(self.tokenizer, "sha256", None)

    @property
    def window_known(self) -> bool:
        """Whether the model's window is known (given, discovered or in the table); when it
        is not, :data:`~embedframe.models.UNKNOWN_WINDOW` applies and longer texts are refused."""
        return self.max_input_tokens is not None or self.model_info.max_input_tokens is not None

    @property
    def input_limit(self) -> int:
        """Most tokens of text per input."""
        return self.max_input_tokens or self.model_info.max_input_tokens or UNKNOWN_WINDOW

    @property
    def window(self) -> int:
        """Tokens per chunk."""
        return self.chunk_tokens or self.input_limit

    @property
    def text(self) -> TextRules:
        """What the planner needs: the window, chunking and the empty and long-text rules."""
        return TextRules(self.input_limit, self.window, self.chunk_overlap, self.long_text, self.empty)

    @property
    def retry(self) -> RetryPolicy:
        """What the sender needs to time and retry one request."""
        return RetryPolicy(
            self.timeout, self.max_retries, self.wait_initial, self.wait_max, self.max_retry_wait
        )

    @property
    def pacing(self) -> Pacing:
        """How fast the job may send."""
        return Pacing(self.concurrency, self.requests_per_minute, self.tokens_per_minute)

    @property
    def storage(self) -> CacheLocation:
        """Where the vector cache lives (``cache``, resolved)."""
        return CacheLocation(self.cache_dir, self.cache_url, self.cache_storage_options)

    def _validate(self) -> None:
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise ConfigError(f"model must be a non-empty string, got {self.model!r}")
        for name in (
            "dimensions",
            "max_input_tokens",
            "chunk_tokens",
            "max_inputs_per_request",
            "max_tokens_per_request",
            "concurrency",
            "requests_per_minute",
            "tokens_per_minute",
        ):
            value = getattr(self, name)
            optional = {
                "dimensions",
                "max_input_tokens",
                "chunk_tokens",
                "requests_per_minute",
                "tokens_per_minute",
            }
            if value is None and name in optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ConfigError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        for name in ("timeout", "wait_initial", "wait_max", "max_retry_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.long_text not in ("chunk", "truncate", "error"):
            raise ConfigError(f"long_text must be 'chunk', 'truncate' or 'error', got {self.long_text!r}")
        if self.empty not in ("null", "error"):
            raise ConfigError(f"empty must be 'null' or 'error', got {self.empty!r}")
        if self.max_inputs_per_request > 2048:
            raise ConfigError(
                f"max_inputs_per_request is {self.max_inputs_per_request}; the API allows at most 2048"
            )
        if self.input_limit > self.max_tokens_per_request:
            raise ConfigError(
                f"max_input_tokens ({self.input_limit}) is larger than max_tokens_per_request "
                f"({self.max_tokens_per_request}); lower max_input_tokens"
            )
        if self.window < 16:
            raise ConfigError(f"chunk_tokens must be at least 16, got {self.window}")
        if self.window > self.input_limit:
            raise ConfigError(
                f"chunk_tokens ({self.window}) is larger than the model's input limit "
                f"({self.input_limit}); use at most {self.input_limit}"
            )
        if (
            isinstance(self.chunk_overlap, bool)
            or not isinstance(self.chunk_overlap, int)
            or not (0 <= self.chunk_overlap < self.window)
        ):
            raise ConfigError(
                f"chunk_overlap must be an integer from 0 to {self.window - 1} "
                f"(below the chunk size), got {self.chunk_overlap!r}"
            )
        if self.tokens_per_minute is not None and self.tokens_per_minute < self.input_limit:
            raise ConfigError(
                f"tokens_per_minute ({self.tokens_per_minute}) is below one input's limit "
                f"({self.input_limit} tokens); raise it or lower max_input_tokens"
            )
        if self.encoding is not None and self.tokenizer is not None:
            raise ConfigError(
                f"pass either encoding= (a tiktoken encoding) or tokenizer=, not both (got "
                f"encoding={self.encoding!r} and tokenizer={self.tokenizer!r})"
            )
        tok = self.tokenizer
        if not isinstance(tok, (str, os.PathLike, type(None))) and not callable(
            getattr(tok, "encode_ordinary", None)
        ):
            raise ConfigError(
                "tokenizer must be a path to a tokenizer.json (or its folder), a Hugging Face "
                f"repository id, a tiktoken encoding, 'server' or 'bytes'; got {type(tok).__name__}"
            )
        if self.dimensions is not None and not self.model_info.supports_dimensions:
            raise ConfigError(
                f"model {self.model!r} does not support dimensions=; leave it out "
                "or use text-embedding-3-small/large"
            )
        self._validate_cache()
        if self.progress not in (None, True, False):
            raise ConfigError(f"progress must be True, False or None, got {self.progress!r}")
        for name in ("api_key", "user", "organization", "project", "api_version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name} must be a string, got {type(value).__name__}")
        if self.api_key is not None and self.base_url is not None:
            check_key_transport(self.base_url)

    def _validate_cache(self) -> None:
        if not isinstance(self.cache, (bool, str, os.PathLike)):
            raise ConfigError(
                f"cache must be True, False, a directory or an fsspec URL, got {type(self.cache).__name__}"
            )
        options = self.cache_storage_options
        if options is not None:
            if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
                raise ConfigError(
                    "cache_storage_options must be a mapping of option names (str) to values, got "
                    f"{type(options).__name__}"
                )
            if options and self.cache is not False and self.cache_url is None:
                raise ConfigError(
                    "cache_storage_options are for an fsspec URL cache (cache='s3://bucket/path'); "
                    "the cache here is a local directory"
                )
        if isinstance(self.cache, str) and is_url(self.cache):
            check_url(self.cache, what="cache")
        elif self.cache is True and (url := self.cache_url) is not None:
            check_url(url, what=f"${CACHE_DIR_ENV}")


# help() and inspect show the options (the generated __init__'s), not __new__'s **options.
_init = inspect.signature(EmbedConfig.__init__)
EmbedConfig.__signature__ = _init.replace(parameters=list(_init.parameters.values())[1:])  # type: ignore[attr-defined]


def check_option_names(options: Mapping[str, Any]) -> None:
    """Refuse names that are not options, listing the ones there are."""
    names = {f.name for f in dataclasses.fields(EmbedConfig)}
    unknown = set(options) - names
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)}; the options are {sorted(names)}")


def resolve_config(config: EmbedConfig | None, options: Mapping[str, Any]) -> EmbedConfig:
    """The config for one call: ``config`` (or a fresh one) with ``options`` applied."""
    if config is not None and not isinstance(config, EmbedConfig):
        raise ConfigError(f"config must be an EmbedConfig, got {type(config).__name__}")
    if config is None:
        check_option_names(options)
        return EmbedConfig(**options)
    return config.replace(**options) if options else config
