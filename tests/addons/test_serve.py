"""The OpenAI-compatible server over the local model, over real HTTP (uvicorn) and in-process (ASGI)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from embedframe import local
from embedframe._core.tokenizer import get_tokenizer
from embedframe.errors import ConfigError
from tests.support.asgi import running

if not local.is_available():
    pytest.skip("embedframe[local] is not installed", allow_module_level=True)

import openai

from embedframe.local import LOCAL_MODEL, LocalModel
from embedframe.serve import (
    API_KEY_ENV,
    INPUT_INVALID,
    _exposure_warning,
    add_serve_arguments,
    create_app,
)

KEY = "sk-serve-SECRET-0123456789abcdef"
TEXTS = ["A man is playing guitar", "Someone plays an instrument", "The stock market fell today"]


@pytest.fixture(scope="module")
def model() -> LocalModel:
    m = LocalModel()
    m.load()
    return m


@pytest.fixture(scope="module")
def base(model: LocalModel) -> Iterator[str]:
    """A server that needs KEY and also answers to the name "my-alias"."""
    with running(create_app(model=model, api_key=KEY, model_aliases=["my-alias"])) as url:
        yield url


@pytest.fixture(scope="module")
def small(model: LocalModel) -> Iterator[str]:
    """A server without a key, with small limits."""
    app = create_app(model=model, max_inputs=4, max_body_bytes=4096, max_tokens_per_request=50)
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as c:
        yield c


def post(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/embeddings", json={"model": LOCAL_MODEL, **body})


def vectors(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    rows = []
    for i, item in enumerate(response.json()["data"]):
        assert item["object"] == "embedding" and item["index"] == i
        emb = item["embedding"]
        if isinstance(emb, str):
            rows.append(np.frombuffer(base64.b64decode(emb), dtype="<f4"))
        else:
            rows.append(np.asarray(emb, dtype=np.float32))
    return np.vstack(rows)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI error object of ``response``, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    err = response.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert KEY not in response.text
    return err  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- success


def test_embeddings_float_shape_and_usage(client: httpx.Client, model: LocalModel) -> None:
    """A list of strings gives OpenAI's list shape, unit 384-d vectors equal to the model's, real usage."""
    r = post(client, input=TEXTS)
    body = r.json()
    assert body["object"] == "list" and body["model"] == LOCAL_MODEL
    got = vectors(r)
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, model.embed(TEXTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    tokens = sum(model.count_tokens(TEXTS))
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert got[0] @ got[1] > got[0] @ got[2]


def test_single_string_and_alias(client: httpx.Client) -> None:
    """A bare string is one input; an alias given to create_app is accepted and echoed."""
    one = post(client, input=TEXTS[0])
    alias = client.post("/v1/embeddings", json={"model": "my-alias", "input": TEXTS[0], "user": "u-1"})
    assert alias.json()["model"] == "my-alias"
    np.testing.assert_array_equal(vectors(one), vectors(alias))


def test_base64_matches_float(client: httpx.Client) -> None:
    """base64 answers are little-endian float32 bytes of the very same vectors."""
    as_float = vectors(post(client, input=TEXTS, encoding_format="float"))
    r = post(client, input=TEXTS, encoding_format="base64")
    assert all(isinstance(d["embedding"], str) for d in r.json()["data"])
    np.testing.assert_array_equal(vectors(r), as_float)


def test_dimensions_cut_and_renormalise(client: httpx.Client) -> None:
    """dimensions=k gives the first k components scaled back to unit length."""
    full = vectors(post(client, input=TEXTS))
    cut = vectors(post(client, input=TEXTS, dimensions=64))
    assert cut.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)
    expect = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expect, atol=1e-6)
    np.testing.assert_array_equal(vectors(post(client, input=TEXTS, dimensions=384)), full)


def test_token_arrays_are_decoded_from_cl100k(client: httpx.Client, model: LocalModel) -> None:
    """One token array, or a list of them, embeds the text they decode to, with the model's token counts."""
    enc = get_tokenizer("cl100k_base")
    arrays = [enc.encode_ordinary(t) for t in TEXTS]
    as_text = vectors(post(client, input=TEXTS))
    r = post(client, input=arrays)
    np.testing.assert_array_equal(vectors(r), as_text)
    assert r.json()["usage"]["prompt_tokens"] == sum(model.count_tokens(TEXTS))
    np.testing.assert_array_equal(
        vectors(post(client, input=arrays[0])), vectors(post(client, input=TEXTS[0]))
    )


