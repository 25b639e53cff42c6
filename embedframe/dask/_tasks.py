"""The tasks of a Dask job: each partition is embedded by the engine, as on one machine.

Nothing here plans, packs, limits or sends: a task hands its partition to
:func:`embedframe.api.embed_column` inside the job's :meth:`Cluster.sending` block (the
cluster's pause and this process's share of the budget), then fits the result to the
graph's schema.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import api
from .._core.plan import Plan, sendable
from .._job.backend import resolve_backend
from .._job.engine import plan_for
from ..config import EmbedConfig
from ..errors import VectorSizeError
from ..estimate import Estimate, prices
from ..estimate import estimate as _estimate
from ..provenance import PROVENANCE_ATTR
from ..vectors import from_numpy, vector_dtype
from ._cluster import Cluster

__all__ = [
    "TEXTS_META",
    "Job",
    "embed_partition",
    "embed_texts",
    "estimate_meta",
    "estimate_part",
    "output_meta",
    "stats_meta",
    "sum_estimates",
    "texts_to_embed",
    "totals",
]

SUMMARY_KEY = "embedframe"
"""``attrs`` key of the job's totals (as on pandas)."""
_SUMMED = (
    "tokens_sent",
    "distinct_texts",
    "chunked_texts",
    "truncated_texts",
    "pieces",
    "cache_hits",
    "requests",
    "retries",
    "rate_limited",
    "tokens",
)


@dataclass(frozen=True)
class Job:
    """Everything a partition task needs; pickled into the graph."""

    config: EmbedConfig
    column: Hashable
    output: Hashable
    details: bool
    dim: int
    dim_source: str
    provenance: dict[str, Any]
    cluster: Cluster
    model: str
    backend: str

    def embed(self, frame: pd.DataFrame, column: Hashable, output: Hashable) -> pd.DataFrame:
        """``frame`` embedded by the engine within the cluster's pause and budget, at the job's size."""
        with self.cluster.sending():
            out = api.embed_column(frame, column, output=output, details=self.details, config=self.config)
        return _fit_dim(out, output, self)


TEXTS_META = pd.Series([], dtype=object, name="text")


def texts_to_embed(values: pd.Series, config: EmbedConfig, column: Hashable, on_bad: str) -> pd.Series:
    """The distinct texts of one partition that will be embedded (bad rows raise or are left out)."""
    plan = _plan(values, config, column, on_bad=on_bad)
    used = np.unique(plan.row_text[plan.row_text >= 0])
    return pd.Series([sendable(plan.texts[i]) for i in used.tolist()], dtype=object, name="text")


def embed_texts(texts: pd.Series, job: Job) -> pd.DataFrame:
    """Embed one partition of the job's distinct texts (into the cache); its statistics."""
    if not len(texts):
        return _stats_frame({})
    # with details=True, texts the server refuses are left out
    out = job.embed(pd.DataFrame({"text": texts.to_numpy(dtype=object)}), "text", "vector")
    return _stats_frame(out.attrs.get(SUMMARY_KEY, {}))


def embed_partition(part: pd.DataFrame, job: Job, job_totals: dict[str, Any] | None) -> pd.DataFrame:
    """One partition of the result: embedded as on one machine, attrs the same on every partition."""
    plan = None
    if job.config.expected_dimensions is None:  # the engine cannot size a column with nothing to send
        plan = _plan(part[job.column], job.config, job.column, on_bad="mark" if job.details else "raise")
    out = (
        _null_frame(part, job, plan)
        if plan is not None and not plan.pieces
        else job.embed(part, job.column, job.output)
    )
    out.attrs[PROVENANCE_ATTR] = job.provenance
    if job_totals is not None:
        out.attrs[SUMMARY_KEY] = job_totals
    else:  # per-partition figures differ, and pandas keeps attrs through concat only when equal
        out.attrs.pop(SUMMARY_KEY, None)
    return out


def _null_frame(part: pd.DataFrame, job: Job, plan: Plan) -> pd.DataFrame:
    """``part`` with an all-null vector column (and its per-row details)."""
    n = len(part)
    out = part.copy(deep=False)
    out[job.output] = from_numpy(
        np.zeros((n, job.dim), dtype=np.float32), valid=np.zeros(n, dtype=bool), index=part.index
    )
    if job.details:
        for suffix, values in api.row_details(plan).items():
            out[f"{job.column}_{suffix}"] = pd.Series(values, index=part.index)
    return out


