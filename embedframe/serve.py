"""``embedframe serve``: the local model behind an OpenAI-compatible embeddings API.

An ASGI app (Starlette) with ``POST /v1/embeddings``, ``GET /v1/models``,
``GET /v1/models/{model}`` and ``GET /health``, run by uvicorn, or mounted in-process as
an httpx transport::

    httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://local")

What it accepts, as OpenAI does: ``input`` as a string, a list of strings, one token
array or a list of token arrays; ``encoding_format`` ``float`` (default) or ``base64``
(little-endian float32); ``dimensions`` from 1 to 384 (the vector is cut and re-normalised
to unit length); ``user`` (ignored). Token arrays are ``cl100k_base`` ids, as OpenAI's
clients send them: they are decoded to text (a multi-byte character cut at an array's edge
becomes U+FFFD, as tiktoken decodes it) and that text is embedded; an id outside
``cl100k_base`` is a 400. ``usage`` counts the model's own tokens of each input
(``[CLS]``/``[SEP]`` not counted). An input over the model's 254 tokens is refused with
OpenAI's context length error, never cut short silently: clients must split long texts.

Every error, unknown routes and methods included, is OpenAI's JSON,
``{"error": {"message", "type", "param", "code"}}``. With an API key set, every ``/v1``
route needs ``Authorization: Bearer <key>`` (``/health`` does not); the key is compared in
constant time and never logged or echoed. Bodies over ``max_body_bytes`` get a 413 before
they are read in full. The model runs in a worker thread, one call at a time.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np
import numpy.typing as npt
import pybase64
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._core.tokenizer import get_tokenizer
from ._serve_run import API_KEY_ENV, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INPUTS
from .errors import ConfigError
from .local import HF_MODEL_ID, LocalModel, clean_text

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "add_serve_arguments",
    "create_app",
    "main_serve",
    "run_serve",
    "serve",
]

log = logging.getLogger("embedframe.serve")

DEFAULT_MAX_TOKENS_PER_REQUEST = 300_000
_CREATED = 1_700_000_000

INPUT_INVALID = (
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
)
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON.)"
)


class _Fail(Exception):
    """An error answer, in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class _Settings:
    model: LocalModel
    names: tuple[str, ...]
    api_key: bytes | None
    max_inputs: int
    max_body_bytes: int
    max_tokens_per_input: int
    max_tokens_per_request: int


def create_app(
    *,
    model: LocalModel | None = None,
    api_key: str | None = None,
    model_aliases: Iterable[str] = (),
    max_inputs: int = DEFAULT_MAX_INPUTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_tokens_per_input: int | None = None,
    max_tokens_per_request: int = DEFAULT_MAX_TOKENS_PER_REQUEST,
) -> Starlette:
    """The ASGI app serving ``model`` (default: the shared local model, loaded on first use).

    ``model`` in a request must be the model's name (``all-MiniLM-L6-v2``), its Hugging
    Face id (``sentence-transformers/all-MiniLM-L6-v2``) or one of ``model_aliases``; other
    names get 404 ``model_not_found``. ``max_tokens_per_input`` defaults to (and may not
    exceed) the model's 254 tokens. Making an app is cheap: it loads nothing.
    """
    model = model if model is not None else LocalModel()
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ConfigError("api_key must be a non-empty string or None")
    limit = model.max_tokens if max_tokens_per_input is None else max_tokens_per_input
    for name, value in (
        ("max_inputs", max_inputs),
        ("max_body_bytes", max_body_bytes),
        ("max_tokens_per_input", limit),
        ("max_tokens_per_request", max_tokens_per_request),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if limit > model.max_tokens:
        raise ConfigError(
            f"max_tokens_per_input ({limit}) is over the model's window of {model.max_tokens} tokens; "
            "the model would cut longer inputs short"
        )
    aliases = [str(a) for a in model_aliases]
    names = tuple(dict.fromkeys([model.name, HF_MODEL_ID, *aliases]))
    settings = _Settings(
        model=model,
        names=names,
        api_key=api_key.encode("utf-8") if api_key else None,
        max_inputs=max_inputs,
        max_body_bytes=max_body_bytes,
        max_tokens_per_input=limit,
        max_tokens_per_request=max_tokens_per_request,
    )

    async def embeddings(request: Request) -> Response:
        return await _guarded(_embeddings, settings, request)

    async def list_models(request: Request) -> Response:
        return await _guarded(_list_models, settings, request)

    async def get_model(request: Request) -> Response:
        return await _guarded(_get_model, settings, request)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": model.name, "loaded": model.loaded})

    return Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 / 405 (unknown route, wrong method), as OpenAI's error JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    where = f"{request.method} {request.url.path}"
    if status == 404:
        message = f"Invalid URL ({where})"
    elif status == 405:
        message = f"Invalid method for URL ({where})"
    else:
        message = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return _Fail(status, message, headers=dict(headers) if headers else None).response()


_Handler = Callable[[_Settings, Request], Awaitable[Response]]


async def _guarded(handler: _Handler, settings: _Settings, request: Request) -> Response:
    """Run ``handler``; every failure becomes an OpenAI error answer, nothing escapes."""
    try:
        _authorize(settings, request)
        return await handler(settings, request)
    except _Fail as fail:
        return fail.response()
    except Exception:
        log.exception("embedframe serve: internal error on %s %s", request.method, request.url.path)
        return _Fail(500, "The server had an error processing your request.", type="server_error").response()


def _authorize(settings: _Settings, request: Request) -> None:
    if settings.api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, sent = header.partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        raise _Fail(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    if not hmac.compare_digest(sent.strip().encode("utf-8"), settings.api_key):
        raise _Fail(401, "Incorrect API key provided.", code="invalid_api_key")


async def _list_models(settings: _Settings, request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [_model_card(n) for n in settings.names]})


async def _get_model(settings: _Settings, request: Request) -> Response:
    name = request.path_params["model"]
    if name not in settings.names:
        raise _not_found(name)
    return JSONResponse(_model_card(name))


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "embedframe"}