def test_lone_surrogate_is_read_as_replacement_character(client: httpx.Client) -> None:
    """A JSON-escaped lone surrogate does not crash the server: it reads as U+FFFD."""
    raw = json.dumps({"model": LOCAL_MODEL, "input": ["a\ud800b"]})  # sent as the escape \ud800
    got = vectors(client.post("/v1/embeddings", content=raw, headers={"content-type": "application/json"}))
    np.testing.assert_array_equal(got, vectors(post(client, input=["a\ufffdb"])))


def test_concurrent_requests_are_all_answered(client: httpx.Client) -> None:
    """Many requests at once are served one model call at a time, each with its own right answer."""
    texts = [f"request number {i} talks about topic {i * 7}" for i in range(8)]
    alone = vectors(post(client, input=texts))
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: vectors(post(client, input=[t])), texts))
    np.testing.assert_allclose(np.vstack(got), alone, atol=1e-5)


# --------------------------------------------------------------------------- errors

BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("empty string", {"model": LOCAL_MODEL, "input": ""}, r"'\$\.input' is invalid"),
    ("empty string in list", {"model": LOCAL_MODEL, "input": ["a", ""]}, r"'\$\.input' is invalid"),
    ("empty list", {"model": LOCAL_MODEL, "input": []}, r"'\$\.input' is invalid"),
    ("number", {"model": LOCAL_MODEL, "input": 5}, r"'\$\.input' is invalid"),
    ("mixed", {"model": LOCAL_MODEL, "input": [1, "a"]}, r"'\$\.input' is invalid"),
    ("empty token array", {"model": LOCAL_MODEL, "input": [[1, 2], []]}, r"'\$\.input' is invalid"),
    ("bool token", {"model": LOCAL_MODEL, "input": [[1, True]]}, r"'\$\.input' is invalid"),
    ("hole in cl100k", {"model": LOCAL_MODEL, "input": [100256]}, "Invalid token id"),
    ("negative token", {"model": LOCAL_MODEL, "input": [[-1]]}, "Invalid token id"),
    ("huge token", {"model": LOCAL_MODEL, "input": [10**30]}, "Invalid token id"),
    ("no model", {"input": "a"}, "you must provide a model parameter"),
    ("model not a string", {"model": 5, "input": "a"}, "Invalid type for 'model'"),
    ("no input", {"model": LOCAL_MODEL}, "Missing required parameter: 'input'"),
    (
        "bad encoding_format",
        {"model": LOCAL_MODEL, "input": "a", "encoding_format": "int8"},
        "encoding_format",
    ),
    ("dimensions 0", {"model": LOCAL_MODEL, "input": "a", "dimensions": 0}, "between 1 and 384"),
    ("dimensions 385", {"model": LOCAL_MODEL, "input": "a", "dimensions": 385}, "between 1 and 384"),
    ("dimensions string", {"model": LOCAL_MODEL, "input": "a", "dimensions": "64"}, "between 1 and 384"),
    ("dimensions bool", {"model": LOCAL_MODEL, "input": "a", "dimensions": True}, "between 1 and 384"),
    ("user not a string", {"model": LOCAL_MODEL, "input": "a", "user": 5}, "Invalid type for 'user'"),
    ("not an object", [1, 2], "could not parse the JSON body"),
]


@pytest.mark.parametrize(
    ("body", "message"), [(b, m) for _, b, m in BAD_REQUESTS], ids=[n for n, _, _ in BAD_REQUESTS]
)
def test_bad_requests_get_400_in_openai_shape(client: httpx.Client, body: Any, message: str) -> None:
    """Every malformed request is a 400 with OpenAI's error JSON and a message naming the problem."""
    err = error(client.post("/v1/embeddings", json=body), 400)
    assert err["type"] == "invalid_request_error"
    assert re.search(message, err["message"]), err["message"]


def test_bad_json_is_400(client: httpx.Client) -> None:
    """A body that is not JSON (or not UTF-8) is a 400, not a crash."""
    for raw in (b"{", b"\xff\xfe{", b"[" * 100_000):
        err = error(client.post("/v1/embeddings", content=raw), 400)
        assert "could not parse the JSON body" in err["message"]


def test_unknown_model_is_404_model_not_found(client: httpx.Client) -> None:
    """A model this server does not have (even OpenAI's default) is 404 model_not_found."""
    err = error(client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "a"}), 404)
    assert err["code"] == "model_not_found" and "text-embedding-3-small" in err["message"]


