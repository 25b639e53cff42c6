"""An httpx transport that reads large response bodies in large pieces.

httpcore reads at most 64 KiB per socket read, and each read costs a trip through h11 and
httpx in Python. An embeddings response is megabytes of base64, so that per-read cost
dominated the client's CPU. httpcore lets the network backend be swapped (a public
extension point); ours asks the socket for up to 1 MiB per read, whatever is buffered,
and changes nothing else: TLS, keep-alive, pooling and limits stay httpcore's.
"""

from __future__ import annotations

import functools
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx

__all__ = ["READ_BYTES", "WideReadBackend", "make_transport"]

READ_BYTES = 1 << 20


class _WideStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max(max_bytes, READ_BYTES), timeout=timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout=timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _WideStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class WideReadBackend(httpcore.AsyncNetworkBackend):
    """httpcore's default backend, with socket reads of up to :data:`READ_BYTES`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _WideStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[typing.Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)
        return _WideStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once: loading the CA bundle takes ~30 ms,
    and a context is safe to share between connections."""
    return httpx.create_ssl_context()


def make_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """An ``httpx.AsyncHTTPTransport`` whose connection pool uses :class:`WideReadBackend`.

    Falls back to the plain transport if this httpx does not keep its pool where we
    expect (the speed-up is then lost, nothing else).
    """
    context = _ssl_context()
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=context)
    if isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=WideReadBackend(),
        )
    return transport
