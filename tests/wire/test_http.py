"""Retries and errors against a server that fails on purpose."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import embedframe
from embedframe import (
    AuthenticationError,
    BadRequestError,
    EmbedConfig,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    to_numpy,
)
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, Fault, vector_for_text

TEXTS = [f"retry text {i}" for i in range(10)]


def expected() -> np.ndarray:
    return np.stack([vector_for_text(t, DIM) for t in TEXTS])


@pytest.mark.parametrize(
    "fault",
    [
        Fault("429", retry_after="0"),
        Fault("429", retry_after_ms="10"),
        Fault("429"),
        Fault("500"),
        Fault("502_html"),
        Fault("503"),
        Fault("drop"),
        Fault("bad_json"),
        Fault("wrong_count"),
        Fault("nan"),
        Fault("inf"),
        Fault("wrong_dim"),
    ],
    ids=lambda f: f"{f.kind}-{f.retry_after}-{f.retry_after_ms}",
)
def test_transient_failure_is_retried_then_succeeds(
    server: FakeServer, config: EmbedConfig, fault: Fault
) -> None:
    """A failed or garbled response is retried and the job ends with the right vectors."""
    server.inject(fault)
    out = embedframe.embed(TEXTS, config=config)
    assert len(server.requests) == 2 and server.requests[1].status == 200
    assert np.allclose(to_numpy(out), expected(), atol=1e-6)
    assert out.attrs["embedframe"]["retries"] == 1


def test_retry_after_is_honoured(server: FakeServer, config: EmbedConfig) -> None:
    """'Please try again in ...' with a retry-after header is waited out, then the job completes."""
    server.inject(Fault("429", retry_after="0.2"))
    out = embedframe.embed(TEXTS, config=config)
    assert out.attrs["embedframe"]["rate_limited"] == 1
    assert out.attrs["embedframe"]["seconds"] >= 0.2


def test_hung_request_times_out_and_is_retried(server: FakeServer, config: EmbedConfig) -> None:
    """A server that never answers hits the per-request timeout, and the retry succeeds."""
    server.inject(Fault("hang", hang_s=5))
    out = embedframe.embed(TEXTS, config=config, timeout=0.5)
    assert np.allclose(to_numpy(out), expected(), atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("400", BadRequestError),
        ("401", AuthenticationError),
        ("404", NotFoundError),
        ("429_quota", QuotaExceededError),
    ],
)
def test_non_retryable_errors_fail_fast(
    server: FakeServer, config: EmbedConfig, kind: str, error: type
) -> None:
    """400, 401, 404 and insufficient_quota are not retried: one request, the server's message."""
    server.inject(kind)
    with pytest.raises(error) as info:
        embedframe.embed(TEXTS, config=config)
    assert len(server.requests) == 1
    assert info.value.status == int(kind[:3])
    assert API_KEY not in str(info.value)


def test_quota_message_says_what_to_do(server: FakeServer, config: EmbedConfig) -> None:
    """insufficient_quota names the cause and the fix."""
    server.inject("429_quota")
    with pytest.raises(QuotaExceededError, match="out of quota"):
        embedframe.embed(TEXTS, config=config)


def test_wrong_key_is_an_authentication_error_without_the_key(
    server: FakeServer, config: EmbedConfig
) -> None:
    """A rejected key gives AuthenticationError whose message never shows the key."""
    with pytest.raises(AuthenticationError) as info:
        embedframe.embed(TEXTS, config=config, api_key="sk-wrong-key-0000000000")
    assert "sk-wrong-key-0000000000" not in str(info.value) and len(server.requests) == 1


def test_retries_run_out_with_a_clear_error(server: FakeServer, config: EmbedConfig) -> None:
    """A server that keeps failing raises after max_retries retries, with its status."""
    server.inject(*["500"] * 3)
    with pytest.raises(ServerError, match="HTTP 500"):
        embedframe.embed(TEXTS, config=config, max_retries=2)
    assert len(server.requests) == 3


def test_persistent_bad_vectors_are_never_written(server: FakeServer, config: EmbedConfig) -> None:
    """A server that keeps sending NaN gives a ResponseError, never a NaN vector."""
    server.inject(*["nan"] * 3)
    with pytest.raises(ResponseError, match="NaN"):
        embedframe.embed(TEXTS, config=config, max_retries=2)


def test_dropped_connections_run_out_as_transport_error(server: FakeServer, config: EmbedConfig) -> None:
    """Connections dropped on every try end as TransportError naming the endpoint."""
    server.inject(*["drop"] * 2)
    with pytest.raises(TransportError, match="embeddings"):
        embedframe.embed(TEXTS, config=config, max_retries=1)


