"""What a self-hosted server says about its model: window, batch limits, tokenize endpoint.

Asked once per server, model and process, with short GET requests (and Ollama's
``POST /api/show``), before anything is embedded; each question a server does not answer
(404, not JSON, another server's shape) is skipped:

- TEI: ``GET /info`` -> ``max_input_length``, ``max_client_batch_size``, ``max_batch_tokens``;
  ``POST /tokenize``.
- vLLM: ``GET /v1/models`` -> the model's ``max_model_len``; ``POST /tokenize``.
- llama.cpp server: ``GET /props`` -> ``n_ctx``; ``POST /tokenize``.
- Ollama: ``POST /api/show`` -> ``<arch>.context_length`` and a ``num_ctx`` parameter.

Windows reported here count positions, the model's special tokens included; the backend
takes those off. Never sent to OpenAI or Azure OpenAI (they answer none of this).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..config import EmbedConfig
from ..errors import ConfigError
from ..models import find_model

__all__ = ["ServerFacts", "auth_headers", "discover", "is_openai_server", "list_models", "server_root"]

log = logging.getLogger("embedframe")

OLLAMA_DEFAULT_CONTEXT = 2048
"""The context Ollama runs an embedding model with unless its ``num_ctx`` says otherwise."""

CACHE_SECONDS = 60.0
"""How long an answer is reused: a job's many resolutions ask once, a restarted server is
asked again."""

_cache: dict[tuple[str, ...], tuple[float, Any]] = {}
_lock = threading.Lock()


def _cached(key: tuple[str, ...]) -> tuple[bool, Any]:
    with _lock:
        hit = _cache.get(key)
    if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
        return False, None
    return True, hit[1]


def _remember(key: tuple[str, ...], value: Any) -> None:
    with _lock:
        _cache[key] = (time.monotonic(), value)


@dataclass(frozen=True)
class ServerFacts:
    """What the server told about one model."""

    kind: str | None = None
    """``tei``, ``vllm``, ``llama.cpp``, ``ollama``, or ``None`` when it told nothing."""
    context: int | None = None
    """Positions per input, special tokens included."""
    source: str = ""
    """Where ``context`` came from, for messages (``GET /info max_input_length``)."""
    max_inputs: int | None = None
    max_tokens: int | None = None
    tokenize_url: str | None = None


def is_openai_server(config: EmbedConfig) -> bool:
    """Whether ``config`` talks to OpenAI itself or Azure OpenAI (no discovery there)."""
    host = (urlsplit(config.base_url).hostname or "") if config.base_url else "api.openai.com"
    return config.is_azure or host == "api.openai.com"


def server_root(config: EmbedConfig) -> str:
    """``base_url`` without its query and a trailing ``/v1`` (where TEI's ``/info`` lives)."""
    parts = urlsplit(config.base_url or "")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def auth_headers(config: EmbedConfig) -> dict[str, str]:
    """The headers every request to the server carries (key, extra headers)."""
    headers = dict(config.headers)
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return headers


def _key(config: EmbedConfig, *parts: str) -> tuple[str, ...]:
    secret = hashlib.sha256(repr(sorted(auth_headers(config).items())).encode()).hexdigest()
    return (config.base_url or "", secret, *parts)


def _client(config: EmbedConfig) -> httpx.Client:
    return httpx.Client(
        headers=auth_headers(config), timeout=min(config.timeout, 10.0), follow_redirects=False
    )


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def list_models(config: EmbedConfig) -> list[dict[str, Any]] | None:
    """The server's ``GET {base_url}/models`` entries, or ``None`` when it does not answer."""
    key = _key(config, "models")
    known, value = _cached(key)
    if known:
        return value  # type: ignore[no-any-return]
    found: list[dict[str, Any]] | None = None
    try:
        with _client(config) as client:
            body = _json(client.get(f"{config.base_url}/models"))
    except httpx.HTTPError as exc:
        log.debug("embedframe: GET /models failed: %s", type(exc).__name__)
        return None  # not cached: the job itself will report an unreachable server
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        found = [m for m in body["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    _remember(key, found)
    return found


def pick_model(config: EmbedConfig, default: str) -> str:
    """The model to use when none is given: the server's only (embedding) model, else
    ``default`` when it lists none or lists ``default``; several others are an error that
    lists them."""
    models = list_models(config)
    if not models:
        return default
    # Servers that say what each model does (Infinity's "capabilities") list chat models too.
    embedders = [m for m in models if "embed" in m.get("capabilities", ["embed"])] or models
    names = [str(m["id"]) for m in embedders]
    if default in names:  # a proxy (LiteLLM) in front of OpenAI: OpenAI's default, as before
        return default
    entries = {id(find_model(n)) if find_model(n) is not None else n for n in names}
    if len(entries) == 1:  # one model, maybe under several names (embedframe serve lists two)
        return names[0]
    raise ConfigError(
        f"no model= given, and the server at {config.public_endpoint.removesuffix('/embeddings')} serves "
        f"{len(names)} models: {', '.join(repr(n) for n in names)}; pass model= one of them"
    )


def discover(config: EmbedConfig, model: str) -> ServerFacts:
    """What the server at ``config.base_url`` says about ``model`` (cached per process)."""
    if is_openai_server(config) or not config.base_url:
        return ServerFacts()
    key = _key(config, "facts", model)
    known, value = _cached(key)
    if known:
        return value  # type: ignore[no-any-return]
    try:
        facts = _ask(config, model)
    except httpx.HTTPError as exc:
        log.debug("embedframe: discovery at %s failed: %s", config.public_endpoint, type(exc).__name__)
        return ServerFacts()
    if facts.kind is not None:
        log.info(
            "embedframe: the server is %s; %s",
            facts.kind,
            f"{model!r} reads {facts.context} positions ({facts.source})"
            if facts.context
            else "window not said",
        )
    _remember(key, facts)
    return facts


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _ask(config: EmbedConfig, model: str) -> ServerFacts:
    root = server_root(config)
    with _client(config) as client:
        info = _json(client.get(f"{root}/info"))
        if isinstance(info, dict) and _int(info.get("max_input_length")):
            return ServerFacts(
                "tei",
                _int(info.get("max_input_length")),
                "GET /info max_input_length",
                _int(info.get("max_client_batch_size")),
                _int(info.get("max_batch_tokens")),
                f"{root}/tokenize",
            )
        for entry in list_models(config) or []:
            if entry.get("id") == model and _int(entry.get("max_model_len")):
                return ServerFacts(
                    "vllm",
                    _int(entry["max_model_len"]),
                    "GET /v1/models max_model_len",
                    tokenize_url=f"{root}/tokenize",
                )
        props = _json(client.get(f"{root}/props"))
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            n_ctx = _int(props.get("n_ctx")) or (
                _int(settings.get("n_ctx")) if isinstance(settings, dict) else None
            )
            if n_ctx:
                return ServerFacts("llama.cpp", n_ctx, "GET /props n_ctx", tokenize_url=f"{root}/tokenize")
        show = _json(client.post(f"{root}/api/show", json={"model": model}))
        if isinstance(show, dict) and isinstance(show.get("model_info"), dict):
            return _ollama(show)
    return ServerFacts()


def _ollama(show: dict[str, Any]) -> ServerFacts:
    """Ollama's window: ``num_ctx`` from the model's parameters, else the smaller of the
    model's ``context_length`` and the context Ollama runs it with by default."""
    trained = next(
        (_int(v) for k, v in show["model_info"].items() if k.endswith(".context_length") and _int(v)), None
    )
    params = show.get("parameters")
    found = re.search(r"^\s*num_ctx\s+(\d+)", params, re.M) if isinstance(params, str) else None
    if found:
        n = int(found.group(1))
        context = min(n, trained) if trained else n
        return ServerFacts("ollama", context, "POST /api/show num_ctx")
    if trained:
        return ServerFacts("ollama", min(trained, OLLAMA_DEFAULT_CONTEXT), "POST /api/show context_length")
    return ServerFacts("ollama")


def forget() -> None:
    """Drop what was learned (tests start servers on reused ports)."""
    with _lock:
        _cache.clear()
