"""The OpenAI Files and Batches endpoints: upload, create, poll, download, cancel, delete.

Control calls are few and small, so each is retried on its own (429, 5xx, timeouts,
dropped connections) with the job's backoff settings and the server's ``Retry-After``;
the auth headers and error classes are the embeddings client's (:func:`make_client`).
Uploads are streamed from the job's request file, never held in memory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from .._core.batchfile import ENDPOINT
from .._core.retry import backoff, is_retryable_status, server_wait
from ..config import OPENAI_BASE_URL, EmbedConfig
from ..errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .http import _server_message

__all__ = ["BatchAPI", "is_queue_limit"]

_CHUNK = 1 << 20


def is_queue_limit(code: str | None, message: str | None) -> bool:
    """Whether an error says the model's batch queue (enqueued tokens) is full: wait for
    running batches to finish and submit again, it is not a failure of the requests."""
    text = f"{code or ''} {message or ''}".lower()
    return "token_limit_exceeded" in text or "enqueued token limit" in text


class BatchAPI:
    """Calls to ``{base_url}/files`` and ``{base_url}/batches`` through ``client``."""

    def __init__(self, config: EmbedConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.root = (config.base_url or OPENAI_BASE_URL).rstrip("/")
        self._secrets = [s for s in (config.api_key, *config.headers.values()) if s and len(s) >= 8]

    # files

    async def upload(self, filename: str, size: int, chunks: Callable[[], Iterator[bytes]]) -> dict[str, Any]:
        """Upload ``size`` bytes (given by ``chunks()``, called again for each attempt) as a
        ``purpose=batch`` file named ``filename``."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> AsyncIterator[bytes]:
            async def gen() -> AsyncIterator[bytes]:
                yield head
                for chunk in chunks():
                    yield chunk
                yield tail

            return gen()

        headers = {
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(head) + size + len(tail)),
        }
        return await self._json("POST", "/files", content=body, headers=headers)

    async def files(self) -> list[dict[str, Any]]:
        """The account's ``purpose=batch`` files."""
        doc = await self._json("GET", "/files", params={"purpose": "batch"})
        return [f for f in doc.get("data", []) if isinstance(f, dict)]

    async def delete_file(self, file_id: str) -> None:
        """Delete a file; one already gone is fine."""
        with contextlib.suppress(NotFoundError):
            await self._json("DELETE", f"/files/{file_id}")

    async def lines(self, file_id: str) -> AsyncIterator[bytes]:
        """The lines of a file's content, streamed (output and error files can be large)."""
        for attempt in range(self.config.max_retries + 1):
            try:
                async with self.client.stream("GET", self._url(f"/files/{file_id}/content")) as response:
                    if response.status_code != 200:
                        body = await response.aread()
                        await self._raise_or_wait_async(response, body, attempt)
                        continue
                    pending: list[bytes] = []  # the line so far: a line can be megabytes long
                    async for chunk in response.aiter_bytes(_CHUNK):
                        if b"\n" not in chunk:
                            pending.append(chunk)
                            continue
                        first, *whole, rest = chunk.split(b"\n")
                        for line in (b"".join([*pending, first]), *whole):
                            if line.strip():
                                yield line
                        pending = [rest]
                    last = b"".join(pending)
                    if last.strip():
                        yield last
                    return
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                await self._transport_retry(exc, attempt)
        raise TransportError(f"could not download batch file {file_id} after retries")

    # batches

    async def create(self, input_file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        body = {
            "input_file_id": input_file_id,
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": metadata,
        }
        return await self._json("POST", "/batches", body=body)

    async def get(self, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/batches/{batch_id}/cancel")

    async def find_batch(self, input_file_id: str, since: float) -> dict[str, Any] | None:
        """The batch made from ``input_file_id`` (created at ``since`` or later), if any: how a
        job that died between asking for a batch and recording its id finds it again."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after is not None:
                params["after"] = after
            page = await self._json("GET", "/batches", params=params)
            data = [b for b in page.get("data", []) if isinstance(b, dict)]
            for batch in data:
                if batch.get("input_file_id") == input_file_id:
                    return batch
            older = [b for b in data if isinstance(b.get("created_at"), (int, float))]
            if (
                not page.get("has_more")
                or not data
                or (older and min(b["created_at"] for b in older) < since)
            ):
                return None
            after = str(data[-1].get("id"))

    # plumbing

    def _url(self, path: str) -> str:
        url = self.root + path
        if self.config.api_version:
            url += ("&" if "?" in url else "?") + f"api-version={self.config.api_version}"
        return url

    async def _json(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = await self.client.request(
                    method,
                    self._url(path),
                    content=json.dumps(body).encode() if body is not None else content() if content else None,
                    params=params,
                    headers=headers,
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                await self._transport_retry(exc, attempt)
                attempt += 1
                continue
            if response.status_code == 200:
                try:
                    doc = response.json()
                except ValueError as exc:
                    raise self._error(response, response.content, ServerError) from exc
                if not isinstance(doc, dict):
                    raise self._error(response, response.content, ServerError)
                return doc
            await self._raise_or_wait_async(response, response.content, attempt)
            attempt += 1

    async def _transport_retry(self, exc: Exception, attempt: int) -> None:
        if attempt >= self.config.max_retries:
            raise TransportError(
                f"{type(exc).__name__} talking to {self.root} (after {attempt + 1} attempt(s)): "
                f"{self._scrub(str(exc)) or 'no detail'}; check the server, or raise timeout= / max_retries="
            ) from exc
        await asyncio.sleep(backoff(attempt, initial=self.config.wait_initial, maximum=self.config.wait_max))

    def _raise_or_wait(self, response: httpx.Response, body: bytes, attempt: int) -> None:
        """Raise the response's error unless it is worth another try (then the caller waits)."""
        error = self._error(response, body)
        if attempt >= self.config.max_retries or not is_retryable_status(
            response.status_code, error.code, response.headers.get("x-should-retry")
        ):
            raise error

    async def _raise_or_wait_async(self, response: httpx.Response, body: bytes, attempt: int) -> None:
        self._raise_or_wait(response, body, attempt)
        wait = server_wait(response.headers, "")
        delay = backoff(attempt, initial=self.config.wait_initial, maximum=self.config.wait_max)
        await asyncio.sleep(min(wait, self.config.max_retry_wait) if wait is not None else delay)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, response: httpx.Response, body: bytes, kind: type[APIError] | None = None) -> APIError:
        status = response.status_code
        message, code, type_ = _server_message(body, response.headers.get("content-type", ""))
        message = self._scrub(message) or response.reason_phrase or "no message"
        if kind is None:
            if status == 429:
                quota = "insufficient_quota" in (code, type_)
                kind = QuotaExceededError if quota else RateLimitError
            elif status in (401, 403):
                kind, message = AuthenticationError, message + " (check api_key / OPENAI_API_KEY)"
            elif status == 404:
                kind = NotFoundError
            elif status >= 500:
                kind = ServerError
            elif status in (400, 413, 422):
                kind = BadRequestError
            else:
                kind = APIError
        where = f"{response.request.method} {response.request.url.path}"
        return kind(
            f"{message} ({where})",
            status=status,
            code=code,
            type=type_,
            request_id=response.headers.get("x-request-id"),
        )
