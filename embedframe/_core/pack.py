"""Pack pieces into requests under the per-request limits (pure).

Each request holds at most ``max_inputs`` pieces and at most ``max_tokens`` tokens, counted
by each piece's upper bound. Where a bound that is not exact (a byte length) would close a
request early, the pieces involved are tokenized to get their exact counts first, so short
texts are tokenized only when it lets more of them share a request. No request is empty
and none is over a limit, except that a piece larger than ``max_tokens`` (a rate budget's
cap on one request can be below one input's limit) goes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Batch", "pack"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One request's worth of pieces."""

    pieces: npt.NDArray[np.int64]
    tokens: int
    """Upper bound on the request's tokens (exact when every piece's count is exact)."""


def pack(
    bound: npt.NDArray[np.int64],
    exact: npt.NDArray[np.bool_],
    *,
    max_inputs: int,
    max_tokens: int,
    count: Callable[[int], int],
) -> list[Batch]:
    """Split pieces ``0..len(bound)-1``, in order, into batches.

    ``bound`` and ``exact`` are updated in place where ``count(piece)`` is called to
    replace a bound by the exact token count.
    """
    n = len(bound)
    if n == 0:
        return []
    if _fits_by_count(bound, max_inputs, max_tokens):
        return [
            Batch(np.arange(s, min(s + max_inputs, n), dtype=np.int64), int(bound[s : s + max_inputs].sum()))
            for s in range(0, n, max_inputs)
        ]

    batches: list[Batch] = []
    start = 0
    total = 0
    loose: list[int] = []
    for i in range(n):
        b = int(bound[i])
        if total + b > max_tokens or i - start >= max_inputs:
            if i - start < max_inputs:
                b, total = _tighten(i, loose, bound, exact, count, total)
                loose.clear()
            if (total + b > max_tokens or i - start >= max_inputs) and i > start:
                batches.append(Batch(np.arange(start, i, dtype=np.int64), total))
                start, total = i, 0
                loose.clear()
        total += b
        if not exact[i]:
            loose.append(i)
    batches.append(Batch(np.arange(start, n, dtype=np.int64), total))
    return batches


def _fits_by_count(bound: npt.NDArray[np.int64], max_inputs: int, max_tokens: int) -> bool:
    """Whether every run of ``max_inputs`` consecutive pieces is within ``max_tokens``."""
    if len(bound) <= max_inputs:
        return int(bound.sum()) <= max_tokens
    sums = np.cumsum(bound)
    windows = sums[max_inputs - 1 :] - np.concatenate(([0], sums[:-max_inputs]))
    return int(windows.max()) <= max_tokens


def _tighten(
    i: int,
    loose: list[int],
    bound: npt.NDArray[np.int64],
    exact: npt.NDArray[np.bool_],
    count: Callable[[int], int],
    total: int,
) -> tuple[int, int]:
    """Replace the bounds of piece ``i`` and the open batch's loose pieces by exact counts."""
    for j in [*loose, i]:
        if exact[j]:
            continue
        c = count(j)
        if j != i:
            total -= int(bound[j]) - c
        bound[j] = c
        exact[j] = True
    return int(bound[i]), total