def test_retry_after_longer_than_patience_stops(server: FakeServer, config: EmbedConfig) -> None:
    """A Retry-After beyond max_retry_wait stops the job at once and says when to run again."""
    server.inject(Fault("429", retry_after="3600"))
    with pytest.raises(RateLimitError, match="run again after"):
        embedframe.embed(TEXTS, config=config, max_retry_wait=5)
    assert len(server.requests) == 1


def test_html_error_page_message_is_readable(server: FakeServer, config: EmbedConfig) -> None:
    """A proxy's HTML 502 page becomes a short readable message."""
    server.inject(*["502_html"] * 2)
    with pytest.raises(ServerError, match="502 Bad Gateway") as info:
        embedframe.embed(TEXTS, config=config, max_retries=1)
    assert "<html>" not in str(info.value)


def test_unreachable_server_is_a_transport_error(config: EmbedConfig) -> None:
    """Nothing listening on the port gives TransportError after the retries."""
    with FakeServer(dim=4) as srv:
        url = srv.url
    with pytest.raises(TransportError):
        embedframe.embed(["x"], config=config.replace(base_url=url, max_retries=1))


class _ForwardingProxy:
    """A plain HTTP forward proxy on loopback that records the URLs it was asked for."""

    def __init__(self) -> None:
        import http.client
        import http.server
        import threading
        from urllib.parse import urlsplit

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                seen.append(self.path)
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers["content-length"]))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")
                }
                upstream.request("POST", target.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("bypass", [False, True])
def test_proxy_from_the_environment(
    server: FakeServer, config: EmbedConfig, monkeypatch: pytest.MonkeyPatch, bypass: bool
) -> None:
    """HTTP_PROXY routes the job through the proxy (as httpx and the SDK do); NO_PROXY for the host bypasses it."""
    proxy = _ForwardingProxy()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        if bypass:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        got = embedframe.embed(TEXTS, config=config.replace(max_inputs_per_request=4))
        np.testing.assert_array_equal(to_numpy(got), expected())
        assert len(server.requests) == 3
        assert proxy.seen == ([] if bypass else [server.url + "/embeddings"] * 3)
    finally:
        proxy.close()


def test_x_should_retry_from_the_server_decides(config: EmbedConfig) -> None:
    """x-should-retry: false stops at the first 503; x-should-retry: true retries a 400 until it succeeds."""
    from tests.support.hookserver import Answer, Handler, HookedServer, json_error

    class Refuse(Handler):
        def answer(self, plan: Any, rec: Any) -> Answer:
            if self.number == 1:
                status = 503 if self.server.fake.kind == "503" else 400
                return status, json_error({"error": {"message": "not now", "type": "x"}}), "application/json"
            return None

        def extra_headers(self, status: int) -> list[tuple[str, str]]:
            return [("x-should-retry", "false" if status == 503 else "true")] if status != 200 else []

    for kind, fails in (("503", True), ("400", False)):
        with HookedServer(Refuse, dim=DIM) as srv:
            srv.kind = kind  # type: ignore[attr-defined]
            cfg = config.replace(base_url=srv.url, max_retries=3)
            if fails:
                with pytest.raises(ServerError):
                    embedframe.embed(TEXTS, config=cfg)
                assert len(srv.requests) == 1
            else:
                np.testing.assert_array_equal(to_numpy(embedframe.embed(TEXTS, config=cfg)), expected())
                assert len(srv.requests) == 2


@pytest.mark.parametrize(
    ("kind", "resumable"),
    [("401", False), ("404", False), ("400", False), ("429_quota", False), ("500", True)],
)
def test_errors_say_whether_running_again_can_help(
    server: FakeServer, config: EmbedConfig, kind: str, resumable: bool
) -> None:
    """A wrong key, model or request needs a change before a rerun; a server failure does not."""
    server.inject(*[kind] * 2)
    with pytest.raises(embedframe.EmbedFrameError) as info:
        embedframe.embed(TEXTS, config=config, max_retries=1)
    assert info.value.resumable is resumable


NO_SUCH_HOST = "embeddings.no-such-host.example"


def test_an_unknown_host_names_the_host_and_the_network(
    config: EmbedConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name the resolver does not know fails at once (not retried) with a message naming the host,
    the DNS and the network, not timeout= or max_retries= (which cannot help)."""
    import socket

    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NO_SUCH_HOST:  # what a resolver answers for a name that does not exist
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    lookups = []
    for retries in (0, 3):
        asked.clear()
        with pytest.raises(TransportError) as info:
            embedframe.embed(
                ["x"], config=config.replace(base_url=f"https://{NO_SUCH_HOST}/v1", max_retries=retries)
            )
        lookups.append(len(asked))
        message = str(info.value)
        assert NO_SUCH_HOST in message and "DNS" in message and "network" in message
        assert "timeout=" not in message and "max_retries=" not in message
        assert info.value.resumable is False
    assert lookups[0] == lookups[1]  # not retried
