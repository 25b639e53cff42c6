"""Batch API files (pure): custom_id, request lines, splitting under the per-batch limits, result lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedframe._core.batchfile import (
    MAX_FILE_BYTES,
    MAX_INPUTS_PER_BATCH,
    MAX_REQUESTS_PER_FILE,
    batch_usd,
    custom_id,
    keys_digest,
    parse_custom_id,
    read_result_line,
    request_line,
    split_parts,
)

KEYS = [bytes([i]) * 32 for i in range(3)]


def test_custom_id_round_trip() -> None:
    """custom_id names job, request and a digest of the keys; parsing gives them back."""
    cid = custom_id("ejob_abc", 17, KEYS)
    parsed = parse_custom_id(cid)
    assert (parsed.job_id, parsed.request, parsed.digest) == ("ejob_abc", 17, keys_digest(KEYS))
    assert keys_digest(KEYS) != keys_digest(KEYS[::-1])  # order matters: vectors are placed by it


@pytest.mark.parametrize("bad", ["", "x", "job:1", "job:one:0123456789abcdef", "job:1:short", 5])
def test_foreign_custom_ids_are_refused(bad: object) -> None:
    """A custom_id embedframe did not make raises ValueError."""
    with pytest.raises(ValueError):
        parse_custom_id(bad)


def test_request_line() -> None:
    """One JSON line: custom_id, POST, /v1/embeddings, the body; UTF-8 kept as is."""
    line = request_line("j:0:0123456789abcdef", {"model": "m", "input": ["héllo"]})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc == {
        "custom_id": "j:0:0123456789abcdef",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "m", "input": ["héllo"]},
    }
    assert "héllo".encode() in line


def arrays(*columns: list[int]) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.int64) for c in columns]


def test_split_parts_keeps_order_and_every_limit() -> None:
    """Batches are consecutive runs of requests, each within inputs, bytes, requests and tokens."""
    inputs, nbytes, tokens = arrays([3, 3, 3, 3, 3], [10, 10, 10, 10, 10], [5, 5, 5, 5, 5])
    parts = split_parts(inputs, nbytes, tokens, max_inputs=7, max_bytes=100, max_requests=10)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4]]
    parts = split_parts(inputs, nbytes, tokens, max_bytes=25)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4]]
    parts = split_parts(inputs, nbytes, tokens, max_requests=3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4]]
    parts = split_parts(inputs, nbytes, tokens, max_tokens=15)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4]]
    assert split_parts(*arrays([], [], [])) == []


def test_split_parts_openai_limits() -> None:
    """The defaults are OpenAI's: 50,000 inputs a batch, 50,000 requests and 200 MB a file."""
    n = 60_000
    one = np.ones(n, dtype=np.int64)
    parts = split_parts(one, one * 100, one)
    assert [len(p) for p in parts] == [MAX_REQUESTS_PER_FILE, n - MAX_REQUESTS_PER_FILE]
    parts = split_parts(
        np.full(30, 2048, dtype=np.int64), np.full(30, 1000, dtype=np.int64), np.ones(30, dtype=np.int64)
    )
    assert all(2048 * len(p) <= MAX_INPUTS_PER_BATCH for p in parts) and len(parts) == 2
    big = np.full(5, 60_000_000, dtype=np.int64)
    parts = split_parts(np.ones(5, dtype=np.int64), big, np.ones(5, dtype=np.int64))
    assert all(int(big[p].sum()) <= MAX_FILE_BYTES for p in parts) and len(parts) == 2


def test_a_request_over_a_batch_limit_is_refused() -> None:
    """A request that alone breaks a limit cannot be batched: ValueError, not a bad file."""
    with pytest.raises(ValueError, match="tokens"):
        split_parts(*arrays([1], [10], [500]), max_tokens=100)
    with pytest.raises(ValueError, match="bytes"):
        split_parts(*arrays([1], [10], [5]), max_bytes=5)


def test_result_lines() -> None:
    """Output lines give the body; error lines the status, code and message; expired lines their code."""
    ok = read_result_line(
        b'{"id":"r","custom_id":"c","response":{"status_code":200,"request_id":"q","body":{"data":[]}},"error":null}'
    )
    assert ok.status == 200 and ok.body is not None and json.loads(ok.body) == {"data": []}
    spaced = {
        "id": "r",
        "custom_id": 'c:"1"',
        "response": {"status_code": 200, "request_id": "q", "body": {"a": [1]}},
    }
    for doc in (
        spaced,
        {**spaced, "error": None},
        {"custom_id": "c", "response": spaced["response"], "error": None},
    ):
        line = read_result_line(json.dumps(doc).encode())
        assert (
            line.custom_id == doc["custom_id"]
            and line.body is not None
            and json.loads(line.body) == {"a": [1]}
        )
    refused = read_result_line(
        json.dumps(
            {
                "custom_id": "c",
                "response": {"status_code": 400, "body": {"error": {"message": "bad", "code": "invalid"}}},
                "error": None,
            }
        ).encode()
    )
    assert (refused.status, refused.code, refused.message, refused.body) == (400, "invalid", "bad", None)
    expired = read_result_line(
        b'{"custom_id":"c","response":null,"error":{"code":"batch_expired","message":"not run"}}'
    )
    assert (expired.status, expired.code) == (None, "batch_expired")
    with pytest.raises(ValueError):
        read_result_line(b'{"no": "custom id"}')


def test_batch_price_is_half() -> None:
    """The Batch API costs half the list price; an unknown price stays unknown."""
    assert batch_usd(0.2) == pytest.approx(0.1) and batch_usd(None) is None
