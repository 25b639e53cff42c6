"""Which server a job talks to, with which model, tokenizer and window.

With an API key or a base URL (given or from the environment) the job goes to that
server. With neither, it uses the local model in-process (``embedframe[local]``), through
the same OpenAI protocol code path: the ``embedframe serve`` ASGI app mounted as an httpx
transport. Explicit arguments always win.

For a server that is not OpenAI's, what it says about its model (:mod:`.discover`) comes
before the model table: with no ``model=`` its only model is used; its reported window
(less the model's special tokens) is the input limit; its batch limits cap requests; its
``/tokenize`` counts tokens when the model's ``tokenizer.json`` is not on this machine
(:mod:`.tokenizers`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._core.tokenizer import ByteTokenizer, HFTokenizer, LazyTokenizer, Tokenizer
from ..config import DEFAULT_MODEL, EmbedConfig
from ..errors import ConfigError
from ..models import ModelInfo, find_model, model_info
from .discover import ServerFacts, auth_headers, discover, is_openai_server, pick_model
from .tokenizers import RemoteTokenizer, find_hf_tokenizer, named_tokenizer, snapshot_context

__all__ = ["LOCAL_BASE_URL", "Backend", "resolve_backend"]

log = logging.getLogger("embedframe")

LOCAL_BASE_URL = "http://embedframe.local/v1"

OPENAI_INPUT_LIMIT = 8191
"""OpenAI's per-input limit, assumed for a model OpenAI serves that the table lacks."""

_announced: set[str] = set()


@dataclass(frozen=True)
class Backend:
    """The resolved target of a job."""

    config: EmbedConfig
    """The config with ``model``, ``base_url``, ``tokenizer`` and the window filled in."""
    tokenizer: Tokenizer
    byte_bound: bool
    """Whether the tokenizer never makes more tokens than UTF-8 bytes."""
    transport: httpx.AsyncBaseTransport | None
    description: str
    server_window: int | None = None
    """Tokens of text the server said it reads (its window less special tokens), if it did:
    a vector for a longer piece was cut short by the server, and is refused."""
    window_source: str = ""
    """Where the input limit came from (``max_input_tokens=``, ``GET /info ...``, the table)."""
    server_kind: str | None = None
    """``tei``, ``vllm``, ``llama.cpp`` or ``ollama`` when discovery recognised the server:
    its ``usage`` counts the model's tokens read, special tokens included."""


def _announce(text: str) -> None:
    if text not in _announced:
        _announced.add(text)
        log.warning("embedframe: %s", text)


def resolve_backend(config: EmbedConfig, *, announce: bool = True) -> Backend:
    """The backend ``config`` asks for."""
    if config.api_key is not None or config.base_url is not None:
        return _server_backend(config, announce=announce)
    return _local_backend(config, announce=announce)