def test_input_over_the_window_is_refused_not_truncated(client: httpx.Client) -> None:
    """An input over 254 tokens gets OpenAI's context length error; 254 tokens is fine."""
    at, over = " ".join(["alpha"] * 254), " ".join(["alpha"] * 255)
    assert vectors(post(client, input=[at])).shape == (1, 384)
    err = error(post(client, input=["short", over]), 400)
    assert err["message"].startswith(
        "This model's maximum context length is 254 tokens, however you requested 255 tokens"
    )
    assert err["code"] == "context_length_exceeded"


def test_limits_on_inputs_and_tokens(small: str) -> None:
    """Over max_inputs, or over max_tokens_per_request in total, is a 400."""
    with httpx.Client(base_url=small) as c:
        err = error(c.post("/v1/embeddings", json={"model": LOCAL_MODEL, "input": ["a"] * 5}), 400)
        assert err["message"].startswith("Too many inputs. The max number of inputs is 4.")
        err = error(c.post("/v1/embeddings", json={"model": LOCAL_MODEL, "input": ["alpha " * 30] * 2}), 400)
        assert err["code"] == "max_tokens_per_request" and "Requested 60 tokens" in err["message"]
        assert vectors(c.post("/v1/embeddings", json={"model": LOCAL_MODEL, "input": ["a"] * 4})).shape == (
            4,
            384,
        )


def test_body_over_the_limit_is_413(small: str) -> None:
    """A body over max_body_bytes is a 413, with or without a Content-Length."""
    body = json.dumps({"model": LOCAL_MODEL, "input": ["x" * 5000]}).encode()
    with httpx.Client(base_url=small) as c:
        err = error(c.post("/v1/embeddings", content=body), 413)
        assert "at most 4096 bytes" in err["message"]

        def chunked() -> Iterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        error(c.post("/v1/embeddings", content=chunked()), 413)


def test_body_limit_stops_reading_early(model: LocalModel) -> None:
    """The server stops reading a streamed body at the limit, and never reads one whose declared length is over it."""
    app = create_app(model=model, max_body_bytes=5000)
    pulled: list[int] = []

    async def stream(n: int) -> AsyncIterator[bytes]:
        for i in range(n):
            pulled.append(i)
            yield b"x" * 1000

    async def main() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as c:
            chunked = await c.post("/v1/embeddings", content=stream(1000))
            n_chunked = len(pulled)
            pulled.clear()
            declared = await c.post(
                "/v1/embeddings", content=stream(1000), headers={"content-length": "1000000"}
            )
            assert chunked.status_code == declared.status_code == 413
            garbled = await c.post("/v1/embeddings", content=b"{}", headers={"content-length": "x2"})
            assert error(garbled, 400)["message"].startswith("Invalid Content-Length")
            return n_chunked, len(pulled)

    n_chunked, n_declared = asyncio.run(main())
    assert n_chunked <= 7  # 6 chunks of 1000 bytes pass 5000; the other 994 are never read
    assert n_declared <= 1


def test_api_key_is_required_and_checked(base: str) -> None:
    """With a key set, /v1 routes need the right bearer token (401 invalid_api_key otherwise); /health does not."""
    with httpx.Client(base_url=base) as c:
        body = {"model": LOCAL_MODEL, "input": "a"}
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"authorization": KEY},
            {"authorization": f"Basic {KEY}"},
        ):
            assert (
                error(c.post("/v1/embeddings", json=body, headers=headers), 401)["code"] == "invalid_api_key"
            )
            assert error(c.get("/v1/models", headers=headers), 401)["code"] == "invalid_api_key"
        ok = c.post("/v1/embeddings", json=body, headers={"authorization": f"bearer {KEY}"})
        assert ok.status_code == 200
        assert c.get("/health").json() == {"status": "ok", "model": LOCAL_MODEL, "loaded": True}


def test_unknown_route_and_wrong_method(client: httpx.Client) -> None:
    """An unknown route is 404 and a wrong method 405, both in OpenAI's error JSON."""
    err = error(client.get("/v1/nothing"), 404)
    assert err["message"] == "Invalid URL (GET /v1/nothing)"
    r = client.get("/v1/embeddings")
    assert error(r, 405)["message"] == "Invalid method for URL (GET /v1/embeddings)"
    assert r.headers["allow"] == "POST"
    error(client.delete("/v1/models"), 405)


