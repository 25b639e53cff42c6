"""Servers that are not quite OpenAI: size limits stated in other words, other error body
shapes, no token arrays, no base64, no usage, and Azure OpenAI's deployment URLs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import (
    APIError,
    AuthenticationError,
    BadRequestError,
    EmbedConfig,
    ServerError,
    to_numpy,
)
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, RecordedRequest, _Plan, encoding, vector_for_text
from tests.support.hookserver import Answer, Handler, HookedServer


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def expected(texts: list[str], dim: int = DIM) -> np.ndarray:
    return np.stack([vector_for_text(t, dim) for t in texts])


TEXTS = [f"dialect text {i} " + "word " * (i % 13) for i in range(300)]


def refusals(srv: FakeServer, status: int) -> int:
    return sum(1 for r in srv.requests if r.status == status)


def after_first_refusal(srv: FakeServer, status: int) -> list[RecordedRequest]:
    first = next(i for i, r in enumerate(srv.requests) if r.status == status)
    return srv.requests[first + 1 :]


# ------------------------------------------------------------------ too big, said many ways


class _TEIBatch(Handler):
    """Text Embeddings Inference: more than 32 inputs is a 413 with a flat error body."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if len(plan.inputs) > 32:
            body = {
                "error": f"batch size {len(plan.inputs)} > maximum allowed batch size 32",
                "error_type": "Validation",
            }
            return 413, json.dumps(body).encode(), "application/json"
        return None


class _PydanticBatch(Handler):
    """A FastAPI server (Infinity-like): more than 32 inputs is a 422 with a pydantic detail list."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if len(plan.inputs) > 32:
            detail = [
                {
                    "type": "too_long",
                    "loc": ["body", "input"],
                    "msg": f"List should have at most 32 items after validation, not {len(plan.inputs)}",
                }
            ]
            return 422, json.dumps({"detail": detail}).encode(), "application/json"
        return None


@pytest.mark.parametrize(
    ("handler", "status"), [(_TEIBatch, 413), (_PydanticBatch, 422)], ids=["tei-413", "fastapi-422"]
)
def test_batch_size_limit_is_learnt_from_the_first_refusal(
    config: EmbedConfig, handler: type[Handler], status: int
) -> None:
    """A 413/422 stating 'at most 32 inputs' is refused once; every later request holds at most 32 inputs."""
    with HookedServer(handler, dim=DIM) as srv:
        out = embedframe.embed(TEXTS, config=config.replace(base_url=srv.url))
        assert refusals(srv, status) == 1
        later = after_first_refusal(srv, status)
        assert later and all(len(r.inputs) <= 32 and r.status == 200 for r in later)
        assert sorted(srv.ok_inputs()) == sorted(TEXTS)
    np.testing.assert_array_equal(to_numpy(out), expected(TEXTS))


class _Proxy413(Handler):
    """A proxy in front of the server: over 40 inputs is a bare 413 page stating no limit."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        if len(plan.inputs) > 40:
            return 413, b"Request Entity Too Large", "text/plain"
        return None


def test_a_bare_413_halves_until_it_fits_and_remembers(config: EmbedConfig) -> None:
    """With no limit stated the request is halved until accepted, and the smaller size is kept for the rest."""
    with HookedServer(_Proxy413, dim=DIM) as srv:
        out = embedframe.embed(TEXTS, config=config.replace(base_url=srv.url))
        statuses = [r.status for r in srv.requests]
        fits = statuses.index(200)  # the job's first request (its probe): 85, then 42, then 21 inputs
        assert fits >= 2 and statuses[:fits] == [413] * fits, "halved until it fits"
        # the others start at the probe's first answer, so a request cut before the size was
        # learned may still be refused after it; none cut later is
        late = statuses[fits:].count(413)
        assert late <= config.concurrency - 1, "and the size that fits is kept"
        accepted = [len(r.inputs) for r in srv.requests if r.status == 200]
        assert max(accepted) <= 40 and sum(accepted) == 300
    np.testing.assert_array_equal(to_numpy(out), expected(TEXTS))


def test_openai_max_tokens_per_request_is_learnt(config: EmbedConfig) -> None:
    """OpenAI's 400 max_tokens_per_request ('max 2000 tokens per request') is split to that size once and for all."""
    texts = [f"{i} " + "lorem ipsum dolor " * 40 for i in range(60)]  # ~120 tokens each
    with FakeServer(dim=DIM, max_tokens_per_request=2000) as srv:
        out = embedframe.embed(texts, config=config.replace(base_url=srv.url))
        assert refusals(srv, 400) == 1
        later = after_first_refusal(srv, 400)
        assert all(r.status == 200 and r.total_tokens <= 2000 for r in later)
    np.testing.assert_array_equal(to_numpy(out), expected(texts))


