"""Packing pieces into requests under the per-request limits."""

from __future__ import annotations

import numpy as np

from embedframe._core.pack import pack


def _check(batches: list, bound: np.ndarray, n: int, max_inputs: int, max_tokens: int) -> None:
    seen = np.concatenate([b.pieces for b in batches])
    assert np.array_equal(seen, np.arange(n)), "every piece once, in order"
    for b in batches:
        assert 0 < len(b.pieces) <= max_inputs
        assert int(bound[b.pieces].sum()) <= max_tokens
        assert b.tokens == int(bound[b.pieces].sum())


def test_count_limit_splits_evenly() -> None:
    """Small pieces are split by the input-count limit alone."""
    bound = np.full(5000, 10, dtype=np.int64)
    batches = pack(bound, np.ones(5000, bool), max_inputs=2048, max_tokens=300_000, count=lambda p: 0)
    assert [len(b.pieces) for b in batches] == [2048, 2048, 904]
    _check(batches, bound, 5000, 2048, 300_000)


def test_token_limit_is_never_exceeded() -> None:
    """Random sizes never put a request over either limit, and no request is empty."""
    rng = np.random.default_rng(0)
    bound = rng.integers(1, 8191, size=3000).astype(np.int64)
    batches = pack(bound.copy(), np.ones(3000, bool), max_inputs=64, max_tokens=30_000, count=lambda p: 0)
    _check(batches, bound, 3000, 64, 30_000)


def test_loose_bounds_are_tightened_only_when_they_would_split() -> None:
    """Byte-length bounds are replaced by exact counts only where they would close a request."""
    bound = np.full(100, 400, dtype=np.int64)  # bytes; the true count is 100
    exact = np.zeros(100, dtype=bool)
    counted: list[int] = []

    def count(p: int) -> int:
        counted.append(p)
        return 100

    batches = pack(bound, exact, max_inputs=2048, max_tokens=10_000, count=count)
    assert len(batches) == 1 and batches[0].tokens == 100 * 100
    assert 0 < len(counted) <= 100
    _check(batches, bound, 100, 2048, 10_000)


def test_no_pieces_no_batches() -> None:
    """Nothing to send gives no request at all."""
    assert pack(np.zeros(0, np.int64), np.zeros(0, bool), max_inputs=10, max_tokens=10, count=len) == []


def test_a_piece_over_the_token_limit_goes_alone() -> None:
    """Under a pacing cap below one input's size, a larger piece is a request of its own, never an error."""
    bound = np.array([100, 900, 100, 100, 1200], dtype=np.int64)
    batches = pack(bound.copy(), np.ones(5, bool), max_inputs=2048, max_tokens=250, count=lambda p: 0)
    assert [b.pieces.tolist() for b in batches] == [[0], [1], [2, 3], [4]]
    assert [b.tokens for b in batches] == [100, 900, 200, 1200]
