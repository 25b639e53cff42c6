"""The HTTP transport against real sockets on loopback: keep-alive, body framing, errors, TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme

from embedframe._wire.transport import WireTransport

Reply = Callable[[bytes, socket.socket], bool]
"""Given a request's bytes, write a response to the socket; return False to close it after."""


class RawServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that answers with hand-written bytes."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}/v1/embeddings"

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, rest = buffered.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += sock.recv(65536)
                request, buffered = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.requests.append(request)
                if not self.reply(request, sock):
                    return
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(reply, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def fixed(body: bytes, *extra: bytes) -> Reply:
    def reply(_request: bytes, sock: socket.socket) -> bool:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
        sock.sendall(head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body)
        return not any(h.lower() == b"connection: close" for h in extra)

    return reply


async def post(
    transport: WireTransport, url: str, content: bytes = b"{}", **options: Any
) -> tuple[int, bytes]:
    async with (
        httpx.AsyncClient(transport=transport, **options) as client,
        client.stream("POST", url, content=content) as response,
    ):
        return response.status_code, b"".join([bytes(c) async for c in response.aiter_raw()])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_body_with_a_length_arrives_whole_as_one_buffer(serve: Callable[..., RawServer]) -> None:
    """A Content-Length body (3 MB, larger than any socket read) comes back byte for byte, in one chunk."""
    body = bytes(range(256)) * (3 * 4096)
    server = serve(fixed(body))

    async def go() -> list[Any]:
        async with (
            httpx.AsyncClient(transport=WireTransport(max_connections=2)) as client,
            client.stream("POST", server.url, content=b"{}") as response,
        ):
            return [c async for c in response.aiter_raw()]

    chunks = run(go())
    assert len(chunks) == 1 and isinstance(chunks[0], bytearray) and chunks[0] == body


def test_connections_are_kept_alive_and_reused(serve: Callable[..., RawServer]) -> None:
    """Ten requests one after another use one connection; the request bytes arrive intact."""
    server = serve(fixed(b'{"ok":true}'))

    async def go() -> list[int]:
        transport = WireTransport(max_connections=4)
        async with httpx.AsyncClient(transport=transport) as client:
            statuses = []
            for i in range(10):
                async with client.stream("POST", server.url, content=b'{"n":%d}' % i) as response:
                    await response.aread()
                    statuses.append(response.status_code)
            return statuses

    assert run(go()) == [200] * 10
    assert server.connections == 1
    assert [r.endswith(b'{"n":%d}' % i) for i, r in enumerate(server.requests)] == [True] * 10


def test_connection_close_is_honoured(serve: Callable[..., RawServer]) -> None:
    """A response saying 'connection: close' is not reused: the next request opens a new connection."""
    server = serve(fixed(b"{}", b"connection: close"))

    async def go() -> None:
        async with httpx.AsyncClient(transport=WireTransport(max_connections=1)) as client:
            for _ in range(3):
                async with client.stream("POST", server.url, content=b"{}") as response:
                    await response.aread()

    run(go())
    assert server.connections == 3


def test_concurrency_never_exceeds_max_connections(serve: Callable[..., RawServer]) -> None:
    """Twenty concurrent requests through a pool of 3 open at most 3 connections."""
    import time

    def slow(request: bytes, sock: socket.socket) -> bool:
        time.sleep(0.02)
        return fixed(b"{}")(request, sock)

    server = serve(slow)

    async def go() -> None:
        async with httpx.AsyncClient(transport=WireTransport(max_connections=3)) as client:

            async def one() -> None:
                async with client.stream("POST", server.url, content=b"{}") as response:
                    await response.aread()

            await asyncio.gather(*(one() for _ in range(20)))

    run(go())
    assert server.connections <= 3
    assert len(server.requests) == 20


def test_a_chunked_body_is_read_through_h11(serve: Callable[..., RawServer]) -> None:
    """A chunked response (as Go servers such as Ollama send) is joined correctly and the connection reused."""
    parts = [b'{"data":', b"[1,2,3]", b"}"]

    def chunked(_request: bytes, sock: socket.socket) -> bool:
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        sock.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body)
        return True

    server = serve(chunked)

    async def go() -> list[tuple[int, bytes]]:
        transport = WireTransport(max_connections=1)
        return [await post(transport, server.url), await post(transport, server.url)]

    assert run(go()) == [(200, b"".join(parts))] * 2


