"""An httpx transport that receives each response body straight into one buffer.

An embeddings response is megabytes of base64. Through httpcore and h11 every body was
copied three times in Python-level steps of 256 KiB (the socket's bytes, h11's buffer,
the chunk h11 cuts from it) and each step was a trip through anyio, h11, httpcore and
httpx: that was the largest part of the client's CPU. Here h11 still writes the request
and parses the response head (the protocol work), but a body with a ``Content-Length`` is
received by an :class:`asyncio.BufferedProtocol` whose buffer *is* the body: the kernel
copies the bytes into it and nothing else touches them. Bodies without a length
(chunked, or delimited by the connection closing) go through h11 as usual.

Connections are kept alive and pooled per origin, at most ``max_connections`` at once;
TLS uses one verifying context built once. Errors are httpx's (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``...), so callers handle them as from any httpx
transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import sys
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

__all__ = ["WireTransport", "make_transport"]

_SCRATCH = 1 << 18
_MAX_HEAD = 1 << 20
"""A response head larger than this is refused (no embeddings server sends one)."""


class _Closed(Exception):
    """The connection ended (the peer closed it, or it failed)."""


class _Protocol(asyncio.BufferedProtocol):
    """One connection's receiving side: small reads into a scratch buffer, a body into its own."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._scratch = bytearray(_SCRATCH)
        self._scratch_view = memoryview(self._scratch)
        self.pending = bytearray()
        """Bytes received outside a body buffer, not yet consumed."""
        self._target: memoryview | None = None
        self.filled = 0
        self.closed = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._can_write: asyncio.Future[None] | None = None
        self._paused = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        target = self._target
        if target is not None and self.filled < len(target):
            return target[self.filled :]
        return self._scratch_view

    def buffer_updated(self, nbytes: int) -> None:
        target = self._target
        if target is not None and self.filled < len(target):
            self.filled += nbytes
        else:
            self.pending += self._scratch_view[:nbytes]
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self.free()
        self._wake()
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)

    # used by _Connection
    def free(self) -> None:
        """Drop the buffers of a closed connection now: responses live in reference cycles
        (httpx's) until the garbage collector runs, and they lead here."""
        self._scratch = bytearray()
        self._scratch_view = memoryview(self._scratch)
        self.pending = bytearray()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more bytes arrive or the connection ends (``ReadTimeout`` after ``timeout``)."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            raise httpx.ReadTimeout(f"no data from the server for {timeout:g} s") from None
        finally:
            self._waiter = None

    async def drain(self, timeout: float | None) -> None:
        if not self._paused or self.closed:
            return
        self._can_write = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._can_write
        except TimeoutError:
            raise httpx.WriteTimeout(f"could not send the request within {timeout:g} s") from None
        finally:
            self._can_write = None

    def receive_into(self, target: bytearray) -> None:
        """From now on, bytes go into ``target`` until it is full; what is pending goes first."""
        view = memoryview(target)
        take = min(len(self.pending), len(view))
        view[:take] = self.pending[:take]
        del self.pending[:take]
        self._target = view
        self.filled = take

    def release_target(self) -> None:
        if self._target is not None:
            self._target.release()
            self._target = None
        self.filled = 0


