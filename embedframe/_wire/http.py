"""The I/O shell: send one batch to ``POST /embeddings`` and get its vectors back.

One ``httpx.AsyncClient`` per job (connections reused); retries with backoff; a shared
:class:`Gate` so that when the server says 429 every worker waits, not just the one that
heard it.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import numpy.typing as npt

from .._core.decode import Decoded, decode_embeddings
from .._core.retry import is_retryable_status, server_wait
from .._version import __version__
from ..config import EmbedConfig
from ..errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    VectorSizeError,
)
from .limits import Gate, RateLimiter, limits_for

__all__ = ["SIZE_FIX", "SIZE_SOURCE", "Gate", "SendStats", "Sender", "make_client", "request_payload"]

SIZE_SOURCE = "this job (or the cache)"
SIZE_FIX = "pass dimensions=... to pin the size"
"""What a job's :class:`VectorSizeError` says (the sender's check and the matrix's)."""

_MAX_MESSAGE = 500


@dataclass
class SendStats:
    """What the job cost on the wire."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    usage_tokens: int = 0
    tokens_sent: int = 0
    """Tokens in every attempt, retries included (upper bounds where not counted exactly)."""
    usage_missing: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)


def request_payload(config: EmbedConfig, inputs: list[str]) -> dict[str, Any]:
    """The JSON body of an embeddings request for ``inputs`` (online, or a Batch API line)."""
    payload: dict[str, Any] = {"model": config.model, "input": inputs, "encoding_format": "base64"}
    if config.dimensions is not None:
        payload["dimensions"] = config.dimensions
    if config.user is not None:
        payload["user"] = config.user
    return payload


def make_client(config: EmbedConfig, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The job's HTTP client: pooled connections sized to the concurrency.

    Without ``transport`` it is httpx's own, which honours ``HTTP(S)_PROXY`` and
    ``NO_PROXY``; jobs pass :class:`~embedframe._wire.transport.WireTransport` when no proxy applies.
    """
    headers = {"user-agent": f"embedframe/{__version__}", "content-type": "application/json"}
    if config.api_key and config.is_azure:
        headers["api-key"] = config.api_key
    elif config.api_key:
        headers["authorization"] = f"Bearer {config.api_key}"
    if config.organization:
        headers["openai-organization"] = config.organization
    if config.project:
        headers["openai-project"] = config.project
    headers.update(config.headers)
    limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
    return httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(config.timeout),
        limits=limits,
        transport=transport,
    )