def test_models_routes(client: httpx.Client) -> None:
    """GET /v1/models lists the names served in OpenAI's shape; GET /v1/models/{id} finds one or 404s."""
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == LOCAL_MODEL and "my-alias" in ids
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])
    assert client.get(f"/v1/models/{LOCAL_MODEL}").json()["id"] == LOCAL_MODEL
    assert error(client.get("/v1/models/gpt-4"), 404)["code"] == "model_not_found"


# --------------------------------------------------------------------------- clients


def test_openai_sdk_works_unchanged(base: str) -> None:
    """The official openai SDK gets the same vectors with its default (base64) and with float."""
    sdk = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
    default = sdk.embeddings.create(model=LOCAL_MODEL, input=TEXTS)
    as_float = sdk.embeddings.create(model=LOCAL_MODEL, input=TEXTS, encoding_format="float")
    a = np.array([d.embedding for d in default.data], dtype=np.float32)
    b = np.array([d.embedding for d in as_float.data], dtype=np.float32)
    assert a.shape == (3, 384)
    np.testing.assert_array_equal(a, b)
    assert default.usage.prompt_tokens == as_float.usage.total_tokens > 0
    short = sdk.embeddings.create(model=LOCAL_MODEL, input="hello", dimensions=8)
    assert len(short.data[0].embedding) == 8
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="text-embedding-3-small", input="a")
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=LOCAL_MODEL, input="")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).embeddings.create(
            model=LOCAL_MODEL, input="a"
        )


def test_in_process_transport_matches_http(client: httpx.Client) -> None:
    """The app mounted as an httpx ASGI transport answers exactly as the HTTP server does."""
    over_http = post(client, input=TEXTS, encoding_format="base64")

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as c:
            body = {"model": LOCAL_MODEL, "input": TEXTS, "encoding_format": "base64"}
            return [
                await c.post("/v1/embeddings", json=body),
                await c.post("/v1/embeddings", json={"model": LOCAL_MODEL, "input": ""}),
                await c.get("/nowhere"),
            ]

    ok, bad, missing = asyncio.run(main())
    np.testing.assert_array_equal(vectors(ok), vectors(over_http))
    assert ok.json()["usage"] == over_http.json()["usage"]
    assert error(bad, 400)["message"] == INPUT_INVALID
    error(missing, 404)


# --------------------------------------------------------------------------- running


def test_create_app_refuses_limits_the_model_cannot_keep(model: LocalModel) -> None:
    """A per-input limit over the model's window, or a non-positive limit, is a ConfigError."""
    with pytest.raises(ConfigError, match="window of 254"):
        create_app(model=model, max_tokens_per_input=256)
    with pytest.raises(ConfigError, match="max_inputs"):
        create_app(model=model, max_inputs=0)


def test_exposure_warning_only_beyond_loopback_without_key() -> None:
    """Binding a non-loopback address without a key warns; loopback or a key does not."""
    assert _exposure_warning("0.0.0.0", None) is not None
    assert "--api-key" in (_exposure_warning("::", None) or "")
    for host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        assert _exposure_warning(host, None) is None
    assert _exposure_warning("0.0.0.0", KEY) is None


def test_cli_arguments() -> None:
    """The serve options parse with their defaults, and bad limits are refused."""
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.api_key, args.max_inputs, args.max_body_bytes) == (
        "127.0.0.1",
        8000,
        None,
        2048,
        16 * 1024 * 1024,
    )
    args = parser.parse_args(
        ["--port", "0", "--max-inputs", "16", "--model-alias", "a", "--model-alias", "b"]
    )
    assert (args.port, args.max_inputs, args.model_alias) == (0, 16, ["a", "b"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-body-bytes", "0"])


def test_command_line_server_takes_key_from_environment() -> None:
    """`python -m embedframe.serve` serves on a free port with the key from the environment, never printing it."""
    env = {**os.environ, API_KEY_ENV: KEY, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedframe.serve", "--port", "0", "--lazy"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.5))
                found = re.search(r"running on (http://127\.0\.0\.1:\d+)", seen[-1])
                url = found.group(1) if found else None
        assert url, "".join(seen)
        with httpx.Client(base_url=url) as c:
            assert c.get("/health").json()["loaded"] is False  # --lazy: nothing loaded yet
            assert c.get("/v1/models").status_code == 401
            assert c.get("/v1/models", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert "API key required" in output
    assert KEY not in output
