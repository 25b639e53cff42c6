"""Every fault the loopback server can inject is either recovered or fails clearly, and never
leaves a wrong vector behind; with a random 20% of requests failing, the output is the
fault-free output and no input is sent again once the server has answered it."""

from __future__ import annotations

import socket
import struct

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import (
    APIError,
    AuthenticationError,
    BadRequestError,
    EmbedConfig,
    EmbedFrameError,
    NotFoundError,
    QuotaExceededError,
    ResponseError,
    ServerError,
    TransportError,
    to_numpy,
)
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, Fault, RecordedRequest, _Plan, vector_for_text
from tests.support.hookserver import Answer, Handler, HookedServer, json_error, resent_after_success

TEXTS = [f"fault test text number {i}" for i in range(60)]

RECOVERABLE = [
    Fault("429", retry_after="0"),
    Fault("429", retry_after_ms="20"),
    Fault("429"),  # no header: the message's "try again in 1s" is honoured
    Fault("500"),
    Fault("502_html"),
    Fault("503"),
    Fault("drop"),
    Fault("hang", hang_s=2.0),
    Fault("bad_json"),
    Fault("wrong_count"),
    Fault("nan"),
    Fault("inf"),
    Fault("wrong_dim"),
    Fault("shuffle"),
]
"""Every fault kind a job recovers from, with and without a server-given wait."""

FAST_RECOVERABLE = [
    f for f in RECOVERABLE if not (f.kind == "429" and f.retry_after is None and f.retry_after_ms is None)
]


def fault_id(f: Fault) -> str:
    return "-".join(str(x) for x in (f.kind, f.retry_after, f.retry_after_ms) if x is not None)


def expected(texts: list[str], dim: int = DIM) -> np.ndarray:
    return np.stack([vector_for_text(t, dim) for t in texts])


def fast(config: EmbedConfig, **changes: object) -> EmbedConfig:
    """Short waits, a short per-request timeout, small requests so a job has many."""
    base = {"timeout": 0.5, "max_inputs_per_request": 6, "concurrency": 3, "max_retries": 8}
    return config.replace(**{**base, **changes})


def assert_each_input_answered_once(server: FakeServer, texts: list[str]) -> None:
    assert resent_after_success(server) == []
    ok = server.ok_inputs()
    assert sorted(ok) == sorted(set(texts)), "every distinct text was answered exactly once"


# ----------------------------------------------------------------------- one fault kind


@pytest.mark.parametrize("fault", RECOVERABLE, ids=fault_id)
def test_concurrent_faults_are_recovered(server: FakeServer, config: EmbedConfig, fault: Fault) -> None:
    """The first three concurrent requests all fail the same way; each is retried and the output is exact."""
    server.inject(fault, fault, fault)
    out = embedframe.embed(TEXTS, config=fast(config))
    np.testing.assert_array_equal(to_numpy(out), expected(TEXTS))
    assert [r.fault for r in server.requests[:3]] == [fault.kind] * 3
    stats = out.attrs["embedframe"]
    if fault.kind == "shuffle":
        assert stats["retries"] == 0 and len(server.requests) == 10
    else:
        assert stats["retries"] == 3 and len(server.requests) == 13
    assert stats["rate_limited"] == (3 if fault.kind == "429" else 0)
    assert_each_input_answered_once(server, TEXTS)


class _Truncating(Handler):
    """Answers the first two requests with a 200 whose body stops halfway, then closes the connection."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        fake = self.server.fake
        if len(fake.requests) > 2:
            return None
        body = fake._success_body(plan, None, 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        rec.status = 200
        rec.fault = "truncated"
        return True


def test_truncated_body_on_the_wire_is_retried(config: EmbedConfig) -> None:
    """A 200 whose body stops short of its Content-Length (the connection closes) is retried, not decoded."""
    with HookedServer(_Truncating, dim=DIM) as srv:
        out = embedframe.embed(TEXTS[:5], config=fast(config, base_url=srv.url, concurrency=1))
        np.testing.assert_array_equal(to_numpy(out), expected(TEXTS[:5]))
        assert [r.fault for r in srv.requests] == ["truncated", "truncated", None]
        assert out.attrs["embedframe"]["retries"] == 2


class _Reset(Handler):
    """Resets the connection (TCP RST, not a clean close) of the first two requests without answering."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if self.number > 2:
            return None
        rec.fault = "reset"
        self.close_connection = True
        self.rfile.close()  # the last reference to the socket's file: close() now really closes
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # with a zero linger: RST
        return True


