"""Putting chunk vectors back together."""

from __future__ import annotations

import numpy as np

from embedframe._core.combine import rows_from_texts, weighted_mean


def test_weighted_mean_matches_hand_computation() -> None:
    """Chunks of 3 and 1 tokens: (3a + 1b) / 4, scaled to unit length."""
    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([0.0, 1.0], dtype=np.float32)
    got = weighted_mean(np.stack([a, b]), np.array([3, 1]))
    expected = np.array([0.75, 0.25]) / np.hypot(0.75, 0.25)
    assert np.allclose(got, expected) and got.dtype == np.float32
    assert np.isclose(np.linalg.norm(got), 1.0)


def test_rows_reuse_the_text_matrix_when_rows_are_texts() -> None:
    """With no nulls and no duplicates the row matrix is the text matrix (no copy)."""
    texts = np.eye(3, dtype=np.float32)
    rows, valid = rows_from_texts(texts, np.arange(3))
    assert rows is texts and valid.all()


def test_rows_expand_duplicates_and_zero_nulls() -> None:
    """Duplicate rows share a text's vector; null rows are invalid."""
    texts = np.eye(2, dtype=np.float32)
    rows, valid = rows_from_texts(texts, np.array([1, -1, 1, 0, -2]))
    assert valid.tolist() == [True, False, True, True, False]
    assert np.array_equal(rows[[0, 2, 3]], texts[[1, 1, 0]])
