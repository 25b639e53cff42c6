"""Tests of the fake OpenAI embeddings server (tests/support/fakeserver.py) over real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pybase64
import pytest

from tests.support.fakeserver import (
    FakeServer,
    Fault,
    _float_json,
    encoding,
    vector_for_text,
    vector_for_tokens,
)

pytestmark = pytest.mark.timeout(30)

DIM = 16
MODEL = "text-embedding-3-small"
INPUT_INVALID = (
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
)


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeServer]:
    with FakeServer(dim=DIM) as server:
        yield server


@pytest.fixture
def server(shared: FakeServer) -> FakeServer:
    shared.reset()
    return shared


@pytest.fixture
def client(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def post(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", MODEL)
    return client.post("/embeddings", json=body)


def decode(item: dict[str, Any]) -> np.ndarray:
    emb = item["embedding"]
    if isinstance(emb, str):
        return np.frombuffer(pybase64.b64decode(emb), dtype="<f4")
    return np.array(emb, dtype=np.float32)


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    err: dict[str, Any] = body["error"]
    return err


# ----------------------------------------------------------------- vectors


def test_vectors_are_deterministic_unit_float32() -> None:
    """vector_for_text is deterministic, unit length, float32, and differs per text."""
    a = vector_for_text("hello world", DIM)
    assert a.dtype == np.float32 and a.shape == (DIM,)
    assert np.array_equal(a, vector_for_text("hello world", DIM))
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-6
    assert not np.array_equal(a, vector_for_text("hello world!", DIM))
    tokens = encoding().encode_ordinary("<|endoftext|> x")
    assert np.array_equal(vector_for_text("<|endoftext|> x", DIM), vector_for_tokens(tokens, DIM))


def test_float_json_round_trips_float32_exactly() -> None:
    """The vectorised float writer gives valid JSON that parses back to the exact float32s."""
    rng = np.random.default_rng(0)
    vals = rng.standard_normal(20000).astype(np.float32)
    vals *= (10.0 ** rng.integers(-40, 37, vals.size)).astype(np.float32)
    extra = [0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, 1.0, 0.1, 9.9999999e-5, 0.99999994]
    vals = np.concatenate([vals[np.isfinite(vals)], np.array(extra, dtype=np.float32)])
    back = np.array(json.loads(_float_json(vals)), dtype=np.float64).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), vals.view(np.uint32))


# ---------------------------------------------------------------- answers


def test_base64_and_float_agree_with_vector_for_text(client: httpx.Client) -> None:
    """base64 and float answers carry the same vectors, equal to vector_for_text."""
    texts = ["alpha", "beta gamma", "<|endoftext|> is plain text", "ünïcødé 🙂"]
    flt = post(client, input=texts, encoding_format="float")
    b64 = post(client, input=texts, encoding_format="base64")
    default = post(client, input=texts)
    assert flt.status_code == b64.status_code == default.status_code == 200
    assert isinstance(b64.json()["data"][0]["embedding"], str)
    assert isinstance(flt.json()["data"][0]["embedding"], list)
    for i, text in enumerate(texts):
        want = vector_for_text(text, DIM)
        assert np.array_equal(decode(flt.json()["data"][i]), want)
        assert np.array_equal(decode(b64.json()["data"][i]), want)
        assert np.array_equal(decode(default.json()["data"][i]), want)


def test_response_shape_usage_and_headers(server: FakeServer, client: httpx.Client) -> None:
    """A 200 has OpenAI's shape, usage = tokens counted and JSON content type; no limits, no limit headers."""
    texts = ["one two three", "four"]
    resp = post(client, input=texts, user="u-1")
    body = resp.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list" and body["model"] == MODEL
    assert [d["object"] for d in body["data"]] == ["embedding", "embedding"]
    n = sum(len(encoding().encode_ordinary(t)) for t in texts)
    assert body["usage"] == {"prompt_tokens": n, "total_tokens": n}
    assert resp.headers["content-type"] == "application/json"
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert not [name for name in resp.headers if name.startswith("x-ratelimit-")]
    (rec,) = server.requests
    assert rec.inputs == texts and rec.total_tokens == n and rec.status == 200
    assert rec.token_counts == [len(encoding().encode_ordinary(t)) for t in texts]
    assert rec.user == "u-1" and rec.model == MODEL and rec.encoding_format is None
    assert rec.headers["content-type"] == "application/json"


