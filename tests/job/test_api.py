"""Embedding through a real OpenAI-compatible server on loopback: order, limits, chunks, nulls."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, InputError, InputTypeError, to_numpy
from embedframe._core.tokenizer import get_tokenizer
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, vector_for_text

enc = get_tokenizer("cl100k_base")


def expected(texts: list[str], dim: int = DIM) -> np.ndarray:
    return np.stack([vector_for_text(t, dim) for t in texts])


def test_vectors_match_each_row_in_order(server: FakeServer, config: EmbedConfig) -> None:
    """Each row gets the vector of its own text, with the index and order kept."""
    texts = [f"text number {i}" for i in range(300)]
    s = pd.Series(texts, index=np.arange(300)[::-1] * 7, name="t")
    out = embedframe.embed(s, config=config)
    assert out.index.equals(s.index) and out.name == "t_embedding"
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)


def test_shuffled_response_is_placed_by_index(server: FakeServer, config: EmbedConfig) -> None:
    """A server answering data[] out of order still gives every row its own vector."""
    server.inject("shuffle")
    texts = [f"shuffled {i}" for i in range(50)]
    out = embedframe.embed(texts, config=config)
    assert server.requests[0].fault == "shuffle"
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)


def test_duplicates_are_sent_once(server: FakeServer, config: EmbedConfig) -> None:
    """Identical texts in one call reach the server once, and every copy gets the vector."""
    texts = ["a", "b", "a", "c", "b", "a"] * 50
    out = embedframe.embed(texts, config=config)
    sent = server.ok_inputs()
    assert sorted(sent) == ["a", "b", "c"]
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)


def test_requests_respect_small_server_limits() -> None:
    """With limits of 32 inputs and 2,000 tokens per request, the server never rejects a request."""
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 300)))) + f" {i}" for i in range(400)]
    with FakeServer(dim=8, max_inputs=32, max_tokens_per_request=2000, max_tokens_per_input=1000) as srv:
        out = embedframe.embed(
            texts,
            base_url=srv.url,
            max_inputs_per_request=32,
            max_tokens_per_request=2000,
            max_input_tokens=1000,
            progress=False,
        )
        assert all(r.status == 200 for r in srv.requests), [r.status for r in srv.requests]
        assert max(len(r.inputs) for r in srv.requests) <= 32
        assert max(r.total_tokens for r in srv.requests) <= 2000
        assert sorted(srv.ok_inputs()) == sorted(set(texts))
    assert np.allclose(to_numpy(out), expected(texts, 8), atol=1e-6)


def test_openai_limits_hold_for_many_long_texts(server: FakeServer, config: EmbedConfig) -> None:
    """Texts of ~8,000 tokens are packed under 300,000 tokens per request, never rejected."""
    texts = [(f"doc {i} " + "lorem ipsum dolor sit amet " * 1300) for i in range(80)]
    out = embedframe.embed(texts, config=config)
    assert all(r.status == 200 for r in server.requests)
    assert max(r.total_tokens for r in server.requests) <= 300_000
    assert sum(r.total_tokens for r in server.requests) > 300_000, "the job needed several requests"
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)


def test_long_text_is_the_weighted_mean_of_its_chunks(server: FakeServer, config: EmbedConfig) -> None:
    """A text over the limit gets the token-weighted, re-normalised mean of its chunks' vectors."""
    text = "The committee discussed the budget at length. " * 40
    out = embedframe.embed([text], config=config.replace(max_input_tokens=128))
    chunks = embedframe.embed_chunks([text], config=config.replace(max_input_tokens=128))
    assert len(chunks) > 1
    weights = np.array([len(enc.encode_ordinary(t)) for t in chunks["text"]], dtype=np.float64)
    vecs = expected(list(chunks["text"]))
    mean = (vecs * weights[:, None]).sum(0) / weights.sum()
    assert np.allclose(to_numpy(out)[0], mean / np.linalg.norm(mean), atol=1e-6)
    assert np.allclose(to_numpy(chunks["embedding"]), vecs, atol=1e-6)


def test_chunks_frame_has_one_row_per_chunk(server: FakeServer, config: EmbedConfig) -> None:
    """chunks() gives the source label, chunk number, token span, text and vector of each chunk."""
    long_text = "word " * 300
    df = pd.DataFrame({"body": ["short one", None, long_text]}, index=["x", "y", "z"])
    ch = df.embed.chunks("body", config=config, chunk_tokens=100, chunk_overlap=10)
    assert list(ch.columns) == ["row", "chunk", "token_start", "token_end", "text", "embedding"]
    assert ch["row"].tolist() == ["x"] + ["z"] * (len(ch) - 1)
    z = ch[ch["row"] == "z"]
    assert z["chunk"].tolist() == list(range(len(z)))
    assert (z["token_end"] - z["token_start"] <= 100).all()
    assert (z["token_start"].iloc[1:].to_numpy() == z["token_end"].iloc[:-1].to_numpy() - 10).all()
    assert z["token_end"].iloc[-1] == len(enc.encode_ordinary(long_text))


def test_truncate_embeds_the_start_only(server: FakeServer, config: EmbedConfig) -> None:
    """long_text='truncate' embeds the first window of the text."""
    text = "abc def " * 400
    out = embedframe.embed([text], config=config, max_input_tokens=50, long_text="truncate")
    first = enc.decode(enc.encode_ordinary(text)[:50])
    assert np.allclose(to_numpy(out)[0], vector_for_text(first, DIM), atol=1e-6)


def test_long_text_error_sends_nothing(server: FakeServer, config: EmbedConfig) -> None:
    """long_text='error' names the rows and sends no request."""
    with pytest.raises(InputError, match="long_text="):
        embedframe.embed(["ok", "abc def " * 400], config=config, max_input_tokens=50, long_text="error")
    assert server.requests == []