def _server_backend(config: EmbedConfig, *, announce: bool) -> Backend:
    cfg = config
    openai = is_openai_server(cfg)
    host = urlsplit(cfg.endpoint).hostname
    if not cfg.model:
        model = DEFAULT_MODEL if openai else pick_model(cfg, DEFAULT_MODEL)
        if model != DEFAULT_MODEL and announce:
            _announce(f"no model given; the server at {host} serves one model, {model!r}: using it")
        cfg = cfg.derive(model=model, validate=False)  # validated with the rest below
    model = str(cfg.model)
    info = cfg.model_info
    tiktoken_model = info.tokenizer_kind == "tiktoken" or (openai and not info.known)
    asks_server = cfg.tokenizer == "server"
    facts = discover(cfg, model) if not openai and (asks_server or not tiktoken_model) else ServerFacts()
    tokenizer = _tokenizer(cfg, info, facts, openai=openai)
    specials = _special_tokens(tokenizer, info)
    server_window = facts.context - specials if facts.context else None
    window, source = _window(cfg, info, tokenizer, specials, server_window, facts, openai=openai)
    changes: dict[str, Any] = {}
    if cfg.encoding is None:
        changes["tokenizer"] = tokenizer
    if window is not None and cfg.max_input_tokens is None:
        changes["max_input_tokens"] = window
    changes.update(_server_limits(cfg, facts, window))
    try:
        cfg = cfg.derive(**changes)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (the model {model!r} reads {window} tokens of text: {source})") from None
    table_window = info.max_input_tokens if info.known and not tiktoken_model else None
    given = config.max_input_tokens if config.is_set("max_input_tokens") else None
    if announce and given and table_window and given > table_window:
        _announce(
            f"max_input_tokens={config.max_input_tokens} is over the {table_window} tokens of text "
            f"{model!r} reads ({info.context} positions less {info.special_tokens} special tokens, "
            "model table): servers that truncate (Infinity, Ollama, TEI with auto-truncate) will embed "
            f"longer texts by their start alone; leave max_input_tokens unset for {table_window}"
        )
    if isinstance(tokenizer, ByteTokenizer) and announce:
        _announce(
            f"the tokenizer of {model!r} was not found on this machine, and the server has no tokenize "
            "endpoint: counting UTF-8 bytes as an upper bound on its tokens (long texts are cut into "
            "smaller chunks than needed); pass tokenizer= its tokenizer.json or Hugging Face id"
        )
    byte_bound = bool(getattr(tokenizer, "byte_bound", False))
    return Backend(cfg, tokenizer, byte_bound, None, f"server {host}", server_window, source, facts.kind)


def _tokenizer(cfg: EmbedConfig, info: ModelInfo, facts: ServerFacts, *, openai: bool) -> Tokenizer:
    """The tokenizer for ``cfg``'s model (see :mod:`.tokenizers` for the order)."""
    spec = cfg.tokenizer
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        return spec
    if cfg.encoding is not None:
        return LazyTokenizer(cfg.encoding)
    if spec is not None:
        named = named_tokenizer(spec)
        if named is not None:
            return named
        if facts.tokenize_url is None:
            raise ConfigError(
                f"tokenizer='server', but the server at {cfg.public_endpoint} has no tokenize endpoint "
                "that embedframe knows (TEI, vLLM and llama.cpp have one); pass tokenizer= the model's "
                "tokenizer.json or Hugging Face id"
            )
        return _remote(cfg, facts)
    if info.tokenizer_kind == "tiktoken":
        return LazyTokenizer(info.tokenizer)
    if openai and not info.known:
        return LazyTokenizer("cl100k_base")
    for repo in dict.fromkeys(r for r in (info.tokenizer, str(cfg.model)) if r):
        found = find_hf_tokenizer(repo)
        if found is not None:
            return found
    if facts.tokenize_url is not None:
        return _remote(cfg, facts)
    return ByteTokenizer()


def _remote(cfg: EmbedConfig, facts: ServerFacts) -> RemoteTokenizer:
    assert facts.tokenize_url is not None and facts.kind is not None
    return RemoteTokenizer(
        facts.tokenize_url, facts.kind, str(cfg.model), auth_headers(cfg), min(cfg.timeout, 30.0)
    )


def _special_tokens(tokenizer: Tokenizer, info: ModelInfo) -> int:
    """Positions the model's tokenizer adds to every input: the tokenizer's own count when
    it is the model's (a ``tokenizer.json``, the server's), else the table's."""
    if isinstance(tokenizer, (HFTokenizer, RemoteTokenizer)):
        return int(tokenizer.special_tokens)
    return info.special_tokens


