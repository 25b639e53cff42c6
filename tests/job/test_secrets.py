"""The API key never leaks: not in messages, logs, reprs, progress bars, Parquet files or the
cache, whatever path a job takes; keys over plain http warn; `embedframe serve` guards its key."""

from __future__ import annotations

import json
import logging
import traceback
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, EmbedFrameError
from tests.support.fakeserver import Fault, RecordedRequest, _Plan
from tests.support.hookserver import Answer, Handler, HookedServer

KEY = "sk-proj-LEAKCHECK-7f3a9c1e5b2d4086a1c3e5f7"
HEADER_SECRET = "hdr-LEAKCHECK-0a1b2c3d4e5f"
PARTS = [KEY, KEY[:16], KEY[8:], KEY[-16:], HEADER_SECRET]
"""The key, and pieces of it long enough to identify it."""


def assert_clean(where: str, text: str | bytes) -> None:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    for secret in PARTS:
        assert secret.encode() not in data, f"the key is in {where}"


def error_artefacts(exc: BaseException) -> str:
    """Everything an exception shows: str, repr, args, attributes, and the whole chained traceback."""
    parts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    parts += [repr(v) for v in vars(exc).values()]
    cause: BaseException | None = exc
    while cause is not None:
        parts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


class _Echo(Handler):
    """A careless server: it puts the Authorization header it received into its answers."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        mode = self.server.fake.mode  # type: ignore[attr-defined]
        auth = self.headers.get("authorization", "") + " " + self.headers.get("x-extra-secret", "")
        if mode == "ok":
            return None
        if mode == "400":
            body = {"error": {"message": f"Bad request from {auth}", "type": "invalid_request_error"}}
            return 400, json.dumps(body).encode(), "application/json"
        if mode == "401-detail":
            return 401, json.dumps({"detail": f"Key {auth} is not valid"}).encode(), "application/json"
        if mode == "500-text":
            return 500, f"crash while handling {auth}".encode(), "text/plain"
        if mode == "502-html":
            return 502, f"<html><title>Bad gateway for {auth}</title></html>".encode(), "text/html"
        if mode == "200-garbage":
            return 200, f"not json {auth}".encode(), "application/json"
        if mode == "200-garbage-cut":  # the key straddles where the message cuts the body
            return 200, ("x" * 55 + auth).encode(), "application/json"
        if mode == "400-long":  # ... and where a long server message is cut
            body = {"error": {"message": "y" * 470 + auth, "type": "invalid_request_error"}}
            return 400, json.dumps(body).encode(), "application/json"
        if mode == "200-bad-shape":
            return 200, json.dumps({"data": f"{auth}"}).encode(), "application/json"
        raise AssertionError(mode)

    def extra_headers(self, status: int) -> list[tuple[str, str]]:
        return [("x-request-id", "req-echo-1")]


@pytest.fixture
def echo() -> Any:
    with HookedServer(_Echo, dim=8) as srv:
        srv.mode = "ok"  # type: ignore[attr-defined]
        yield srv


def config_for(srv: HookedServer, tmp_path: Path, **changes: Any) -> EmbedConfig:
    options: dict[str, Any] = {
        "base_url": srv.url,
        "api_key": KEY,
        "headers": {"x-extra-secret": HEADER_SECRET},
        "progress": False,
        "wait_initial": 0.01,
        "wait_max": 0.02,
        "max_retries": 1,
        "timeout": 0.5,
        "cache": tmp_path / "cache",
    }
    return EmbedConfig(**{**options, **changes})


@pytest.mark.parametrize(
    "mode",
    [
        "400",
        "400-long",
        "401-detail",
        "500-text",
        "502-html",
        "200-garbage",
        "200-garbage-cut",
        "200-bad-shape",
    ],
)
def test_a_server_echoing_the_key_does_not_leak_it(echo: HookedServer, tmp_path: Path, mode: str) -> None:
    """Whatever a server echoes in an error or a broken answer, the key is not in the exception, its chain or traceback."""
    echo.mode = mode  # type: ignore[attr-defined]
    with pytest.raises(EmbedFrameError) as info:
        embedframe.embed(["a", "b"], config=config_for(echo, tmp_path))
    assert echo.requests and echo.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert_clean(f"a {mode} error", error_artefacts(info.value))


def test_transport_errors_do_not_leak_the_key(tmp_path: Path) -> None:
    """Dropped and timed-out connections, and a port with nothing on it, give errors without the key."""
    with HookedServer(dim=8) as srv:
        cfg = config_for(srv, tmp_path)
        for fault in (Fault("drop"), Fault("hang", hang_s=1.0)):
            srv.inject(fault, fault)
            with pytest.raises(embedframe.TransportError) as info:
                embedframe.embed(["a"], config=cfg)
            assert_clean(f"a {fault.kind} error", error_artefacts(info.value))
        url = srv.url
    with pytest.raises(embedframe.TransportError) as info:
        embedframe.embed(["a"], config=cfg.replace(base_url=url))
    assert_clean("a connection error", error_artefacts(info.value))


def test_every_artefact_of_a_run_is_clean(
    echo: HookedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Progress bar, DEBUG logs, attrs, Parquet files, cache files and reprs of a real run hold the key nowhere."""
    caplog.set_level(logging.DEBUG)
    cfg = config_for(echo, tmp_path, progress=True)
    df = pd.DataFrame({"text": [f"row {i}" for i in range(50)] + [None]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = df.embed("text", config=cfg, details=True)
        chunks = df.embed.chunks("text", config=cfg)
        out.embed.to_parquet(tmp_path / "a.parquet", text_hash_column="text")
        embedframe.write_parquet(out, tmp_path / "b.parquet")
        estimate = df.embed.estimate("text", config=cfg)
    captured = capsys.readouterr()
    assert echo.requests and all(r.headers["authorization"] == f"Bearer {KEY}" for r in echo.requests)
    assert all(r.headers["x-extra-secret"] == HEADER_SECRET for r in echo.requests)
    assert "embedding" in captured.err, "the progress bar was shown"
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records), "DEBUG logs were captured"

    assert_clean("stderr / stdout", captured.err + captured.out)
    assert_clean(
        "logs", "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records) + caplog.text
    )
    assert_clean("warnings", "\n".join(str(w.message) for w in caught))
    assert_clean("result attrs", repr(out.attrs) + repr(chunks.attrs) + repr(out.to_dict()))
    assert_clean(
        "reprs", repr(cfg) + str(cfg) + repr(estimate) + repr(embedframe.VectorCache(tmp_path / "cache"))
    )
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert any(p.suffix == ".parquet" for p in files) and any("cache" in p.parts for p in files)
    for path in files:
        assert_clean(str(path), path.read_bytes())
    back = embedframe.read_parquet(tmp_path / "a.parquet")
    assert_clean(
        "provenance", json.dumps(embedframe.read_provenance(tmp_path / "a.parquet")) + repr(back.attrs)
    )


def test_key_in_headers_or_url_is_not_in_the_repr(tmp_path: Path) -> None:
    """Config reprs hide the key, header values, and a password or query in base_url."""
    cfg = EmbedConfig(
        api_key=KEY,
        base_url=f"https://user:{KEY[8:]}@api.example.com/v1?token={HEADER_SECRET}",
        headers={"x-extra-secret": HEADER_SECRET},
    )
    assert_clean("a config repr", repr(cfg) + cfg.public_endpoint)
    assert_clean("a replaced config repr", repr(cfg.replace(dimensions=8)))


# ------------------------------------------------------------------ plain http warning


@pytest.mark.parametrize(
    ("base_url", "warns"),
    [
        ("http://example.com/v1", True),
        ("http://10.0.0.5:8000/v1", True),
        ("http://embeddings.internal/v1", True),
        ("https://example.com/v1", False),
        ("http://127.0.0.1:8000/v1", False),
        ("http://127.8.9.10:8000/v1", False),
        ("http://localhost:8000/v1", False),
        ("http://[::1]:8000/v1", False),
    ],
)
def test_a_key_over_plain_http_beyond_loopback_warns(base_url: str, warns: bool) -> None:
    """A key bound for a non-loopback host over http:// warns (naming the host, not the key); https and loopback do not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EmbedConfig(api_key=KEY, base_url=base_url)
        EmbedConfig(base_url=base_url)  # no key, nothing to warn about
    messages = [str(w.message) for w in caught]
    assert len(messages) == (1 if warns else 0), messages
    if warns:
        assert "unencrypted" in messages[0]
        assert_clean("the warning", messages[0])


# ----------------------------------------------------------------------- embedframe serve


def _serve_module() -> Any:
    from embedframe import local

    if not local.is_available():
        pytest.skip("embedframe[local] is not installed")
    from embedframe import serve

    return serve


def test_serve_compares_keys_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bearer key is checked with hmac.compare_digest (constant time), right or wrong, any length."""
    import asyncio
    import hmac

    import httpx

    serve = _serve_module()
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(serve.hmac, "compare_digest", spy)

    async def main() -> list[int]:
        app = serve.create_app(api_key=KEY)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as c:
            statuses = []
            for sent in ("x", KEY[:-1], KEY + "x", "wrong" * 20, KEY):
                r = await c.get("/v1/models", headers={"authorization": f"Bearer {sent}"})
                statuses.append(r.status_code)
                assert_clean("a serve answer", r.content) if sent != KEY else None
            return statuses

    assert asyncio.run(main()) == [401, 401, 401, 401, 200]
    assert len(calls) == 5 and all(b == KEY.encode() for _, b in calls)


def test_serve_binds_loopback_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve() binds 127.0.0.1 by default and never prints its key; another address without a key warns."""
    serve = _serve_module()
    import uvicorn

    bound: list[str] = []

    def run(self: Any, sockets: list[Any]) -> None:  # stands in for serving: records, then lets go
        bound.append(self.config.host)
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve.serve(api_key=KEY, preload=False, port=0)
    serve.serve(host="0.0.0.0", preload=False, port=0)
    assert bound == ["127.0.0.1", "0.0.0.0"]
    err = capsys.readouterr().err
    assert_clean("serve's output", err)
    assert err.count("WARNING") == 1 and "0.0.0.0 without an API key" in err


def test_serve_limits_inputs_and_body_without_reading_everything() -> None:
    """A served app refuses more inputs than max_inputs (400) and bodies over max_body_bytes (413)."""
    import asyncio

    import httpx

    serve = _serve_module()

    async def main() -> tuple[int, int]:
        app = serve.create_app(max_inputs=4, max_body_bytes=2000)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as c:
            many = await c.post("/v1/embeddings", json={"model": "x", "input": ["a"] * 5})
            big = await c.post("/v1/embeddings", json={"model": "x", "input": ["a" * 3000]})
            return many.status_code, big.status_code

    many, big = asyncio.run(main())
    assert big == 413 and many in (400, 404)