def test_index_order_matches_input_order(client: httpx.Client) -> None:
    """data[i].index == i and data[i] is the vector of input i."""
    texts = [f"text number {i}" for i in range(50)]
    data = post(client, input=texts, encoding_format="base64").json()["data"]
    assert [d["index"] for d in data] == list(range(50))
    for d in data:
        assert np.array_equal(decode(d), vector_for_text(texts[d["index"]], DIM))


def test_single_string_input(server: FakeServer, client: httpx.Client) -> None:
    """A bare string is one input."""
    data = post(client, input="just one").json()["data"]
    assert len(data) == 1 and np.array_equal(decode(data[0]), vector_for_text("just one", DIM))
    assert server.requests[0].inputs == ["just one"]


def test_token_arrays_equal_strings(server: FakeServer, client: httpx.Client) -> None:
    """One token array, or a list of them, gives the same vectors as the equal strings."""
    texts = ["hello there", "general kenobi"]
    toks = [encoding().encode_ordinary(t) for t in texts]
    one = post(client, input=toks[0], encoding_format="base64")
    many = post(client, input=toks, encoding_format="base64")
    assert one.status_code == many.status_code == 200
    assert np.array_equal(decode(one.json()["data"][0]), vector_for_text(texts[0], DIM))
    for i, text in enumerate(texts):
        assert np.array_equal(decode(many.json()["data"][i]), vector_for_text(text, DIM))
    assert one.json()["usage"]["prompt_tokens"] == len(toks[0])
    assert server.requests[0].inputs == [toks[0]]
    assert server.requests[1].inputs == toks


def test_dimensions_truncate_and_renormalise(server: FakeServer, client: httpx.Client) -> None:
    """dimensions=d gives the first d values re-normalised; d > dim or d < 1 is a 400."""
    full = vector_for_text("dims", DIM)
    for fmt in ("float", "base64"):
        got = decode(post(client, input=["dims"], dimensions=4, encoding_format=fmt).json()["data"][0])
        assert got.shape == (4,)
        assert np.allclose(got, full[:4] / np.linalg.norm(full[:4]), atol=1e-7)
    same = decode(post(client, input=["dims"], dimensions=DIM).json()["data"][0])
    assert np.array_equal(same, full)
    assert server.requests[0].dimensions == 4
    for bad in (DIM + 1, 0, "4"):
        resp = post(client, input=["dims"], dimensions=bad)
        assert resp.status_code == 400
        assert error_of(resp)["param"] == "dimensions"


def test_models_endpoint_and_unknown_routes(client: httpx.Client) -> None:
    """GET /v1/models lists a model; other paths are OpenAI-style 404s."""
    resp = client.get("/models")
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list" and body["data"][0]["id"] == MODEL
    for r in (client.get("/nope"), client.post("/chat/completions", json={})):
        assert r.status_code == 404
        assert error_of(r)["type"] == "invalid_request_error"


# ------------------------------------------------------------- rejections


def test_too_many_inputs(client: httpx.Client) -> None:
    """More than max_inputs inputs is a 400 invalid_request_error (2049 by default)."""
    resp = post(client, input=["x"] * 2049)
    assert resp.status_code == 400
    err = error_of(resp)
    assert err["type"] == "invalid_request_error" and "2048" in err["message"]
    assert post(client, input=["x"] * 2048).status_code == 200