def _window(
    cfg: EmbedConfig,
    info: ModelInfo,
    tokenizer: Tokenizer,
    specials: int,
    server_window: int | None,
    facts: ServerFacts,
    *,
    openai: bool,
) -> tuple[int | None, str]:
    """Tokens of text per input, and where that came from: ``max_input_tokens=``, else what
    the server said, else the table, else the files next to the tokenizer; ``None`` when
    unknown (then :data:`~embedframe.models.UNKNOWN_WINDOW` applies and longer texts are refused)."""
    if cfg.max_input_tokens is not None:
        return cfg.max_input_tokens, "max_input_tokens="
    if server_window is not None:
        return server_window, f"{facts.source} {facts.context} less {specials} special tokens"
    if info.context is not None:
        return (
            info.context - specials,
            f"the model table: {info.context} positions less {specials} special tokens",
        )
    if openai:
        return OPENAI_INPUT_LIMIT, "OpenAI's limit"
    context = snapshot_context(tokenizer)
    if context is not None:
        return (
            context - specials,
            f"sentence_bert_config.json: {context} positions less {specials} special tokens",
        )
    return None, "unknown"


def _server_limits(cfg: EmbedConfig, facts: ServerFacts, window: int | None) -> dict[str, object]:
    """The server's batch limits (TEI's ``/info``) for the options the user did not set."""
    out: dict[str, object] = {}
    if facts.max_inputs and not cfg.is_set("max_inputs_per_request"):
        out["max_inputs_per_request"] = min(facts.max_inputs, cfg.max_inputs_per_request)
    if facts.max_tokens and not cfg.is_set("max_tokens_per_request"):
        out["max_tokens_per_request"] = min(
            cfg.max_tokens_per_request, max(facts.max_tokens, window or cfg.input_limit)
        )
    return out


def _local_backend(config: EmbedConfig, *, announce: bool) -> Backend:
    try:
        from ..local import LOCAL_MODEL
        from ..serve import create_app
    except ImportError as exc:  # optional dependencies missing
        raise ConfigError(
            "no API key and no server are configured, and the local model is not installed: "
            "set OPENAI_API_KEY (or pass api_key=...) to use OpenAI, pass base_url=... for a "
            f"compatible server, or `pip install 'embedframe[local]'` ({exc})"
        ) from exc
    local_info = model_info(LOCAL_MODEL)
    if config.model is not None and find_model(config.model) is not local_info:
        raise ConfigError(
            f"model {config.model!r} needs a server, but no API key and no base_url are configured: "
            "set OPENAI_API_KEY (or pass api_key=...), or pass base_url=..., or leave model unset "
            f"to use the local model {LOCAL_MODEL!r}"
        )
    cfg = config.derive(model=LOCAL_MODEL, base_url=LOCAL_BASE_URL, validate=False, **_local_defaults(config))
    # The local model is just another model of the table; its tokenizer.json comes from
    # the package that ships its weights.
    tokenizer = _tokenizer(cfg, local_info, ServerFacts(), openai=False)
    specials = _special_tokens(tokenizer, local_info)
    window, source = _window(cfg, local_info, tokenizer, specials, None, ServerFacts(), openai=False)
    changes: dict[str, Any] = {} if cfg.encoding is not None else {"tokenizer": tokenizer}
    if cfg.max_input_tokens is None:
        changes["max_input_tokens"] = window
    cfg = cfg.derive(**changes)
    if announce:
        _announce(f"no API key or base_url configured; using the local model {LOCAL_MODEL} on CPU")
    transport = httpx.ASGITransport(app=create_app())
    byte_bound = bool(getattr(tokenizer, "byte_bound", False))
    return Backend(cfg, tokenizer, byte_bound, transport, f"local model {LOCAL_MODEL}", window_source=source)


def _local_defaults(config: EmbedConfig) -> dict[str, int | float]:
    """Request sizes for a CPU model: options still at their (remote-server) defaults change.

    The model runs one batch at a time, so big requests would queue past the timeout and
    many in flight would only wait; settings the user gave are kept, even at the default value.
    """
    local = {
        "max_inputs_per_request": 128,
        "max_tokens_per_request": 16_384,
        "concurrency": 2,
        "timeout": 600.0,
    }
    return {k: v for k, v in local.items() if not config.is_set(k)}