def test_a_body_ended_by_closing_the_connection(serve: Callable[..., RawServer]) -> None:
    """An HTTP/1.0-style body with no length, ended by the server closing, is read to its end."""

    def until_close(_request: bytes, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n" + b'{"x":1}')
        return False

    server = serve(until_close)
    assert run(post(WireTransport(max_connections=1), server.url)) == (200, b'{"x":1}')


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part of it",
        b"HTTP/1.1 200 OK\r\ncontent-len",
        b"",
    ],
    ids=["short-body", "cut-head", "nothing"],
)
def test_a_cut_response_is_a_protocol_error(serve: Callable[..., RawServer], raw: bytes) -> None:
    """A connection closed mid-head or mid-body raises httpx.RemoteProtocolError, never a short body."""

    def cut(_request: bytes, sock: socket.socket) -> bool:
        sock.sendall(raw)
        return False

    server = serve(cut)
    with pytest.raises(httpx.RemoteProtocolError):
        run(post(WireTransport(max_connections=1), server.url))


def test_extra_bytes_after_a_body_spoil_the_connection(serve: Callable[..., RawServer]) -> None:
    """Bytes beyond Content-Length are not taken as the next response: that connection is dropped."""

    def extra(_request: bytes, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}GARBAGE")
        return True

    server = serve(extra)

    async def go() -> list[tuple[int, bytes]]:
        transport = WireTransport(max_connections=1)
        first = await post(transport, server.url)
        await asyncio.sleep(0.05)
        return [first, await post(transport, server.url)]

    assert run(go()) == [(200, b"{}")] * 2
    assert server.connections == 2


def test_a_silent_server_times_out(serve: Callable[..., RawServer]) -> None:
    """A server that never answers raises httpx.ReadTimeout after the read timeout."""
    import time

    server = serve(lambda _r, _s: time.sleep(2) or False)
    with pytest.raises(httpx.ReadTimeout):
        run(post(WireTransport(max_connections=1), server.url, timeout=httpx.Timeout(0.2)))


def test_a_refused_connection_is_a_connect_error() -> None:
    """Nothing listening on the port raises httpx.ConnectError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        run(post(WireTransport(max_connections=1), f"http://127.0.0.1:{port}/v1/embeddings"))


def test_https_with_a_verified_certificate(serve: Callable[..., RawServer]) -> None:
    """TLS works and verifies: a trusted CA succeeds, an untrusted one fails with ConnectError."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    body = b"x" * 1_000_000
    server = serve(fixed(body), tls=server_ctx)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    assert run(post(WireTransport(max_connections=1, ssl_context=trusted), server.url)) == (200, body)
    with pytest.raises(httpx.ConnectError):
        run(post(WireTransport(max_connections=1, ssl_context=ssl.create_default_context()), server.url))


def test_a_recycled_body_buffer_receives_the_next_body(serve: Callable[..., RawServer]) -> None:
    """A body handed back with recycle() is reused (same object) for the next body of about its size."""
    bodies = iter([b"a" * 100_000, b"b" * 99_000, b"c" * 100_500])

    def reply(request: bytes, sock: socket.socket) -> bool:
        return fixed(next(bodies))(request, sock)

    server = serve(reply)

    async def go() -> list[tuple[int, bytes]]:
        transport = WireTransport(max_connections=1)
        seen = []
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                async with client.stream("POST", server.url, content=b"{}") as response:
                    [chunk] = [c async for c in response.aiter_raw()]
                seen.append((id(chunk), bytes(chunk)))
                transport.recycle(chunk)
        return seen

    seen = run(go())
    assert [len(b) for _, b in seen] == [100_000, 99_000, 100_500]
    assert [set(b) for _, b in seen] == [{ord("a")}, {ord("b")}, {ord("c")}]
    assert seen[0][0] == seen[1][0] == seen[2][0]


def test_a_compressed_body_is_decompressed_by_httpx(serve: Callable[..., RawServer]) -> None:
    """A gzip body (servers may compress: httpx asks for it) comes back decompressed through httpx."""
    import gzip

    plain = b'{"data":[]}' * 10_000
    server = serve(fixed(gzip.compress(plain), b"content-encoding: gzip"))

    async def go() -> bytes:
        async with httpx.AsyncClient(transport=WireTransport(max_connections=1)) as client:
            response = await client.post(server.url, content=b"{}")
            return response.content

    assert run(go()) == plain
    assert b"accept-encoding: gzip" in server.requests[0].lower()


def test_a_reset_mid_body_is_an_error_not_a_short_body(serve: Callable[..., RawServer]) -> None:
    """A read-to-close body cut by a connection reset (RST) raises a transport error; it is never taken as complete."""
    import struct
    import time

    def reset(_request: bytes, sock: socket.socket) -> bool:
        sock.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n" + b'{"data":[1,2')
        time.sleep(0.1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        return False

    server = serve(reset)
    with pytest.raises(httpx.TransportError):
        run(post(WireTransport(max_connections=1), server.url))
