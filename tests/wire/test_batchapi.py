"""The Files/Batches client: streamed lines, retries, errors, the queue-limit test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from embedframe import EmbedConfig, NotFoundError
from embedframe._wire.batchapi import BatchAPI, is_queue_limit

CONFIG = EmbedConfig(
    base_url="http://127.0.0.1:9/v1", api_key="sk-test-key-12345678", wait_initial=0.001, wait_max=0.002
)


def run_lines(handler: httpx.MockTransport) -> list[bytes]:
    async def go() -> list[bytes]:
        async with httpx.AsyncClient(transport=handler) as client:
            return [line async for line in BatchAPI(CONFIG, client).lines("file-1")]

    return asyncio.run(go())


def test_long_lines_across_chunks() -> None:
    """Lines of hundreds of kilobytes, split across the stream's chunks, come out whole."""
    lines = [bytes([65 + i]) * (700_000 + i) for i in range(4)]
    body = b"\n".join(lines) + b"\n\n"

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65_536):
            yield body[i : i + 65_536]

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=stream()))
    assert run_lines(transport) == lines


def test_retries_then_errors() -> None:
    """A 503 is retried; a 404 raises NotFoundError with the server's message, key never shown."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return httpx.Response(200, content=b'{"a":1}\n{"b":2}')

    assert run_lines(httpx.MockTransport(handler)) == [b'{"a":1}', b'{"b":2}']
    assert len(calls) == 2
    gone = httpx.MockTransport(
        lambda request: httpx.Response(404, json={"error": {"message": "No such File sk-test-key-12345678"}})
    )
    with pytest.raises(NotFoundError, match="No such File") as caught:
        run_lines(gone)
    assert "sk-test-key-12345678" not in str(caught.value)


def test_queue_limit_errors() -> None:
    """token_limit_exceeded, by code or in the message, is the queue being full."""
    assert is_queue_limit("token_limit_exceeded", None)
    assert is_queue_limit(None, "Enqueued token limit reached for text-embedding-3-small")
    assert not is_queue_limit("invalid_request_error", "bad file")
