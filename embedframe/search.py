"""Semantic search over a vector column: rank rows by cosine similarity to a query."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Unpack
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa

from ._job.backend import LOCAL_BASE_URL
from ._job.sync import run_sync
from .api import aembed
from .config import EmbedConfig, resolve_config
from .errors import InputError
from .options import EmbedOptions, takes_options
from .provenance import PROVENANCE_ATTR
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


def recorded(df: pd.DataFrame, column: Hashable) -> dict[str, Any]:
    """What made ``column``'s vectors, as the frame records it (``{}`` when it does not)."""
    found = df.attrs.get(PROVENANCE_ATTR, {})
    entry = found.get(str(column)) if isinstance(found, dict) else None
    return dict(entry) if isinstance(entry, dict) else {}


def query_config(
    df: pd.DataFrame,
    column: Hashable,
    config: EmbedConfig | None,
    options: EmbedOptions,
) -> EmbedConfig:
    """The config to embed a query for ``column`` with: the model and size the column records,
    unless given; checked against the column before anything is sent.

    The server is never taken from the record (a file could name any host, and the key
    would go there): the query's server must be the one the column names, else this says
    which to pass. No progress bar unless asked for: one query is no long job.
    """
    cfg = resolve_config(config, options)
    made = recorded(df, column)
    dtype = df[column].dtype
    assert isinstance(dtype, pd.ArrowDtype)  # _pick only gives vector columns
    d = int(dtype.pyarrow_dtype.list_size)
    changes: dict[str, Any] = {}
    if cfg.progress is None:
        changes["progress"] = False
    model = made.get("model")
    if cfg.model is None and isinstance(model, str) and model:
        changes["model"] = model
    elif model and cfg.model is not None and cfg.model != model:
        raise InputError(
            f"column {column!r} was embedded with {model!r} but the query would use {cfg.model!r}; "
            f"leave model= out (or pass model={model!r}) to search it"
        )
    if cfg.dimensions is None and _asked_for_size(cfg.replace(**changes), made, d):
        changes["dimensions"] = d
    cfg = cfg.replace(**changes) if changes else cfg
    if cfg.dimensions is not None and cfg.dimensions != d:
        raise InputError(
            f"column {column!r} holds {d}-d vectors but the query would ask for dimensions="
            f"{cfg.dimensions}; leave dimensions= out (or pass dimensions={d}) to search it"
        )
    host = made.get("base_url_host")
    going_to = cfg.public_host or urlsplit(LOCAL_BASE_URL).netloc
    if host and host != going_to:
        where = "the local model" if host == urlsplit(LOCAL_BASE_URL).netloc else f"the server at {host}"
        fix = (
            "pass no base_url= and no api_key= (and unset OPENAI_API_KEY / OPENAI_BASE_URL) to use it"
            if where == "the local model"
            else f"pass base_url= for {host} (and its api_key=) to search it"
        )
        raise InputError(
            f"column {column!r} was embedded by {where}, but the query would go to {going_to}; {fix}"
        )
    return cfg


def _asked_for_size(cfg: EmbedConfig, made: dict[str, Any], d: int) -> bool:
    """Whether the column's vectors were asked for at their size (``dimensions=``)."""
    if "requested_dimensions" in made:
        return made["requested_dimensions"] is not None
    info = cfg.model_info  # a record from before requested_dimensions: judge by the model table
    return bool(made) and info.supports_dimensions and info.dimensions is not None and info.dimensions != d


@takes_options
async def asearch(
    df: pd.DataFrame,
    query: str,
    *,
    k: int = 5,
    column: Hashable | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """The ``k`` rows of ``df`` most similar to ``query``, best first, with a ``score`` column.

    The query is embedded with the model and ``dimensions`` the column records (its
    provenance, kept in ``df.attrs`` and in Parquet files) unless they are given; a model or
    size that cannot match the column, or another server than the column's, is refused
    before anything is sent. Rows with a null vector never match.
    """
    if not isinstance(query, str) or not query.strip():
        raise InputError(f"query must be a non-empty string, got {query!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    name = _pick(df, column)
    cfg = query_config(df, name, config, options)
    matrix = to_numpy(df[name])
    q = await aembed([query], config=cfg)
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


@takes_options
def search(
    df: pd.DataFrame,
    query: str,
    *,
    k: int = 5,
    column: Hashable | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """Sync :func:`asearch`; also works inside Jupyter."""
    return run_sync(asearch(df, query, k=k, column=column, config=config, **options))
