"""embedframe.estimate: exact tokens, requests and cost before spending, without touching the network."""

from __future__ import annotations

import math
import socket

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig
from tests.support import API_KEY
from tests.support.fakeserver import FakeServer, encoding

LIMIT = 40  # max_input_tokens in these tests, so that long texts are short to write
LONG = " ".join(f"word{i}" for i in range(120))  # well over LIMIT tokens
LONGER = " ".join(f"term {i * 37}" for i in range(70))  # no two chunks alike


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def mixed() -> pd.Series:
    """Texts of every kind: short, duplicate, null, empty, whitespace and over the limit."""
    short = [f"short text number {i}" for i in range(7)]
    return pd.Series(
        [*short, short[0], short[1], None, np.nan, "", "   ", LONG, LONGER, LONG, "tail"],
        name="body",
    )


def test_counts_every_kind_of_row(config: EmbedConfig) -> None:
    """Rows, nulls, empties, duplicates, distinct texts and over-long rows with their chunk count are exact."""
    est = embedframe.estimate(mixed(), config=config, max_input_tokens=LIMIT)
    assert est.rows == 17
    assert (est.null_rows, est.empty_rows, est.bad_rows) == (2, 2, 0)
    assert est.duplicate_rows == 3  # short[0], short[1] and LONG again
    assert est.distinct_texts == 10
    assert est.long_rows == 3  # LONG twice and LONGER
    assert est.long_pieces == math.ceil(tokens(LONG) / LIMIT) + math.ceil(tokens(LONGER) / LIMIT)
    assert est.pieces == 8 + est.long_pieces
    assert est.model == "text-embedding-3-small" and est.cache_hits == 0


def test_tokens_are_exact_tiktoken_counts(config: EmbedConfig) -> None:
    """tokens is the cl100k_base count of every distinct text sent (chunks of a long text add up to it)."""
    s = mixed()
    est = embedframe.estimate(s, config=config, max_input_tokens=LIMIT)
    distinct = {t for t in s.dropna() if t.strip()}
    assert est.tokens == sum(tokens(t) for t in distinct)


def test_cost_is_the_list_price_of_text_embedding_3_small(config: EmbedConfig) -> None:
    """usd is tokens x $0.02 per million for text-embedding-3-small, and None for a model without a known price."""
    texts = [f"priced text {i} " * 20 for i in range(50)]
    est = embedframe.estimate(texts, config=config)
    assert est.tokens == sum(tokens(t) for t in texts)
    assert est.usd == pytest.approx(est.tokens * 0.02 / 1_000_000)
    large = embedframe.estimate(texts, config=config, model="text-embedding-3-large")
    assert large.usd == pytest.approx(est.tokens * 0.13 / 1_000_000)
    assert embedframe.estimate(texts, config=config, model="my-self-hosted-model").usd is None


@pytest.mark.parametrize(
    "limits",
    [
        {"max_inputs_per_request": 3},
        {"max_inputs_per_request": 50, "max_tokens_per_request": 60},
        {"max_inputs_per_request": 2048},
        {"max_inputs_per_request": 2048, "tokens_per_minute": 60_000},
    ],
    ids=["by-count", "by-tokens", "one-request", "paced-by-tokens-per-minute"],
)
def test_requests_and_tokens_match_what_a_real_run_sends(
    server: FakeServer, config: EmbedConfig, limits: dict[str, int]
) -> None:
    """The estimated requests and tokens are what the server then receives for the same job."""
    s = pd.concat(
        [mixed(), pd.Series([f"extra text {i} " * (i % 9 + 1) for i in range(40)])], ignore_index=True
    )
    est = embedframe.estimate(s, config=config, max_input_tokens=LIMIT, **limits)
    assert server.requests == []
    out = embedframe.embed(s, config=config, max_input_tokens=LIMIT, **limits)
    assert len(server.requests) == est.requests == out.attrs["embedframe"]["requests"]
    if "tokens_per_minute" in limits:  # the budget, not the other limits, cuts the requests
        assert est.requests > 1
    assert sum(r.total_tokens for r in server.requests) == est.tokens == out.attrs["embedframe"]["tokens"]
    assert len(server.ok_inputs()) == est.pieces