def test_connection_reset_is_retried(config: EmbedConfig) -> None:
    """A connection reset by the peer before any answer is retried on a new connection."""
    with HookedServer(_Reset, dim=DIM) as srv:
        out = embedframe.embed(TEXTS[:5], config=fast(config, base_url=srv.url, concurrency=1))
        np.testing.assert_array_equal(to_numpy(out), expected(TEXTS[:5]))
        assert [r.fault for r in srv.requests] == ["reset", "reset", None]
        assert out.attrs["embedframe"]["retries"] == 2


# ---------------------------------------------------------------- faults that do not clear


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        pytest.param(Fault("400"), BadRequestError, "HTTP 400", id="400"),
        pytest.param(Fault("401"), AuthenticationError, "check the key: api_key=...", id="401"),
        pytest.param(Fault("404"), NotFoundError, "does not exist", id="404"),
        pytest.param(Fault("429_quota"), QuotaExceededError, "out of quota", id="429_quota"),
    ],
)
def test_refusals_stop_at_once(config: EmbedConfig, fault: Fault, error: type, match: str) -> None:
    """400, 401, 404 and insufficient_quota stop the job on the first refusal, keeping what was answered before."""
    with HookedServer(dim=DIM, api_key=API_KEY) as srv:
        srv.fault_at(3, fault=fault)
        cfg = fast(config, base_url=srv.url, concurrency=1, max_inputs_per_request=5)
        with pytest.raises(error, match=match) as info:
            embedframe.embed(TEXTS[:30], config=cfg)
        assert API_KEY not in str(info.value)
        assert len(srv.requests) == 3, "not retried"
        answered = srv.ok_inputs()
        assert answered == TEXTS[:10]
        _rerun_is_exact_and_pays_only_the_rest(srv, cfg, TEXTS[:30], answered)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("500", ServerError),
        ("502_html", ServerError),
        ("503", ServerError),
        ("drop", TransportError),
        ("hang", TransportError),
        ("bad_json", ResponseError),
        ("wrong_count", ResponseError),
        ("nan", ResponseError),
        ("inf", ResponseError),
        ("wrong_dim", ResponseError),
    ],
)
def test_faults_that_outlast_the_retries_fail_clearly(
    config: EmbedConfig, kind: str, error: type[EmbedFrameError]
) -> None:
    """A fault repeated past max_retries raises its own error class; no wrong vector is kept and a rerun completes."""
    with HookedServer(dim=DIM, api_key=API_KEY) as srv:
        srv.fault_at(3, 4, 5, fault=Fault(kind, hang_s=1.0))
        cfg = fast(config, base_url=srv.url, concurrency=1, max_inputs_per_request=5, max_retries=2)
        with pytest.raises(error) as info:
            embedframe.embed(TEXTS[:30], config=cfg)
        message = str(info.value)
        assert API_KEY not in message and "<html>" not in message
        if kind == "502_html":
            assert "502 Bad Gateway" in message
        if isinstance(info.value, APIError):
            assert info.value.status == int(kind[:3])
        assert len(srv.requests) == 5
        _rerun_is_exact_and_pays_only_the_rest(srv, cfg, TEXTS[:30], srv.ok_inputs())


def _rerun_is_exact_and_pays_only_the_rest(
    srv: FakeServer, cfg: EmbedConfig, texts: list[str], answered: list[str | list[int]]
) -> None:
    """A fault-free rerun gives exactly the right vectors (nothing wrong was cached) and sends only what
    the failed run had not got answered."""
    srv.reset()
    out = embedframe.embed(texts, config=cfg)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    assert sorted(srv.ok_inputs()) == sorted(set(texts) - set(answered))


# ------------------------------------------------------------------ random faults, 20%