def test_openai_too_many_inputs_is_learnt(config: EmbedConfig) -> None:
    """OpenAI's 'The max number of inputs is 32' is refused once, then every request holds at most 32."""
    with FakeServer(dim=DIM, max_inputs=32) as srv:
        out = embedframe.embed(TEXTS, config=config.replace(base_url=srv.url))
        assert refusals(srv, 400) == 1
        assert all(len(r.inputs) <= 32 and r.status == 200 for r in after_first_refusal(srv, 400))
    np.testing.assert_array_equal(to_numpy(out), expected(TEXTS))


LONG = "antidisestablishmentarianism " * 30  # over 60 tokens


def test_context_length_error_says_how_to_fix_it(config: EmbedConfig) -> None:
    """A per-input context-length 400 fails at once (splitting cannot help) naming max_input_tokens=<the server's limit>."""
    texts = [*TEXTS[:20], LONG]
    with FakeServer(dim=DIM, max_tokens_per_input=60) as srv:
        cfg = config.replace(base_url=srv.url)
        with pytest.raises(BadRequestError, match=r"maximum context length is 60.*pass max_input_tokens=60"):
            embedframe.embed(texts, config=cfg)
        assert len(srv.requests) == 1
        srv.reset()
        out = embedframe.embed(texts, config=cfg, max_input_tokens=60)
        assert all(r.status == 200 for r in srv.requests)
        assert max(max(r.token_counts) for r in srv.requests) <= 60
    np.testing.assert_array_equal(to_numpy(out)[:20], expected(texts[:20]))


class _TEILength(Handler):
    """Text Embeddings Inference: an input over 60 tokens is a 413 'must have less than 60 tokens'."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        worst = max(rec.token_counts, default=0)
        if worst > 60:
            body = {
                "error": f"Input validation error: `inputs` must have less than 60 tokens. Given: {worst}",
                "error_type": "Validation",
            }
            return 413, json.dumps(body).encode(), "application/json"
        return None


@pytest.mark.parametrize("dialect", ["openai-400", "tei-413"])
def test_an_input_over_the_servers_context_is_a_bad_row_with_details(
    config: EmbedConfig, dialect: str
) -> None:
    """With details=True a too-long input is marked refused, the others embedded, and the request size is not shrunk."""
    texts = [*TEXTS[:100], LONG, *TEXTS[100:200]]
    df = pd.DataFrame({"text": texts})
    srv: FakeServer = (
        FakeServer(dim=DIM, max_tokens_per_input=60)
        if dialect == "openai-400"
        else HookedServer(_TEILength, dim=DIM)
    )
    with srv:
        out = df.embed("text", config=config.replace(base_url=srv.url), details=True)
        assert max(len(r.inputs) for r in srv.requests if r.status == 200) >= 50, "requests stayed large"
        assert len(srv.requests) <= 2 + 2 * 8, "one bisection, no more"
    status = out["text_status"].tolist()
    assert status[100].startswith("error: refused by the server:") and "60 tokens" in status[100]
    assert status[:100] + status[101:] == ["ok"] * 200
    good = np.ones(201, dtype=bool)
    good[100] = False
    np.testing.assert_array_equal(to_numpy(out["text_embedding"])[good], expected(texts[:100] + texts[101:]))


def test_tei_input_too_long_without_details_names_the_limit(config: EmbedConfig) -> None:
    """TEI's 413 'must have less than 60 tokens' fails at once with the server's words and max_input_tokens=60."""
    with HookedServer(_TEILength, dim=DIM) as srv:
        with pytest.raises(BadRequestError, match=r"must have less than 60 tokens.*max_input_tokens=60"):
            embedframe.embed([*TEXTS[:10], LONG], config=config.replace(base_url=srv.url))
        assert len(srv.requests) == 1


# ------------------------------------------------------------------------ error bodies


class _Says(Handler):
    """Answers every request with the status, body and content type in ``fake.says``."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        return self.server.fake.says  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error", "message"),
    [
        (
            400,
            {"detail": "Model bge-small is not loaded"},
            "application/json",
            BadRequestError,
            "Model bge-small is not loaded",
        ),
        (
            422,
            {"detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]},
            "application/json",
            BadRequestError,
            "Field required",
        ),
        (
            400,
            {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Validation"},
            "application/json",
            BadRequestError,
            "`inputs` cannot be empty",
        ),
        (401, {"detail": "Invalid API key"}, "application/json", AuthenticationError, "Invalid API key"),
        (
            400,
            "model 'nomic' not found, try pulling it first",
            "text/plain",
            BadRequestError,
            "try pulling it first",
        ),
        (
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            "text/plain",
            ServerError,
            "upstream connect error",
        ),
        (
            500,
            {"message": "Internal error in the embedding worker"},
            "application/json",
            ServerError,
            "embedding worker",
        ),
    ],
    ids=[
        "fastapi-detail",
        "fastapi-list",
        "tei-flat",
        "fastapi-401",
        "plain-400",
        "plain-503",
        "message-500",
    ],
)
def test_error_bodies_of_every_shape_reach_the_user(
    config: EmbedConfig,
    status: int,
    body: object,
    content_type: str,
    error: type[APIError],
    message: str,
) -> None:
    """FastAPI's detail, TEI's flat error, a bare message and plain text all give an error holding the server's words."""
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    with HookedServer(_Says, dim=DIM) as srv:
        srv.says = (status, raw, content_type)  # type: ignore[attr-defined]
        with pytest.raises(error) as info:
            embedframe.embed(["a", "b"], config=config.replace(base_url=srv.url, max_retries=1))
        assert info.value.status == status and message in str(info.value)
        assert "{" not in info.value.message, "the text, not the JSON around it"
        assert len(srv.requests) == (2 if status >= 500 else 1)


# ----------------------------------------------------------------- what servers leave out


def test_server_without_token_arrays_gets_strings(config: EmbedConfig) -> None:
    """A server refusing token-array input (Ollama, Infinity) works: only strings are ever sent."""
    texts = [*TEXTS[:50], "<|endoftext|> and more", LONG]
    with FakeServer(dim=DIM, accept_token_arrays=False) as srv:
        out = embedframe.embed(texts, config=config.replace(base_url=srv.url, max_input_tokens=40))
        assert all(r.status == 200 for r in srv.requests)
        assert all(isinstance(i, str) for r in srv.requests for i in r.inputs)
    np.testing.assert_array_equal(to_numpy(out)[:51], expected(texts[:51]))


def test_server_ignoring_base64_gives_the_same_floats(config: EmbedConfig) -> None:
    """A server answering float lists although base64 was asked gives bit-identical vectors, dimensions too."""
    with FakeServer(dim=DIM, ignore_base64=True) as srv:
        out = embedframe.embed(TEXTS[:40], config=config.replace(base_url=srv.url), dimensions=16)
        assert srv.requests[0].encoding_format == "base64"
    with FakeServer(dim=DIM) as srv:
        b64 = embedframe.embed(
            TEXTS[:40], config=config.replace(base_url=srv.url, cache=False), dimensions=16
        )
    np.testing.assert_array_equal(to_numpy(out), to_numpy(b64))


def test_server_omitting_usage_has_tokens_counted_here(config: EmbedConfig) -> None:
    """With no usage in the answers, the tokens reported are counted locally and equal the server's own count."""
    texts = [*TEXTS[:30], "ünïcödé 日本語 🎉", LONG]
    with FakeServer(dim=DIM, omit_usage=True) as srv:
        out = embedframe.embed(texts, config=config.replace(base_url=srv.url))
        assert out.attrs["embedframe"]["tokens"] == sum(r.total_tokens for r in srv.requests)
    assert out.attrs["embedframe"]["tokens"] == sum(tokens(t) for t in set(texts))


# --------------------------------------------------------------------------------- Azure

DEPLOYMENT = "/openai/deployments/my-embedder"


class _Azure(Handler):
    """Azure OpenAI: POST {deployment}/embeddings?api-version=..., the key in an api-key header."""

    def do_POST(self) -> None:
        fake = self.server.fake
        path, _, query = self.path.partition("?")
        seen = {
            "path": path,
            "query": query,
            "api-key": self.headers.get("api-key"),
            "auth": self.headers.get("authorization"),
        }
        fake.seen.append(seen)  # type: ignore[attr-defined]
        if path != f"{DEPLOYMENT}/embeddings" or "api-version=2024-02-01" not in query.split("&"):
            body = {"error": {"code": "404", "message": "Resource not found"}}
            self._read_body()
            self._send(404, json.dumps(body).encode())
            return
        if seen["api-key"] != API_KEY:
            self._read_body()
            body = {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API endpoint.",
                }
            }
            self._send(401, json.dumps(body).encode())
            return
        self.path = "/v1/embeddings"
        super().do_POST()