def test_nulls_and_empties_give_null_vectors_without_requests(
    server: FakeServer, config: EmbedConfig
) -> None:
    """None, NaN, pd.NA, '' and whitespace give nulls; only real texts are sent."""
    s = pd.Series([None, float("nan"), pd.NA, "", "   ", "real"], dtype=object)
    out = embedframe.embed(s, config=config)
    assert out.isna().tolist() == [True] * 5 + [False]
    assert server.ok_inputs() == ["real"]


def test_all_null_column_sends_nothing(server: FakeServer, config: EmbedConfig) -> None:
    """A column with no text gives an all-null vector column and no request."""
    out = embedframe.embed([None, ""], config=config, dimensions=DIM)
    assert out.isna().all() and out.dtype == embedframe.vector_dtype(DIM)
    assert server.requests == []


def test_non_string_fails_before_any_request(server: FakeServer, config: EmbedConfig) -> None:
    """A non-string value raises TypeError naming the row, before anything is sent."""
    df = pd.DataFrame({"text": ["a", 42, "b"]}, index=["r0", "r1", "r2"])
    with pytest.raises(InputTypeError, match=r"'r1'.*int"):
        df.embed("text", config=config)
    assert server.requests == []


def test_special_token_text_is_embedded_as_text(server: FakeServer, config: EmbedConfig) -> None:
    """Texts holding '<|endoftext|>' and other special-token strings embed like any text."""
    texts = ["<|endoftext|>", "before <|fim_prefix|> after", "<|endofprompt|>"]
    out = embedframe.embed(texts, config=config)
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)


def test_a_million_character_text(server: FakeServer, config: EmbedConfig) -> None:
    """A text of 1,000,000 characters is chunked, sent within limits, and gets a unit vector."""
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 17600)[:1_000_000]
    out = embedframe.embed([text, "short"], config=config)
    m = to_numpy(out)
    assert np.isclose(np.linalg.norm(m[0]), 1.0, atol=1e-5)
    assert all(r.status == 200 for r in server.requests)
    assert max(max(r.token_counts) for r in server.requests) <= 8191


def test_dimensions_are_sent_and_checked(server: FakeServer, config: EmbedConfig) -> None:
    """dimensions= reaches the server and sizes the column."""
    out = embedframe.embed(["a", "b"], config=config, dimensions=16)
    assert server.requests[0].dimensions == 16
    assert out.dtype == embedframe.vector_dtype(16)


def test_float_responses_match_base64(config: EmbedConfig) -> None:
    """A server that ignores base64 and answers float lists gives the same vectors."""
    texts = ["one", "two", "three"]
    with FakeServer(dim=DIM, ignore_base64=True, omit_usage=True) as srv:
        out = embedframe.embed(texts, config=config.replace(base_url=srv.url))
        assert srv.requests[0].encoding_format == "base64"
    assert np.allclose(to_numpy(out), expected(texts), atol=1e-6)
    assert out.attrs["embedframe"]["tokens"] == sum(len(enc.encode_ordinary(t)) for t in texts)


def test_usage_tokens_come_from_the_server(server: FakeServer, config: EmbedConfig) -> None:
    """The token count reported is the server's usage.prompt_tokens."""
    out = embedframe.embed(["hello world", "more text here"], config=config)
    assert out.attrs["embedframe"]["tokens"] == sum(r.total_tokens for r in server.requests)


def test_headers_and_user_are_sent(server: FakeServer, config: EmbedConfig) -> None:
    """The key goes as a bearer token; organization, project and user reach the server."""
    embedframe.embed(["x"], config=config, organization="org-9", project="proj-9", user="u-1")
    rec = server.requests[0]
    assert rec.headers["authorization"] == f"Bearer {API_KEY}"
    assert rec.headers["openai-organization"] == "org-9" and rec.headers["openai-project"] == "proj-9"
    assert rec.user == "u-1"


def test_concurrency_is_bounded(server: FakeServer, config: EmbedConfig) -> None:
    """No more than `concurrency` requests are in flight at once."""
    server.peak_concurrency = 0
    with FakeServer(dim=4, latency_s=0.05) as srv:
        embedframe.embed(
            [f"t{i}" for i in range(40)],
            config=config.replace(base_url=srv.url),
            max_inputs_per_request=2,
            concurrency=3,
        )
        assert 1 < srv.peak_concurrency <= 3


def test_sync_call_works_inside_a_running_loop(server: FakeServer, config: EmbedConfig) -> None:
    """The sync API works where an event loop is already running, as in a Jupyter cell."""

    async def cell() -> pd.Series:
        return embedframe.embed(["inside a loop"], config=config)

    out = asyncio.run(cell())
    assert np.allclose(to_numpy(out), expected(["inside a loop"]), atol=1e-6)


def test_async_api(server: FakeServer, config: EmbedConfig) -> None:
    """aembed and the async accessor give the same vectors as the sync calls."""

    async def main() -> tuple[pd.Series, pd.DataFrame]:
        df = pd.DataFrame({"t": ["p", "q"]})
        return await embedframe.aembed(["p", "q"], config=config), await df.embed.acolumn("t", config=config)

    s, df = asyncio.run(main())
    assert np.array_equal(to_numpy(s), to_numpy(df["t_embedding"]))


def test_an_openai_model_without_key_or_server_is_a_config_error() -> None:
    """Naming an OpenAI model with no key and no server says how to configure one, before sending."""
    with pytest.raises(embedframe.ConfigError, match="OPENAI_API_KEY"):
        embedframe.embed(["x"], model="text-embedding-3-small", progress=False)
