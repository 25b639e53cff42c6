"""Put piece vectors back together as one vector per text and per row (pure)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .plan import Plan

__all__ = ["rows_from_texts", "texts_from_pieces", "weighted_mean"]


def weighted_mean(
    vectors: npt.NDArray[np.float32], weights: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Token-count-weighted mean of ``vectors``, scaled back to unit length."""
    mean = (vectors.astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()
    norm = np.linalg.norm(mean)
    unit: npt.NDArray[np.float32] = (mean / norm if norm > 0 else mean).astype(np.float32)
    return unit


def texts_from_pieces(pieces: npt.NDArray[np.float32], plan: Plan) -> npt.NDArray[np.float32]:
    """One vector per distinct text: its piece's vector, or the weighted mean of its chunks.

    Returns ``pieces`` itself (no copy) when every text is exactly one piece.
    """
    if plan.single_piece:
        return pieces
    n, d = len(plan.texts), pieces.shape[1]
    counts = np.diff(plan.ref_start)
    out = np.empty((n, d), dtype=np.float32)
    out[counts == 0] = 0  # texts refused as bad rows; no row points at them
    single = np.flatnonzero(counts == 1)
    out[single] = pieces[plan.ref_piece[plan.ref_start[single]]]
    for t in np.flatnonzero(counts > 1).tolist():
        refs = slice(int(plan.ref_start[t]), int(plan.ref_start[t + 1]))
        out[t] = weighted_mean(pieces[plan.ref_piece[refs]], plan.ref_tokens[refs])
    return out


def rows_from_texts(
    texts: npt.NDArray[np.float32], row_text: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Per row: its text's vector (zeros where the row is null), and which rows are valid.

    Returns ``texts`` itself (no copy) when row ``i`` is text ``i`` for every row.
    """
    valid = row_text >= 0
    if len(row_text) == len(texts) and np.array_equal(row_text, np.arange(len(texts))):
        return texts, valid
    out = np.empty((len(row_text), texts.shape[1]), dtype=np.float32)
    out[valid] = texts[row_text[valid]]
    out[~valid] = 0
    return out, valid