@pytest.mark.parametrize("url_form", ["api_version", "query"])
def test_azure_deployment_url_api_version_and_api_key(config: EmbedConfig, url_form: str) -> None:
    """Azure: requests go to {deployment}/embeddings?api-version=..., with the key in api-key and no bearer token."""
    with HookedServer(_Azure, dim=DIM) as srv:
        srv.seen = []  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{srv.port}{DEPLOYMENT}"
        options = (
            {"base_url": base, "api_version": "2024-02-01"}
            if url_form == "api_version"
            else {"base_url": f"{base}?api-version=2024-02-01"}
        )
        cfg = config.replace(**options)
        assert cfg.is_azure
        out = embedframe.embed(TEXTS[:10], config=cfg)
        np.testing.assert_array_equal(to_numpy(out), expected(TEXTS[:10]))
        assert srv.seen == [  # type: ignore[attr-defined]
            {
                "path": f"{DEPLOYMENT}/embeddings",
                "query": "api-version=2024-02-01",
                "api-key": API_KEY,
                "auth": None,
            }
        ]
        srv.reset()
        with pytest.raises(AuthenticationError, match="Access denied") as info:
            embedframe.embed(["x"], config=cfg.replace(api_key="sk-azure-WRONG-0123456789"))
        assert "sk-azure-WRONG-0123456789" not in str(info.value)
        assert API_KEY not in repr(cfg) and "2024-02-01" in cfg.endpoint
