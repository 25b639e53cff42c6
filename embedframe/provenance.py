"""Provenance: what made a vector column (model, size, tokenizer, window, version, time,
server host), attached to ``df.attrs`` after embedding and stored in the Parquet footer.

Never a key, header or query string: :func:`provenance_json` refuses credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from ._version import __version__
from .config import EmbedConfig
from .errors import ConfigError, InputError
from .vectors import output_name

__all__ = [
    "PROVENANCE_ATTR",
    "PROVENANCE_KEY",
    "attached_provenance",
    "provenance_by_column",
    "provenance_for",
    "provenance_json",
    "read_provenance",
]

PROVENANCE_KEY = b"embedframe"
"""Key of the provenance JSON in the Parquet schema metadata."""
PROVENANCE_ATTR = "embedframe_provenance"
"""``df.attrs`` key: per vector column, what made it (written to Parquet with the frame)."""
_SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "headers", "password", "token"})


def provenance_json(provenance: Mapping[str, Any]) -> bytes:
    secret = sorted(str(k) for k in provenance if str(k).lower().replace("-", "_") in _SECRET_KEYS)
    if secret:
        raise ConfigError(f"provenance must not hold credentials; remove the key(s) {secret}")
    try:
        return json.dumps(dict(provenance), sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"provenance must be JSON-serialisable: {err}") from err


def attached_provenance(df: pd.DataFrame) -> dict[str, Any] | None:
    """The provenance embedding attached to ``df.attrs`` for its vector columns still present."""
    recorded = df.attrs.get(PROVENANCE_ATTR)
    if not isinstance(recorded, Mapping):
        return None
    present = {str(c) for c in df.columns}
    kept = {name: dict(p) for name, p in recorded.items() if name in present and isinstance(p, Mapping)}
    if not kept:
        return None
    if len(kept) == 1:
        return next(iter(kept.values()))
    return {"vector_columns": kept}


def provenance_for(
    config: EmbedConfig,
    *,
    dimensions: int,
    column: Hashable,
    vector_column: Hashable | None = None,
    model: str | None = None,
    normalised: bool = True,
) -> dict[str, Any]:
    """What made the vectors: model, size, tokenizer and long-text settings, version, time.

    ``column`` is the source text column, ``vector_column`` the vectors' (default
    ``<column>_embedding``), ``model`` the model that answered (default ``config.model``).
    Only the host of ``base_url`` is kept (``None`` when the config names no server yet);
    no key, header or query string ever is.
    """
    return {
        "model": model if model is not None else config.model,
        "dimensions": int(dimensions),
        "requested_dimensions": config.dimensions,
        "encoding": config.tokenizer_name,
        "tokenizer_sha256": config.tokenizer_sha256,
        "max_input_tokens": config.input_limit,
        "long_text": config.long_text,
        "chunk_tokens": config.window,
        "chunk_overlap": config.chunk_overlap,
        "normalised": bool(normalised),
        "embedframe_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source_column": str(column),
        "vector_column": str(vector_column if vector_column is not None else output_name(column)),
        "base_url_host": config.public_host,
    }


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance stored in the file at ``path`` (only the footer is read); ``{}`` if none."""
    metadata = pq.read_schema(os.path.expanduser(os.fspath(path))).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    if raw is None:
        return {}
    try:
        found = json.loads(raw)
    except ValueError as err:
        raise InputError(f"the provenance in {os.fspath(path)!r} is not valid JSON: {err}") from err
    if not isinstance(found, dict):
        raise InputError(f"the provenance in {os.fspath(path)!r} is not a JSON object")
    return found


def provenance_by_column(metadata: Mapping[bytes, bytes] | None, vectors: list[str]) -> dict[str, Any]:
    """The footer's provenance per vector column, as ``df.attrs`` keeps it after embedding."""
    try:
        found = json.loads((metadata or {}).get(PROVENANCE_KEY, b"null"))
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    several = found.get("vector_columns")
    if isinstance(several, dict):
        return {k: v for k, v in several.items() if k in vectors and isinstance(v, dict)}
    name = found.get("vector_column")
    if name in vectors:
        return {name: found}
    return {vectors[0]: found} if len(vectors) == 1 and "model" in found else {}