class _BodyBuffers:
    """Body buffers handed back after use, for the next bodies of about the same size.

    A fresh 16 MB buffer costs zeroing and a page fault per 4 KiB at its first write; a
    buffer used before costs neither. Each is allocated with some slack and resized in
    place: a bytearray keeps its allocation when it shrinks by less than half or grows
    within it.
    """

    _HEADER = sys.getsizeof(bytearray())

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[bytearray] = []

    def take(self, length: int) -> bytearray:
        for i, buffer in enumerate(self._free):
            capacity = sys.getsizeof(buffer) - self._HEADER - 1
            if capacity // 2 <= length <= capacity:
                del self._free[i]
                if len(buffer) > length:
                    del buffer[length:]
                elif len(buffer) < length:
                    buffer += bytes(length - len(buffer))
                return buffer
        buffer = bytearray(length + length // 16)
        del buffer[length:]
        return buffer

    def give(self, buffer: bytearray) -> None:
        """``buffer`` is no longer used by anyone: keep it for a later body."""
        if len(self._free) < self._keep:
            self._free.append(buffer)


class _Connection:
    """A keep-alive HTTP/1.1 connection to one origin."""

    def __init__(self, protocol: _Protocol, origin: tuple[str, str, int], buffers: _BodyBuffers) -> None:
        self.protocol = protocol
        self.buffers = buffers
        self.origin = origin
        self.reusable = True
        self.lent_by: WireTransport | None = None
        """The pool this connection is lent out by, while a request uses it."""

    @property
    def usable(self) -> bool:
        p = self.protocol
        return (
            self.reusable
            and not p.closed
            and not p.pending
            and p.transport is not None
            and not p.transport.is_closing()
        )

    def close(self) -> None:
        self.reusable = False
        if self.protocol.transport is not None:
            self.protocol.transport.close()

    async def send(self, request: httpx.Request, timeouts: dict[str, float | None]) -> httpx.Response:
        protocol = self.protocol
        assert protocol.transport is not None
        h = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        body = await request.aread()
        target = request.url.raw_path
        wire = (
            h.send(h11.Request(method=request.method, target=target, headers=list(request.headers.raw)))
            or b""
        )
        if body:
            wire += h.send(h11.Data(data=body)) or b""
        wire += h.send(h11.EndOfMessage()) or b""
        if protocol.closed:
            raise httpx.RemoteProtocolError("the server closed the connection before the request was sent")
        protocol.transport.write(wire)
        await protocol.drain(timeouts.get("write"))
        read_timeout = timeouts.get("read")
        while True:
            event = await self._next_event(h, read_timeout)
            if isinstance(event, h11.InformationalResponse):
                continue
            assert isinstance(event, h11.Response)
            break
        headers = [(bytes(k), bytes(v)) for k, v in event.headers.raw_items()]
        keep_alive = event.http_version == b"1.1" and not _has_token(headers, b"connection", b"close")
        length = _content_length(headers)
        chunked = _has_token(headers, b"transfer-encoding", b"chunked")
        stream: httpx.AsyncByteStream
        if length is not None and not chunked:
            leftover, _ = h.trailing_data
            protocol.pending[:0] = leftover
            stream = _FixedBody(self, length, read_timeout, keep_alive)
        else:
            stream = _H11Body(self, h, read_timeout)
        return httpx.Response(
            status_code=event.status_code,
            headers=headers,
            stream=stream,
            extensions={"http_version": b"HTTP/" + event.http_version, "reason_phrase": event.reason},
        )

    async def _next_event(self, h: h11.Connection, timeout: float | None) -> Any:
        """h11's next event, feeding it what arrives (and the end of the connection)."""
        protocol = self.protocol
        ended = False
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is h11.NEED_DATA:
                if ended:
                    raise httpx.RemoteProtocolError(
                        "the server disconnected without sending a complete response"
                    )
                if protocol.pending:
                    data = bytes(protocol.pending)
                    protocol.pending.clear()
                    h.receive_data(data)
                elif protocol.closed:
                    if protocol.error is not None:  # reset or failed, not a clean close
                        raise httpx.ReadError(f"connection lost: {protocol.error}")
                    h.receive_data(b"")
                    ended = True
                else:
                    await protocol.wait(timeout)
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without a complete response"
                )
            return event