def _plan(values: pd.Series, config: EmbedConfig, column: Hashable, *, on_bad: str) -> Plan:
    """The plan the engine makes for ``values`` (no request)."""
    backend = resolve_backend(config, announce=False)
    return plan_for(values.to_numpy(dtype=object), values.index, backend, column=column, on_bad=on_bad)


def _fit_dim(out: pd.DataFrame, name: Hashable, job: Job) -> pd.DataFrame:
    """``out`` with its vector column of the job's size; vectors of another size raise."""
    column = out[name]
    if column.dtype == vector_dtype(job.dim):
        return out
    if column.notna().any():
        size = getattr(getattr(column.dtype, "pyarrow_dtype", None), "list_size", 0)
        raise VectorSizeError(
            size,
            job.dim,
            source=f"the column set up from {job.dim_source}",
            fix="pass vector_size=... (or dimensions=...) to match the server",
        )
    n = len(out)  # no vector at all (every text refused): the engine guessed the size
    out[name] = from_numpy(
        np.zeros((n, job.dim), dtype=np.float32), valid=np.zeros(n, dtype=bool), index=out.index
    )
    return out


def output_meta(meta: pd.DataFrame, job: Job) -> pd.DataFrame:
    """The empty frame with the result's columns and dtypes (Dask's ``meta``)."""
    out = meta.copy()
    out[job.output] = from_numpy(np.zeros((0, job.dim), dtype=np.float32), index=out.index)
    if job.details:
        empty = _plan(pd.Series([], dtype=object), job.config, job.column, on_bad="mark")
        for suffix, values in api.row_details(empty).items():
            out[f"{job.column}_{suffix}"] = pd.Series(values, index=out.index)
    out.attrs[PROVENANCE_ATTR] = job.provenance
    return out


# --------------------------------------------------------------------- figures, summed


def totals(stats: pd.DataFrame, model: str, backend: str) -> dict[str, Any]:
    """The job's figures, summed over the embedded partitions."""
    found: dict[str, Any] = {k: int(stats[k].sum()) for k in _SUMMED}
    found["seconds"] = float(stats["seconds"].sum())
    found["model"] = model
    found["backend"] = backend
    return found


def stats_meta() -> pd.DataFrame:
    return _stats_frame({}).iloc[:0]


def _stats_frame(stats: Mapping[str, Any]) -> pd.DataFrame:
    row: dict[str, Any] = {k: int(stats.get(k, 0)) for k in _SUMMED}
    row["seconds"] = float(stats.get("seconds", 0.0))
    return pd.DataFrame([row])


_COUNTS = [
    f
    for f in Estimate.__dataclass_fields__
    if f not in ("model", "usd", "batch_usd", "tokenizer", "max_input_tokens")
]
"""The :class:`Estimate` fields that are counts, summed over partitions (prices are computed
once, from the total tokens; tokenizer and window are the job's settings)."""


def estimate_part(values: pd.Series, config: EmbedConfig, column: Hashable) -> pd.DataFrame:
    """One partition's :class:`Estimate` counts, as a one-row frame."""
    found = _estimate(values, config=config, column=column).as_dict()
    row = {f: int(found[f]) for f in _COUNTS}
    row["with_text"] = row["rows"] - row["null_rows"] - row["empty_rows"] - row["bad_rows"]
    return pd.DataFrame([row])


def estimate_meta() -> pd.DataFrame:
    return pd.DataFrame([dict.fromkeys([*_COUNTS, "with_text"], 0)]).iloc[:0]


def sum_estimates(rows: pd.DataFrame, resolved: EmbedConfig, sent: pd.DataFrame) -> Estimate:
    """One :class:`Estimate` from per-partition ones: row counts from ``rows``, what is sent from ``sent``."""

    def total(frame: pd.DataFrame, name: str) -> int:
        return int(frame[name].sum()) if len(frame) else 0

    distinct = total(sent, "distinct_texts")
    duplicates = total(rows, "duplicate_rows") if sent is rows else total(rows, "with_text") - distinct
    tokens = total(sent, "tokens")
    return Estimate(
        model=str(resolved.model),
        rows=total(rows, "rows"),
        null_rows=total(rows, "null_rows"),
        empty_rows=total(rows, "empty_rows"),
        bad_rows=total(rows, "bad_rows"),
        duplicate_rows=duplicates,
        distinct_texts=distinct,
        long_rows=total(rows, "long_rows"),
        long_pieces=total(sent, "long_pieces"),
        pieces=total(sent, "pieces"),
        cache_hits=total(sent, "cache_hits"),
        tokens=tokens,
        requests=total(sent, "requests"),
        tokenizer=resolved.tokenizer_name,
        max_input_tokens=resolved.input_limit,
        **prices(resolved, tokens),
    )