def _not_found(name: object) -> _Fail:
    return _Fail(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


# ----------------------------------------------------------------------------- embeddings


@dataclass
class _Job:
    model: str
    texts: list[str]
    base64: bool
    dimensions: int | None


async def _embeddings(settings: _Settings, request: Request) -> Response:
    body = await _read_body(request, settings.max_body_bytes)
    job = _parse(settings, body)
    counts, vectors = await anyio.to_thread.run_sync(_run, settings, job.texts)
    if job.dimensions is not None and job.dimensions < vectors.shape[1]:
        vectors = _shorten(vectors, job.dimensions)
    data = [
        {"object": "embedding", "index": i, "embedding": _b64(v) if job.base64 else v.tolist()}
        for i, v in enumerate(vectors)
    ]
    total = sum(counts)
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": job.model,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _Fail(400, f"Invalid Content-Length header: {declared[:40]!r}.")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> _Fail:
    return _Fail(
        413,
        f"Request body too large: this server accepts at most {limit} bytes; send fewer inputs per request.",
        code="request_too_large",
    )


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), "an object" if isinstance(value, dict) else "null")


def _invalid_type(param: str, expected: str, value: object) -> _Fail:
    return _Fail(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _parse(settings: _Settings, body: bytes) -> _Job:
    """The request's options, validated as OpenAI validates them."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise _Fail(400, BAD_JSON)
    model = payload.get("model")
    if model is None or model == "":
        raise _Fail(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    if "input" not in payload:
        raise _Fail(
            400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    fmt = payload.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise _Fail(
            400,
            f"Invalid value for 'encoding_format': {fmt!r}. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    dims = payload.get("dimensions")
    size = settings.model.dimensions
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= size):
        raise _Fail(
            400,
            f"Invalid value for 'dimensions' = {dims!r}. Must be an integer between 1 and {size}.",
            param="dimensions",
            code="invalid_value",
        )
    user = payload.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid_type("user", "a string", user)
    if model not in settings.names:
        raise _not_found(model)
    texts = _inputs(payload["input"])
    if len(texts) > settings.max_inputs:
        raise _Fail(
            400,
            f"Too many inputs. The max number of inputs is {settings.max_inputs}. "
            "We recommend sending your inputs in smaller batches.",
            param="input",
        )
    return _Job(model=model, texts=texts, base64=fmt == "base64", dimensions=dims)


def _inputs(value: object) -> list[str]:
    """The texts of ``input``: strings as they are, token arrays decoded from cl100k_base."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Fail(400, INPUT_INVALID)
    if all(type(v) is str for v in value):
        if any(not v for v in value):
            raise _Fail(400, INPUT_INVALID)
        return [clean_text(v) for v in value]
    if all(type(v) is int for v in value):
        return [_decode_tokens(value)]
    if all(type(v) is list for v in value):
        return [_decode_tokens(v) for v in value]
    raise _Fail(400, INPUT_INVALID)


def _decode_tokens(ids: list[Any]) -> str:
    if not ids or not all(type(t) is int for t in ids):
        raise _Fail(400, INPUT_INVALID)
    enc = get_tokenizer("cl100k_base")
    bad = next((t for t in ids if not 0 <= t <= enc.max_token_value), None)
    try:
        if bad is not None:
            raise KeyError(bad)
        raw = enc.decode_bytes(ids)
    except (KeyError, ValueError, OverflowError):
        raise _Fail(
            400,
            f"Invalid token id in 'input': token arrays must hold cl100k_base token ids "
            f"(0 to {enc.max_token_value}).",
            param="input",
        ) from None
    return raw.decode("utf-8", "replace")


def _run(settings: _Settings, texts: list[str]) -> tuple[list[int], npt.NDArray[np.float32]]:
    """Count, check and embed ``texts`` (in a worker thread: CPU-bound)."""
    counts = settings.model.count_tokens(texts)
    limit = settings.max_tokens_per_input
    worst = max(counts)
    if worst > limit:
        raise _Fail(
            400,
            f"This model's maximum context length is {limit} tokens, however you requested {worst} "
            f"tokens ({worst} in your prompt; 0 for the completion). Please reduce your prompt; or "
            "completion length.",
            param="input",
            code="context_length_exceeded",
        )
    total = sum(counts)
    if total > settings.max_tokens_per_request:
        raise _Fail(
            400,
            f"Requested {total} tokens, max {settings.max_tokens_per_request} tokens per request",
            param="input",
            code="max_tokens_per_request",
        )
    return counts, settings.model.embed(texts)


def _shorten(vectors: npt.NDArray[np.float32], dimensions: int) -> npt.NDArray[np.float32]:
    """The first ``dimensions`` components, scaled back to unit length."""
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    out = np.zeros_like(cut)
    np.divide(cut, norms, out=out, where=norms > 0)
    return out


def _b64(vector: npt.NDArray[np.float32]) -> str:
    return pybase64.b64encode(vector.astype("<f4", copy=False).tobytes()).decode("ascii")


# ----------------------------------------------------------------------------- running


# Running the app (a socket bound before the model loads, uvicorn, the command line) lives
# in _serve_run; these names stay importable from here.
from ._serve_run import _exposure_warning as _exposure_warning  # noqa: E402
from ._serve_run import add_serve_arguments, main_serve, run_serve, serve  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main_serve())