class Sender:
    """Sends batches for one job, retrying what can be retried."""

    def __init__(
        self,
        config: EmbedConfig,
        client: httpx.AsyncClient,
        gate: Gate | None = None,
        limiter: RateLimiter | None = None,
        recycle: Callable[[bytearray], None] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self._recycle = recycle
        """Where a decoded body goes back to, for the next response to be received into."""
        shared_limiter, shared_gate = limits_for(
            config.public_endpoint, config.model, config.requests_per_minute, config.tokens_per_minute
        )
        self.gate = gate or shared_gate
        self.limiter = limiter or shared_limiter
        self.stats = SendStats()
        self.dim = config.dimensions
        """The size of the job's vectors: asked for, or as first answered (or found in the cache)."""
        self.stopped = False
        self._posting: set[asyncio.Task[Any]] = set()
        self._secrets = [s for s in (config.api_key, *config.headers.values()) if s and len(s) >= 8]
        self._secret_bytes = [s.encode("utf-8", "surrogatepass") for s in self._secrets]

    def stop(self) -> None:
        """The job is failing: requests on the wire may finish, but none is retried."""
        self.stopped = True

    def posting(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` has a request on the wire (its answer may already be paid for)."""
        return task in self._posting

    def body(self, inputs: list[str]) -> bytes:
        return json.dumps(request_payload(self.config, inputs), ensure_ascii=False).encode("utf-8")

    async def embed(
        self,
        inputs: list[str],
        tokens: int = 0,
        out: Callable[[], npt.NDArray[np.float32] | None] | None = None,
    ) -> Decoded:
        """The vectors of ``inputs`` (``tokens`` of them at most), in order; raises once
        retries are spent. Every attempt waits for the shared pause and the rate budget.
        ``out()``, asked when the answer is there, gives an array to decode into (see
        :func:`decode_embeddings`)."""
        content = self.body(inputs)
        policy = self.config.retry
        attempt = 0
        while True:
            await self.gate.wait()
            await self.limiter.acquire(tokens)
            await self.gate.wait()
            self.stats.requests += 1
            self.stats.tokens_sent += tokens
            sent = time.monotonic()
            try:
                response, body = await self._post(content)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                unresolved = _name_error(exc)
                if unresolved is not None:
                    dns = self._unresolved(unresolved, attempt)
                    if not dns.resumable:
                        raise dns from None
                    failure: Exception = dns
                else:
                    failure = TransportError(
                        f"{type(exc).__name__} talking to {self._where()}: "
                        f"{self._scrub(str(exc)) or 'no detail'} (after {attempt + 1} attempt(s)); "
                        "check the server, or raise timeout= / max_retries="
                    )
                wait = None
            else:
                status = response.status_code
                self.stats.status_counts[status] = self.stats.status_counts.get(status, 0) + 1
                pause = self.limiter.observe(response.headers, age=time.monotonic() - sent)
                if pause:
                    self.gate.hold(pause)
                if status == 200:
                    try:
                        decoded = self._decode(body, len(inputs), None if out is None else out())
                    except ResponseError as exc:
                        failure, wait = exc, None
                    else:
                        if decoded.prompt_tokens is None:
                            self.stats.usage_missing += 1
                        else:
                            self.stats.usage_tokens += decoded.prompt_tokens
                        self.limiter.used(tokens, decoded.prompt_tokens)
                        if self._recycle is not None and isinstance(body, bytearray):
                            self._recycle(body)  # the vectors are copies: nothing refers to it now
                        return decoded
                else:
                    failure = self._api_error(response, self._scrub_body(body))
                    code = getattr(failure, "code", None)
                    if not is_retryable_status(status, code, response.headers.get("x-should-retry")):
                        raise failure
                    wait = server_wait(response.headers, getattr(failure, "message", ""))
                    if status == 429:
                        self.stats.rate_limited += 1
                        self.limiter.refused()
                        if wait is not None and wait > policy.max_retry_wait:
                            when = time.localtime(time.time() + wait)
                            today = time.localtime().tm_yday == when.tm_yday
                            resume = time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", when)
                            raise RateLimitError(
                                f"{getattr(failure, 'message', '')} The server asks to wait {wait:.0f} s, more "
                                f"than max_retry_wait={policy.max_retry_wait:g} s; run again after {resume}",
                                status=429,
                                code=getattr(failure, "code", None),
                            ) from failure
            if attempt >= policy.max_retries or self.stopped:
                raise failure
            delay = policy.backoff(attempt)
            if wait is not None:
                delay = min(max(wait, 0.0), policy.max_retry_wait)
            if isinstance(failure, RateLimitError):
                self.gate.hold(delay)
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)

    async def _post(self, content: bytes) -> tuple[httpx.Response, bytes | bytearray]:
        """:meth:`_exchange`, with the task marked as having a request on the wire meanwhile."""
        task = asyncio.current_task()
        if task is None:
            return await self._exchange(content)
        self._posting.add(task)
        try:
            return await self._exchange(content)
        finally:
            self._posting.discard(task)

    async def _exchange(self, content: bytes) -> tuple[httpx.Response, bytes | bytearray]:
        """POST and read the whole body into a buffer of our own.

        The body is not left on the response (``aread`` would keep it there, and
        responses can sit in reference cycles until the garbage collector runs, holding
        megabytes each); with a known length it is read into one preallocated buffer.
        """
        async with self.client.stream("POST", self.config.endpoint, content=content) as response:
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and "content-encoding" not in response.headers:
                size = int(length)
                chunks = response.aiter_raw()
                first = await anext(chunks, b"")
                if isinstance(first, bytearray) and len(first) == size:
                    async for _ in chunks:  # our transport gives the whole body as one buffer
                        raise httpx.RemoteProtocolError("the server sent more than its content-length")
                    return response, first
                buffer = bytearray(size)
                view = memoryview(buffer)
                view[: len(first)] = first
                filled = len(first)
                async for chunk in chunks:
                    end = filled + len(chunk)
                    if end > len(buffer):
                        raise httpx.RemoteProtocolError("the server sent more than its content-length")
                    view[filled:end] = chunk
                    filled = end
                view.release()
                if filled != len(buffer):
                    raise httpx.RemoteProtocolError("the body ended before its content-length")
                return response, buffer
            return response, b"".join([chunk async for chunk in response.aiter_bytes()])

    def _decode(self, body: bytes | bytearray, n: int, out: npt.NDArray[np.float32] | None) -> Decoded:
        """The vectors of a 200 answer. A failure's message is built from the body with any
        key the server echoed masked (the body is only searched for keys when it fails)."""
        try:
            decoded: Decoded | None = decode_embeddings(body, n, self.config.dimensions, out=out)
        except ResponseError:
            decoded = None  # raised again below, outside this block: its message may hold a key
        if decoded is None:
            decode_embeddings(self._scrub_body(body), n, self.config.dimensions)  # raises, masked
            raise ResponseError("the response could not be read")
        self._check_size(decoded)
        return decoded

    def _check_size(self, decoded: Decoded) -> None:
        """Vectors of another size than the job's so far are a bad answer (retried), not a result."""
        d = decoded.vectors.shape[1]
        if self.dim is None:
            self.dim = d
        elif d != self.dim:
            raise VectorSizeError(d, self.dim, source=SIZE_SOURCE, fix=SIZE_FIX)

    def _where(self) -> str:
        return self.config.public_endpoint

    def _unresolved(self, error: socket.gaierror, attempt: int) -> TransportError:
        """The host's name could not be resolved: a typo or this machine's network, which no
        timeout or retry fixes. Only a temporary failure (``EAI_AGAIN``) is worth a retry."""
        host = urlsplit(self.config.endpoint).hostname or "?"
        temporary = error.errno == getattr(socket, "EAI_AGAIN", None)
        return TransportError(
            f"cannot resolve the host {host!r} of {self._where()} ({error.strerror or error}"
            f"{f', after {attempt + 1} attempt(s)' if temporary else ''}): check the host name "
            "(base_url=...) and that this machine's network and DNS can reach it (a VPN or a "
            "proxy it needs?)",
            resumable=temporary,
        )

    def _scrub_body(self, body: bytes | bytearray) -> bytes | bytearray:
        """The body with any key or header value the server echoed masked, before any message
        is taken from it (messages are cut to length, which could leave part of a key)."""
        for secret in self._secret_bytes:
            if secret in body:
                body = body.replace(secret, b"***")
        return body

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _api_error(self, response: httpx.Response, body: bytes | bytearray) -> APIError:
        status = response.status_code
        message, code, type_ = _server_message(body, response.headers.get("content-type", ""))
        message = self._scrub(message) or response.reason_phrase or "no message"
        kind: type[APIError]
        if status == 429:
            kind = (
                QuotaExceededError
                if code == "insufficient_quota" or type_ == "insufficient_quota"
                else RateLimitError
            )
            if kind is QuotaExceededError:
                code = "insufficient_quota"
                message += " (the account is out of quota: add credit or raise the limit, then run again)"
        elif status in (401, 403):
            kind = AuthenticationError
            message += " (check the key: api_key=... or OPENAI_API_KEY)"
        elif status == 404:
            kind = NotFoundError
            message += f" (check model={self.config.model!r} and the server {self.config.public_endpoint})"
        elif status >= 500:
            kind = ServerError
        else:
            kind = BadRequestError if status in (400, 413, 422) else APIError
        return kind(
            message,
            status=status,
            code=code,
            type=type_,
            request_id=response.headers.get("x-request-id"),
        )


def _server_message(body: bytes | bytearray, content_type: str) -> tuple[str, str | None, str | None]:
    """The server's message, code and type, whatever the dialect of its error body."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            return (
                _trim(str(err.get("message") or "")),
                None if code is None else str(code),
                None if err.get("type") is None else str(err.get("type")),
            )
        if isinstance(err, str):
            etype = doc.get("error_type") or doc.get("type")
            return _trim(err), None, None if etype is None else str(etype)
        detail = doc.get("detail")
        if detail is not None:
            if isinstance(detail, list):
                detail = "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
            return _trim(str(detail)), None, None
        if "message" in doc:
            return _trim(str(doc["message"])), None, None
    if "html" in content_type or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S) or re.search(
            r"<h1>(.*?)</h1>", text, re.I | re.S
        )
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
        text = html.unescape(text)
    return _trim(text), None, None


def _name_error(exc: BaseException) -> socket.gaierror | None:
    """The name-resolution failure behind a connection error (ours or httpx's), if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, socket.gaierror):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