class _FixedBody(httpx.AsyncByteStream):
    """A body of known length, received into one buffer and yielded as one chunk."""

    def __init__(self, conn: _Connection, length: int, timeout: float | None, keep_alive: bool) -> None:
        self._conn: _Connection | None = conn
        self._length = length
        self._timeout = timeout
        self._keep_alive = keep_alive
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        protocol = conn.protocol
        buffer = conn.buffers.take(self._length)
        protocol.receive_into(buffer)
        try:
            while protocol.filled < self._length:
                if protocol.closed:
                    raise httpx.RemoteProtocolError(
                        f"the server closed the connection after {protocol.filled} of {self._length} body bytes"
                    )
                await protocol.wait(self._timeout)
        finally:
            protocol.release_target()
        self.done = True
        if not self._keep_alive or protocol.pending:
            conn.reusable = False  # more bytes than the length said: never reuse
        yield buffer  # type: ignore[misc]  # a bytearray is a bytes-like chunk for every consumer here

    async def aclose(self) -> None:
        if self._conn is not None:
            await _release(self._conn, self.done)
            self._conn = None  # the response may outlive this in a reference cycle


class _H11Body(httpx.AsyncByteStream):
    """A body without a length (chunked or to the end of the connection), through h11."""

    def __init__(self, conn: _Connection, h: h11.Connection, timeout: float | None) -> None:
        self._conn: _Connection | None = conn
        self._h = h
        self._timeout = timeout
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        while True:
            event = await conn._next_event(self._h, self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        self.done = True
        if self._h.our_state is not h11.DONE or self._h.their_state is not h11.DONE:
            conn.reusable = False

    async def aclose(self) -> None:
        if self._conn is not None:
            await _release(self._conn, self.done)
            self._conn = None  # the response may outlive this in a reference cycle


async def _release(conn: _Connection, done: bool) -> None:
    """The response is closed: a body not read to its end leaves the connection unusable."""
    if not done:
        conn.close()
    if conn.lent_by is not None:
        conn.lent_by.give_back(conn)


class WireTransport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 connections; see the module docstring."""

    def __init__(self, *, max_connections: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl = ssl_context
        self._open: set[_Connection] = set()
        self._buffers = _BodyBuffers(keep=max_connections)

    def recycle(self, body: bytearray) -> None:
        """Hand back a body this transport gave out, once nothing refers to it any more
        (the caller's promise): the next body of about its size is received into it."""
        self._buffers.give(body)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts: dict[str, float | None] = dict(request.extensions.get("timeout", {}))
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection became free in time") from None
        try:
            origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
            conn = self._checkout(origin)
            if conn is None:
                conn = await self._connect(origin, timeouts.get("connect"))
        except BaseException:
            self._slots.release()
            raise
        conn.lent_by = self
        try:
            return await conn.send(request, timeouts)
        except BaseException:
            conn.close()
            self.give_back(conn)
            raise

    def give_back(self, conn: _Connection) -> None:
        """The response is finished with: keep the connection for the next request, or drop it."""
        if conn.lent_by is not self:
            return
        conn.lent_by = None
        if conn.usable:
            self._idle.setdefault(conn.origin, []).append(conn)
        else:
            conn.close()
            self._open.discard(conn)
        self._slots.release()

    def _checkout(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin, [])
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
            self._open.discard(conn)
        return None

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            context = self._ssl or _ssl_context()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    _Protocol, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"could not connect to {host}:{port} within {timeout:g} s") from None
        except OSError as exc:
            raise httpx.ConnectError(f"could not connect to {host}:{port}: {exc}") from exc
        conn = _Connection(protocol, origin, self._buffers)
        self._open.add(conn)
        return conn

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
            conn.protocol.free()
        self._open.clear()
        self._idle.clear()
        self._buffers = _BodyBuffers(keep=0)
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value)  # h11 has checked it is a number
    return None


def _has_token(headers: list[tuple[bytes, bytes]], name: bytes, token: bytes) -> bool:
    return any(k.lower() == name and token in (t.strip().lower() for t in v.split(b",")) for k, v in headers)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once: loading the CA bundle takes ~30 ms,
    and a context is safe to share between connections."""
    return httpx.create_ssl_context()


def make_transport(max_connections: int) -> WireTransport:
    """The job's transport: :class:`WireTransport` with at most ``max_connections`` connections."""
    return WireTransport(max_connections=max_connections)