def varied_texts(n: int, seed: int) -> list[str]:
    """Texts of different lengths and scripts, with some repeated."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "Δέλτα", "日本語", "emoji 🎉", "שלום", "tab\there", "x" * 30]
    texts = [
        " ".join(rng.choice(words, size=int(rng.integers(1, 40)))) + f" #{i % (n - 7)}" for i in range(n)
    ]
    return texts


@pytest.mark.parametrize("seed", [1, 2])
def test_random_faults_give_the_fault_free_output(server: FakeServer, config: EmbedConfig, seed: int) -> None:
    """With 20% of requests failing every recoverable way, output equals the fault-free run and no answered input is re-sent."""
    texts = varied_texts(240, seed)
    cfg = fast(config, max_inputs_per_request=4, concurrency=4, max_retries=12)
    clean = embedframe.embed(texts, config=cfg, cache=False)
    assert_each_input_answered_once(server, texts)
    server.reset()
    server.inject_random(0.2, RECOVERABLE, seed=seed)
    out = embedframe.embed(texts, config=cfg)
    faulted = [r for r in server.requests if r.fault not in (None, "shuffle")]
    assert len(faulted) >= 0.1 * len(server.requests), "the faults really happened"
    np.testing.assert_array_equal(to_numpy(out), to_numpy(clean))
    np.testing.assert_array_equal(to_numpy(out), expected(texts))
    assert_each_input_answered_once(server, texts)
    assert out.attrs["embedframe"]["retries"] == len(faulted)


class _TEI(Handler):
    """Refuses more than 8 inputs per request like Text Embeddings Inference (413, flat error body)."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if len(plan.inputs) > 8:
            body = json_error(
                {
                    "error": f"batch size {len(plan.inputs)} > maximum allowed batch size 8",
                    "error_type": "validation",
                }
            )
            return 413, body, "application/json"
        return None


def test_random_faults_while_learning_the_batch_size(config: EmbedConfig) -> None:
    """Random faults while splitting batches a server refuses as too large: exact output, nothing re-sent after an answer."""
    texts = varied_texts(200, 3)
    with HookedServer(_TEI, dim=DIM) as srv:
        srv.inject_random(0.2, FAST_RECOVERABLE, seed=3)
        cfg = fast(config, base_url=srv.url, max_inputs_per_request=50, concurrency=4, max_retries=12)
        out = embedframe.embed(texts, config=cfg)
        np.testing.assert_array_equal(to_numpy(out), expected(texts))
        assert_each_input_answered_once(srv, texts)
        assert any(r.status == 413 for r in srv.requests)
        assert all(len(r.inputs) <= 8 for r in srv.requests if r.status == 200 and r.fault is None)


class _Poison(Handler):
    """Refuses, with a 400 about the content, any request holding a text with 'POISON' in it."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if any(isinstance(t, str) and "POISON" in t for t in plan.inputs):
            body = json_error(
                {"error": {"message": "Invalid input: content refused.", "type": "invalid_request_error"}}
            )
            return 400, body, "application/json"
        return None


def test_random_faults_while_isolating_bad_rows(config: EmbedConfig) -> None:
    """Under random faults details=True bisects to the refused rows: they are marked, the rest exact, nothing answered re-sent."""
    texts = varied_texts(160, 4)
    texts[17] = "POISON one"
    texts[101] = "POISON two"
    df = pd.DataFrame({"text": texts})
    with HookedServer(_Poison, dim=DIM) as srv:
        srv.inject_random(0.2, FAST_RECOVERABLE, seed=4)
        cfg = fast(config, base_url=srv.url, max_inputs_per_request=16, concurrency=4, max_retries=12)
        out = df.embed("text", config=cfg, details=True)
        bad = out["text_status"].str.startswith("error").to_numpy()
        assert np.flatnonzero(bad).tolist() == [17, 101]
        assert "content refused" in out["text_status"][17]
        good = [t for t in texts if "POISON" not in t]
        np.testing.assert_array_equal(to_numpy(out["text_embedding"])[~bad], expected(good))
        assert resent_after_success(srv) == []
        assert sorted(srv.ok_inputs()) == sorted(set(good))