def test_requests_at_the_default_size_hold_4_mib_of_vectors_and_are_estimated_so() -> None:
    """1,000 texts at 1536-d go in requests of at most 682 inputs (4 MiB of vectors), as estimated;
    max_inputs_per_request=2048, set by the user, makes them larger."""
    texts = pd.Series([f"answer size {i}" for i in range(1000)])
    with FakeServer(dim=1536, api_key=API_KEY) as srv:
        cfg = EmbedConfig(base_url=srv.url, api_key=API_KEY, model="text-embedding-3-small", progress=False)
        est = embedframe.estimate(texts, config=cfg, cache=False)
        out = embedframe.embed(texts, config=cfg, cache=False)
        sizes = [len(r.inputs) for r in srv.requests]
        # the probe goes first and alone; the first batch's tail and the last batch go at once
        assert len(sizes) == 3 and sorted(sizes[1:]) == sorted([682 - sizes[0], 318])
        assert est.requests == len(sizes) == out.attrs["embedframe"]["requests"]
        srv.reset()
        embedframe.embed(texts, config=cfg, cache=False, max_inputs_per_request=2048)
        assert max(len(r.inputs) for r in srv.requests) > 682


def test_cache_hits_after_a_real_run(server: FakeServer, config: EmbedConfig) -> None:
    """After a run, the estimate finds its pieces cached: no tokens, requests or cost left; a partial run leaves the rest."""
    s = mixed()
    half = s.iloc[:8]
    embedframe.embed(half, config=config, max_input_tokens=LIMIT)
    partly = embedframe.estimate(s, config=config, max_input_tokens=LIMIT)
    assert partly.cache_hits == 7  # the seven distinct short texts of the first half
    assert partly.tokens == embedframe.estimate(
        s, config=config, max_input_tokens=LIMIT, cache=False
    ).tokens - sum(tokens(t) for t in set(half))
    before = len(server.requests)
    embedframe.embed(s, config=config, max_input_tokens=LIMIT)
    assert len(server.requests) - before == partly.requests
    done = embedframe.estimate(s, config=config, max_input_tokens=LIMIT)
    assert done.cache_hits == done.pieces > 0
    assert (done.tokens, done.requests, done.usd) == (0, 0, 0.0)


def test_no_network_is_used(server: FakeServer) -> None:
    """The estimate works against a closed port, and sends nothing to a live server."""
    closed = embedframe.estimate(mixed(), base_url=closed_port_url(), api_key="sk-x", max_input_tokens=LIMIT)
    live = embedframe.estimate(mixed(), base_url=server.url, api_key="sk-x", max_input_tokens=LIMIT)
    assert closed.tokens > 0 and closed.requests > 0
    assert (closed.tokens, closed.requests, closed.pieces) == (live.tokens, live.requests, live.pieces)
    assert server.requests == []


def test_bad_rows_are_counted_not_raised(config: EmbedConfig) -> None:
    """Non-strings, and texts over the limit under long_text='error', are counted as bad rows and cost nothing."""
    s = pd.Series(["fine", 42, b"bytes", LONG, "also fine"])
    est = embedframe.estimate(s, config=config, max_input_tokens=LIMIT, long_text="error")
    assert est.bad_rows == 3 and est.long_rows == 0
    assert est.tokens == tokens("fine") + tokens("also fine") and est.requests == 1
    truncated = embedframe.estimate(
        s.iloc[[0, 3]], config=config, max_input_tokens=LIMIT, long_text="truncate"
    )
    assert (truncated.long_rows, truncated.long_pieces, truncated.tokens) == (1, 1, tokens("fine") + LIMIT)


def test_accessor_and_str_give_the_same_estimate(config: EmbedConfig) -> None:
    """df.embed.estimate(col) equals embedframe.estimate(df[col]); str() shows tokens, requests and cost."""
    df = pd.DataFrame({"body": mixed(), "n": range(17)})
    est = df.embed.estimate("body", config=config, max_input_tokens=LIMIT)
    assert est == embedframe.estimate(df["body"], config=config, max_input_tokens=LIMIT)
    text = str(est)
    assert f"tokens to send   {est.tokens:,}" in text and f"requests         {est.requests:,}" in text
    assert "estimated cost   $" in text
