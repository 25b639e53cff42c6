"""Semantic search over a vector column: rank rows by cosine similarity to a query."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ._job.sync import run_sync
from .api import PROVENANCE_ATTR, aembed
from .config import EmbedConfig
from .errors import InputError
from .vectors import to_numpy

__all__ = ["asearch", "search", "vector_columns"]


def vector_columns(df: pd.DataFrame) -> list[Hashable]:
    """The frame's vector columns (fixed-size list ArrowDtype)."""
    return [
        c
        for c, t in df.dtypes.items()
        if isinstance(t, pd.ArrowDtype) and pa.types.is_fixed_size_list(t.pyarrow_dtype)
    ]


def _pick(df: pd.DataFrame, column: Hashable | None) -> Hashable:
    found = vector_columns(df)
    if column is not None:
        if column not in found:
            raise InputError(f"{column!r} is not a vector column; the vector columns are {found}")
        return column
    if len(found) != 1:
        raise InputError(
            f"the frame has {len(found)} vector columns ({found}); pass column=... to say which to search"
        )
    return found[0]


async def asearch(
    df: pd.DataFrame,
    query: str,
    *,
    k: int = 5,
    column: Hashable | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> pd.DataFrame:
    """The ``k`` rows of ``df`` most similar to ``query``, best first, with a ``score`` column.

    The query is embedded with the same options as a column would be; it must use the
    model the vector column was made with (read from its provenance when present). Rows
    with a null vector never match.
    """
    if not isinstance(query, str) or not query.strip():
        raise InputError(f"query must be a non-empty string, got {query!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    name = _pick(df, column)
    matrix = to_numpy(df[name])
    q = await aembed([query], config=config, **options)
    made_with = df.attrs.get(PROVENANCE_ATTR, {}).get(str(name), {}).get("model")
    used = q.attrs["embedframe"]["model"]
    if made_with and used != made_with:
        raise InputError(
            f"column {name!r} was embedded with {made_with!r} but the query with {used!r}; "
            f"pass model={made_with!r} (and the same server) to search it"
        )
    vector = to_numpy(q)[0]
    if matrix.shape[1] != vector.shape[0]:
        raise InputError(
            f"column {name!r} holds {matrix.shape[1]}-d vectors but the query got {vector.shape[0]}-d; "
            "embed the query with the column's model and dimensions"
        )
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = (matrix @ vector) / norms
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    k = min(k, int(np.isfinite(scores).sum()))
    top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    top = top[np.argsort(-scores[top], kind="stable")]
    out = df.iloc[top].copy()
    out.insert(0, "score", scores[top].astype(np.float32))
    return out


def search(
    df: pd.DataFrame,
    query: str,
    *,
    k: int = 5,
    column: Hashable | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Sync :func:`asearch`; also works inside Jupyter."""
    return run_sync(asearch(df, query, k=k, column=column, config=config, **options))