def test_input_over_token_limit() -> None:
    """An input over max_tokens_per_input is OpenAI's context-length 400, quoting the counts."""
    with (
        FakeServer(dim=DIM, max_tokens_per_input=10) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        text = " ".join(["word"] * 11)
        n = len(encoding().encode_ordinary(text))
        resp = post(client, input=["ok", text])
        assert resp.status_code == 400
        err = error_of(resp)
        assert err["message"] == (
            f"This model's maximum context length is 10 tokens, however you requested {n}"
            f" tokens ({n} in your prompt; 0 for the completion). Please reduce your prompt;"
            " or completion length."
        )
        assert err["type"] == "invalid_request_error" and err["code"] is None
        assert server.requests[0].status == 400 and server.requests[0].token_counts[1] == n
        assert server.ok_inputs() == []


def test_default_token_limit_is_8191() -> None:
    """By default 8191 tokens per input pass and 8192 are rejected."""
    with FakeServer(dim=DIM) as server, httpx.Client(base_url=server.url) as client:
        assert post(client, input=[[1] * 8191]).status_code == 200
        resp = post(client, input=[[1] * 8192])
        assert resp.status_code == 400
        assert "maximum context length is 8191 tokens" in error_of(resp)["message"]


def test_request_over_token_limit() -> None:
    """Inputs summing over max_tokens_per_request give code max_tokens_per_request."""
    with (
        FakeServer(dim=DIM, max_tokens_per_request=20) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        toks = [[5] * 8, [6] * 8, [7] * 8]
        resp = post(client, input=toks)
        assert resp.status_code == 400
        err = error_of(resp)
        assert err["code"] == "max_tokens_per_request"
        assert err["message"] == "Requested 24 tokens, max 20 tokens per request"
        assert post(client, input=toks[:2]).status_code == 200


def test_empty_string_rejected(server: FakeServer, client: httpx.Client) -> None:
    """Any empty string is OpenAI's "'$.input' is invalid" 400."""
    for value in ("", ["a", ""]):
        resp = post(client, input=value)
        assert resp.status_code == 400
        err = error_of(resp)
        assert err["message"] == INPUT_INVALID and err["type"] == "invalid_request_error"
    assert [r.status for r in server.requests] == [400, 400]
    assert server.requests[1].inputs == ["a", ""]


def test_malformed_requests_rejected(client: httpx.Client) -> None:
    """Empty list, mixed strings/tokens, bad token ids, bad types, no model, no input,
    bad encoding_format and a non-JSON body are all 400s with OpenAI's error JSON."""
    cases: list[dict[str, Any]] = [
        {"input": []},
        {"input": ["a", [1, 2]]},
        {"input": [[1, 2], []]},
        {"input": [-1]},
        {"input": [10**9]},
        {"input": 5},
        {"input": [1.5]},
        {"input": [True]},
        {"input": {"a": 1}},
        {"input": "a", "encoding_format": "int8"},
        {},
    ]
    for body in cases:
        resp = post(client, **body)
        assert resp.status_code == 400, body
        assert error_of(resp)["type"] == "invalid_request_error"
    resp = client.post("/embeddings", json={"input": "a"})
    assert resp.status_code == 400 and "model" in error_of(resp)["message"]
    resp = client.post("/embeddings", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400 and error_of(resp)["type"] == "invalid_request_error"


# ------------------------------------------------------------------ options


def test_api_key_required() -> None:
    """With api_key set, a missing or wrong bearer token is 401 invalid_api_key."""
    with FakeServer(dim=DIM, api_key="sk-good") as server:
        with httpx.Client(base_url=server.url) as anon:
            resp = post(anon, input="x")
            assert resp.status_code == 401 and error_of(resp)["code"] == "invalid_api_key"
            assert anon.get("/models").status_code == 401
        bad = {"Authorization": "Bearer sk-bad"}
        with httpx.Client(base_url=server.url, headers=bad) as client:
            assert post(client, input="x").status_code == 401
        good = {"Authorization": "Bearer sk-good"}
        with httpx.Client(base_url=server.url, headers=good) as client:
            assert post(client, input="x").status_code == 200
        assert [r.status for r in server.requests] == [401, 401, 200]
        assert server.requests[2].headers["authorization"] == "Bearer sk-good"


def test_token_arrays_refused_like_ollama() -> None:
    """accept_token_arrays=False answers token arrays with 400 "invalid input type"."""
    with (
        FakeServer(dim=DIM, accept_token_arrays=False) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        for value in ([1, 2, 3], [[1, 2], [3]]):
            resp = post(client, input=value)
            assert resp.status_code == 400
            assert error_of(resp)["message"] == "invalid input type"
        assert post(client, input=["strings", "still work"]).status_code == 200


def test_ignore_base64_answers_floats() -> None:
    """ignore_base64=True answers float lists even when base64 is asked for."""
    with FakeServer(dim=DIM, ignore_base64=True) as server, httpx.Client(base_url=server.url) as client:
        item = post(client, input="x", encoding_format="base64").json()["data"][0]
        assert isinstance(item["embedding"], list)
        assert np.array_equal(decode(item), vector_for_text("x", DIM))


def test_omit_usage() -> None:
    """omit_usage=True leaves `usage` out of the answer."""
    with FakeServer(dim=DIM, omit_usage=True) as server, httpx.Client(base_url=server.url) as client:
        body = post(client, input="x").json()
        assert "usage" not in body and len(body["data"]) == 1


def test_shuffle_option_keeps_indexes_right() -> None:
    """shuffle=True answers data out of order, each item still under its right index."""
    with FakeServer(dim=DIM, shuffle=True) as server, httpx.Client(base_url=server.url) as client:
        texts = [f"t{i}" for i in range(10)]
        data = post(client, input=texts).json()["data"]
        indexes = [d["index"] for d in data]
        assert indexes != sorted(indexes) and sorted(indexes) == list(range(10))
        for d in data:
            assert np.array_equal(decode(d), vector_for_text(texts[d["index"]], DIM))
        assert server.ok_inputs() == texts


def test_models_restricted() -> None:
    """With models given, an unknown model is 404 model_not_found; /v1/models lists them."""
    with (
        FakeServer(dim=DIM, models=["m-a", "m-b"]) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert post(client, model="m-b", input="x").status_code == 200
        resp = post(client, model="m-c", input="x")
        assert resp.status_code == 404 and error_of(resp)["code"] == "model_not_found"
        ids = [m["id"] for m in client.get("/models").json()["data"]]
        assert ids == ["m-a", "m-b"]


def test_latency_and_concurrency() -> None:
    """latency_s delays every answer, and requests are served concurrently."""
    with FakeServer(dim=DIM, latency_s=0.3) as server:
        statuses: list[int] = []

        def one(i: int) -> None:
            with httpx.Client(base_url=server.url) as c:
                statuses.append(post(c, input=f"c{i}").status_code)

        start = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        assert statuses == [200] * 8
        assert 0.3 <= elapsed < 2.0
        assert server.peak_concurrency > 1


def test_large_bodies() -> None:
    """2048 texts of ~300 bytes, and one 1,000,000-character text, are read whole."""
    with (
        FakeServer(dim=DIM, max_tokens_per_input=400_000) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        texts = [f"{i:05d} " + "lorem ipsum dolor " * 16 for i in range(2048)]
        data = post(client, input=texts, encoding_format="base64").json()["data"]
        assert len(data) == 2048
        assert np.array_equal(decode(data[2047]), vector_for_text(texts[2047], DIM))
        big = "word " * 200_000
        resp = post(client, input=big, encoding_format="base64")
        assert resp.status_code == 200
        assert resp.json()["usage"]["prompt_tokens"] == len(encoding().encode_ordinary(big))
        assert server.requests[-1].inputs == [big]
    with FakeServer(dim=DIM) as server, httpx.Client(base_url=server.url) as client:
        resp = post(client, input=big)
        assert resp.status_code == 400
        assert "maximum context length is 8191 tokens" in error_of(resp)["message"]


# ------------------------------------------------------------------- faults


ERROR_FAULTS = [
    ("429", 429, "requests", "rate_limit_exceeded"),
    ("429_quota", 429, "insufficient_quota", "insufficient_quota"),
    ("500", 500, "server_error", None),
    ("503", 503, "server_error", None),
    ("400", 400, "invalid_request_error", None),
    ("401", 401, "invalid_request_error", "invalid_api_key"),
    ("404", 404, "invalid_request_error", "model_not_found"),
]


@pytest.mark.parametrize(("kind", "status", "etype", "code"), ERROR_FAULTS)
def test_error_faults(
    server: FakeServer,
    client: httpx.Client,
    kind: str,
    status: int,
    etype: str,
    code: str | None,
) -> None:
    """Each error fault answers its status with OpenAI's error JSON, then service resumes."""
    server.inject(kind)
    resp = post(client, input=["a"])
    assert resp.status_code == status
    err = error_of(resp)
    assert err["type"] == etype and err["code"] == code
    assert post(client, input=["b"]).status_code == 200
    assert [(r.status, r.fault) for r in server.requests] == [(status, kind), (200, None)]
    assert server.ok_inputs() == ["b"]


def test_429_messages_and_retry_headers(client: httpx.Client, server: FakeServer) -> None:
    """429s say "Please try again in" and carry retry-after / retry-after-ms when given;
    the quota 429 says to check billing."""
    server.inject(Fault("429", retry_after="2", retry_after_ms="1500"), "429", "429_quota")
    first = post(client, input="a")
    assert first.headers["retry-after"] == "2" and first.headers["retry-after-ms"] == "1500"
    assert "Please try again in" in error_of(first)["message"]
    plain = post(client, input="a")
    assert "retry-after" not in plain.headers and "retry-after-ms" not in plain.headers
    assert "Please try again in 1s." in error_of(plain)["message"]
    quota = post(client, input="a")
    assert error_of(quota)["message"].startswith("You exceeded your current quota")


def test_502_html(server: FakeServer, client: httpx.Client) -> None:
    """ "502_html" answers a proxy's text/html Bad Gateway page."""
    server.inject("502_html")
    resp = post(client, input="a")
    assert resp.status_code == 502
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert server.requests[0].status == 502


def test_drop_closes_without_answer(server: FakeServer, client: httpx.Client) -> None:
    """ "drop" reads the request and closes the connection with no response."""
    server.inject("drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post(client, input="a")
    rec = server.requests[0]
    assert rec.status == 0 and rec.fault == "drop" and rec.inputs == ["a"]
    assert post(client, input="b").status_code == 200  # a new connection works


def test_hang_times_out(server: FakeServer) -> None:
    """ "hang" holds the request without answering, so a short client timeout fires."""
    server.inject(Fault("hang", hang_s=3))
    with (
        httpx.Client(base_url=server.url, timeout=0.3) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        post(client, input="a")
    assert server.requests[0].fault == "hang" and server.requests[0].status == 0
    assert server.ok_inputs() == []


def test_bad_json_fault(server: FakeServer, client: httpx.Client) -> None:
    """ "bad_json" is a 200 whose body is truncated JSON (content-length still right)."""
    server.inject("bad_json")
    resp = post(client, input=["a", "b"])
    assert resp.status_code == 200
    assert int(resp.headers["content-length"]) == len(resp.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)
    assert server.ok_inputs() == []


def test_wrong_count_fault(server: FakeServer, client: httpx.Client) -> None:
    """ "wrong_count" is a 200 with one embedding fewer than inputs."""
    server.inject("wrong_count")
    data = post(client, input=["a", "b", "c"]).json()["data"]
    assert len(data) == 2
    assert server.ok_inputs() == []


@pytest.mark.parametrize("fmt", ["float", "base64"])
@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_non_finite_faults(server: FakeServer, client: httpx.Client, kind: str, fmt: str) -> None:
    """ "nan" / "inf" put one non-finite value into a 200 answer (both encodings)."""
    server.inject(kind)
    data = post(client, input=["a", "b"], encoding_format=fmt).json()["data"]
    vecs = [decode(d) for d in data]
    check = np.isnan if kind == "nan" else np.isinf
    assert sum(int(check(v).sum()) for v in vecs) == 1
    assert all(v.shape == (DIM,) for v in vecs)
    assert server.ok_inputs() == []


def test_wrong_dim_fault(server: FakeServer, client: httpx.Client) -> None:
    """ "wrong_dim" is a 200 where one vector is one element short."""
    server.inject("wrong_dim", "wrong_dim")
    for fmt in ("float", "base64"):
        data = post(client, input=["a", "b"], encoding_format=fmt).json()["data"]
        assert sorted(decode(d).shape[0] for d in data) == [DIM - 1, DIM]
    assert server.ok_inputs() == []


def test_shuffle_fault_is_not_an_error(server: FakeServer, client: httpx.Client) -> None:
    """ "shuffle" reorders data with correct indexes, and still counts as ok."""
    server.inject("shuffle")
    texts = ["a", "b", "c", "d"]
    data = post(client, input=texts).json()["data"]
    assert [d["index"] for d in data] != [0, 1, 2, 3]
    for d in data:
        assert np.array_equal(decode(d), vector_for_text(texts[d["index"]], DIM))
    assert server.ok_inputs() == texts


def test_faults_are_fifo_and_ok_inputs_skip_them(server: FakeServer, client: httpx.Client) -> None:
    """Queued faults hit the next requests in order; ok_inputs holds only clean answers."""
    server.inject("500", Fault("drop"), "bad_json", "shuffle")
    outcomes: list[Any] = []
    for i in range(6):
        try:
            outcomes.append(post(client, input=[f"r{i}"]).status_code)
        except httpx.TransportError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[0] == 500 and outcomes[1] in ("RemoteProtocolError", "ReadError")
    assert outcomes[2:] == [200, 200, 200, 200]
    assert [r.fault for r in server.requests] == ["500", "drop", "bad_json", "shuffle", None, None]
    assert server.ok_inputs() == ["r3", "r4", "r5"]
    server.reset()
    assert server.requests == [] and server.ok_inputs() == []
    assert post(client, input="clean").status_code == 200


def test_inject_rejects_unknown_kind(server: FakeServer) -> None:
    """An unknown fault kind is a ValueError at injection time."""
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.inject("418")
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.inject_random(0.5, ["500", "teapot"], seed=1)


def test_inject_random_is_reproducible(server: FakeServer, client: httpx.Client) -> None:
    """The same seed faults the same requests with the same kinds."""

    def run() -> list[tuple[int, str | None]]:
        server.reset()
        server.inject_random(0.5, ["500", "429", "wrong_count"], seed=42)
        for i in range(30):
            post(client, input=[f"q{i}"])
        return [(r.status, r.fault) for r in server.requests]

    first, second = run(), run()
    assert first == second
    faults = {f for _, f in first}
    assert None in faults and len(faults) >= 3
    server.reset()
    post(client, input="after reset")
    assert server.requests[0].fault is None


# -------------------------------------------------------------- integration


def test_openai_sdk_round_trip_and_retry(server: FakeServer) -> None:
    """The openai SDK embeds through the server (base64 by default) and retries a 429."""
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=2)
    server.inject(Fault("429", retry_after_ms="10"))
    res = client.embeddings.create(model=MODEL, input=["sdk one", "sdk two"])
    assert np.array_equal(np.array(res.data[1].embedding, dtype=np.float32), vector_for_text("sdk two", DIM))
    assert [r.status for r in server.requests] == [429, 200]
    assert server.requests[1].encoding_format == "base64"
    assert server.ok_inputs() == ["sdk one", "sdk two"]
    client.close()


def test_stop_is_prompt_with_open_and_hung_connections() -> None:
    """stop() returns quickly even with an idle keep-alive connection and a hung request."""
    server = FakeServer(dim=DIM).start()
    idle = httpx.Client(base_url=server.url)
    assert post(idle, input="x").status_code == 200
    server.inject(Fault("hang", hang_s=30))
    errors: list[BaseException] = []

    def hung() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=10) as c:
                post(c, input="y")
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    deadline = time.monotonic() + 5
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
    thread.join(5)
    assert not thread.is_alive() and len(errors) == 1
    idle.close()


def test_subprocess_mode_prints_ready_and_serves() -> None:
    """`python tests/support/fakeserver.py --port 0` prints READY <url>, serves, exits 0 on SIGTERM."""
    script = Path(__file__).resolve().parent / "support" / "fakeserver.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--dim", "8", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(20, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
        url = line.split()[1]
        with httpx.Client(base_url=url) as client:
            item = post(client, input="sub", encoding_format="base64").json()["data"][0]
            assert np.array_equal(decode(item), vector_for_text("sub", 8))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
