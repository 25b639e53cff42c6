"""The same call on a Dask cluster: ``ddf.embed.column("text")``, ``ddf.embed.estimate("text")``,
``ddf.embed.to_parquet(path)``.

Importing this module never imports Dask. The ``.embed`` accessors are registered on Dask
DataFrames and Series as soon as ``dask.dataframe`` is imported (at once if it already is),
so ``import embedframe`` is enough, and costs nothing where Dask is not installed.

How a job runs (``dedupe="job"``, the default while the vector cache is on):

1. every partition is planned as on one machine (bad rows raise here, before any request)
   and gives its distinct texts;
2. those texts are de-duplicated across the whole frame (``drop_duplicates``, hash split
   into as many partitions as the frame has) and each of these partitions is embedded as
   one ordinary job: requests packed and sent exactly as on one machine, every response
   committed to the vector cache at once;
3. once all are embedded, every original partition is embedded again as an ordinary job;
   its texts are all in the cache, so it sends nothing, and the result keeps the
   partition's boundaries, index and order.

So each distinct text is sent once per job, as with pandas. With ``dedupe="partition"``
(or ``cache=False``) step 3 alone runs: one pass, streaming, and each partition sends its
own distinct texts (a text in several partitions may be sent once per partition when
they run at the same time; the cache catches the rest).

Rate limits (``requests_per_minute``, ``tokens_per_minute``) are for the whole job, with
the engine's meaning (a bucket holding a minute's budget, starting full, refilled
continuously): they are split into ``workers`` equal shares (default: the number of
workers of the current ``distributed`` client when the graph is built). Each worker
process keeps one share's bucket for the whole job, across the partitions it runs (one at
a time), and takes from it the exact tokens and requests of a partition before sending
them; inside the partition the engine's limiter, set to the share, paces the requests. A
``distributed.Semaphore`` with ``workers`` leases lets at most that many processes embed at
once, so a cluster that grows does not grow the budget. Every worker also lowers its
budget to what the server's ``x-ratelimit-remaining-*`` headers say is left of the
account. A 429 pauses every worker of the cluster (a pause published in a
``distributed.Variable``, read by each worker every 0.2 s while it sends).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
import time
import types
import uuid
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from . import api
from ._core.pack import pack
from ._core.plan import Plan
from ._job.backend import resolve_backend
from ._job.engine import JobResult, open_cache, piece_keys, plan_for
from ._storage.cachestore import is_remote, local_path, public_location, url_filesystem
from ._wire.limits import Gate, shared_limits
from .api import PROVENANCE_ATTR, output_name
from .config import EmbedConfig, resolve_config
from .errors import ConfigError, InputError, ResponseError
from .estimate import Estimate
from .estimate import estimate as _estimate
from .parquet import attached_provenance, provenance_for, write_parquet
from .vectors import from_numpy, vector_dtype

__all__ = [
    "DaskEmbedAccessor",
    "DaskSeriesEmbedAccessor",
    "embed_column",
    "estimate",
    "register",
    "to_parquet",
]

Dedupe = Literal["job", "partition"]

_SUMMARY_KEY = "embedframe"
"""``attrs`` key of the job's totals (as on pandas)."""
_PART_FILE = re.compile(r"part\.[0-9]+\.parquet")
_PAUSE_POLL_S = 0.2
"""How often a worker reads the cluster-wide pause (one scheduler round trip each)."""
_PAUSE_TIMEOUT_S = 5.0
_PAUSE_IDLE_S = 5.0
"""A process stops reading the pause after this long without sending."""
log = logging.getLogger("embedframe")
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


# ---------------------------------------------------------------------------------- the API


def embed_column(
    ddf: Any,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    config: EmbedConfig | None = None,
    vector_size: int | None = None,
    workers: int | None = None,
    dedupe: Dedupe = "job",
    **options: Any,
) -> Any:
    """A lazy Dask DataFrame: ``ddf`` plus the vector column ``output`` (default ``<column>_embedding``).

    Options are :class:`EmbedConfig`'s and mean what they mean on pandas. The vector
    column's dtype is ``pd.ArrowDtype(pa.list_(pa.float32(), d))``; ``d`` must be known to
    build the graph: ``vector_size``, else ``dimensions``, else the model table, else one
    text (the first of the first partition that has one) is embedded now to learn it.
    ``workers`` is how many shares ``requests_per_minute`` / ``tokens_per_minute`` are
    split into (default: the workers of the current ``distributed`` client, else 1).
    ``dedupe="job"`` sends each distinct text once per job (needs the cache);
    ``"partition"`` makes one streaming pass where each partition dedupes on its own.
    """
    dd = _dask_dataframe()
    if not isinstance(ddf, dd.DataFrame):
        raise InputError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
    _check_column(ddf, column)
    cfg = _job_config(config, options)
    mode = _mode(dedupe, cfg)
    name = output if output is not None else output_name(column)
    backend = resolve_backend(cfg, announce=False)
    resolved = backend.config
    dim, source = _vector_size(ddf, column, cfg, resolved, vector_size)
    task_config, shares = _share_limits(cfg, workers)
    provenance = dict(ddf._meta.attrs.get(PROVENANCE_ATTR, {}))
    provenance[str(name)] = provenance_for(
        resolved, dimensions=dim, column=column, vector_column=name, model=resolved.model
    )
    job = _Job(
        config=task_config,
        column=column,
        output=name,
        details=bool(details),
        dim=dim,
        dim_source=source,
        engine_knows_dim=(resolved.dimensions or resolved.model_info.dimensions) is not None,
        provenance=provenance,
        limits=None
        if not shares
        else _Limits(
            f"embedframe-{uuid.uuid4().hex}",
            shares,
            task_config.requests_per_minute,
            task_config.tokens_per_minute,
        ),
        model=str(resolved.model),
        backend=backend.description,
        pause=f"embedframe-pause-{uuid.uuid4().hex}",
        cluster_pause=False,
    )
    job = dataclasses.replace(job, cluster_pause=_start_pause(job.pause))
    meta = _output_meta(ddf._meta, job)
    if mode == "partition":
        return ddf.map_partitions(_embed_partition, job, None, meta=meta)
    texts = ddf[column].map_partitions(
        _texts_to_embed, task_config, column, "mark" if details else "raise", meta=_TEXTS_META
    )
    distinct = texts.drop_duplicates(split_out=ddf.npartitions)
    stats = distinct.map_partitions(_embed_texts, job, meta=_stats_meta())
    totals = _delayed(_totals)(stats, job.model, job.backend)
    return ddf.map_partitions(_embed_partition, job, totals, meta=meta)


def estimate(
    ddf: Any,
    column: Hashable,
    *,
    config: EmbedConfig | None = None,
    dedupe: Dedupe = "job",
    **options: Any,
) -> Estimate:
    """Exact tokens, requests and list-price cost of ``embed_column(ddf, column, ...)``.

    Computed on the cluster from the data and the cache; sends no request. ``requests``
    counts the requests of the partitions the job packs (with ``dedupe="job"``, the
    de-duplicated ones), so it can be a little above a single machine's figure.
    """
    dd = _dask_dataframe()

    if isinstance(ddf, dd.Series):
        series = ddf
        column = column if column is not None else ddf.name
    else:
        if not isinstance(ddf, dd.DataFrame):
            raise InputError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
        _check_column(ddf, column)
        series = ddf[column]
    cfg = _job_config(config, options)
    mode = _mode(dedupe, cfg)
    resolved = resolve_backend(cfg, announce=False).config
    per_partition = series.map_partitions(_estimate_part, cfg, column, meta=_estimate_meta())
    if mode == "partition":
        (rows,) = _compute(per_partition)
        return _sum_estimates(rows, resolved, rows)
    texts = series.map_partitions(_texts_to_embed, cfg, column, "mark", meta=_TEXTS_META)
    distinct = texts.drop_duplicates(split_out=series.npartitions)
    per_text = distinct.map_partitions(_estimate_part, cfg, "text", meta=_estimate_meta())
    rows, sent = _compute(per_partition, per_text)
    return _sum_estimates(rows, resolved, sent)


def to_parquet(
    ddf: Any,
    path: str | os.PathLike[str],
    *,
    text_hash_column: Hashable | None = None,
    overwrite: bool = False,
    compute: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Write ``ddf`` to the directory ``path``: one ``part.NNNNN.parquet`` per partition, in order.

    Each file is written as :func:`embedframe.write_parquet` writes a pandas frame (vector
    columns as ``fixed_size_list<float32>[d]``, provenance in the footer, atomically), so
    the directory reads back with pandas, pyarrow, polars, DuckDB and Dask. ``path`` is a
    local or shared-filesystem directory (``file://`` URLs too) or an fsspec URL
    (``s3://bucket/out/``, with ``storage_options`` for fsspec), where each part is
    written locally, then stored as one whole object. Part files already there raise
    unless ``overwrite=True``, which removes them first (now, also with ``compute=False``,
    which returns the lazy total of rows written instead of writing).
    """
    dd = _dask_dataframe()
    if not isinstance(ddf, dd.DataFrame):
        raise InputError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
    if storage_options is not None and not isinstance(storage_options, Mapping):
        raise ConfigError(f"storage_options must be a mapping, got {type(storage_options).__name__}")
    if is_remote(path):
        target = os.fspath(path).strip()
        _prepare_remote_dir(target, storage_options, overwrite)
    else:
        if storage_options:
            raise ConfigError("storage_options are for an fsspec URL (s3://...); the path here is local")
        directory = local_path(path, what="to_parquet")
        _prepare_local_dir(directory, overwrite)
        target = str(directory)
    width = max(5, len(str(ddf.npartitions - 1)))
    provenance = attached_provenance(ddf._meta)
    written = ddf.map_partitions(
        _write_part,
        target,
        width,
        provenance,
        text_hash_column,
        kwargs,
        dict(storage_options or {}),
        meta=pd.DataFrame({"rows": pd.Series([], dtype="int64")}),
        enforce_metadata=False,
    )
    total = written["rows"].sum()
    if not compute:
        return total
    total.compute()
    return None


# ----------------------------------------------------------------------------- accessors


class DaskEmbedAccessor:
    """``ddf.embed.column("text")`` or ``ddf.embed("text")``: the frame plus a vector column, lazily."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    def column(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        details: bool = False,
        config: EmbedConfig | None = None,
        vector_size: int | None = None,
        workers: int | None = None,
        dedupe: Dedupe = "job",
        **options: Any,
    ) -> Any:
        """A lazy frame with ``column``'s vectors in ``output`` (see :func:`embedframe.dask.embed_column`)."""
        return embed_column(
            self._frame,
            column,
            output=output,
            details=details,
            config=config,
            vector_size=vector_size,
            workers=workers,
            dedupe=dedupe,
            **options,
        )

    __call__ = column
    """``accessor(column, ...)`` is :meth:`column`."""

    def estimate(
        self, column: Hashable, *, config: EmbedConfig | None = None, dedupe: Dedupe = "job", **options: Any
    ) -> Estimate:
        """Exact tokens, requests and list-price cost of embedding ``column``; sends nothing."""
        return estimate(self._frame, column, config=config, dedupe=dedupe, **options)

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        *,
        text_hash_column: Hashable | None = None,
        overwrite: bool = False,
        compute: bool = True,
        storage_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Write a directory of Parquet files, one per partition (see :func:`embedframe.dask.to_parquet`)."""
        return to_parquet(
            self._frame,
            path,
            text_hash_column=text_hash_column,
            overwrite=overwrite,
            compute=compute,
            storage_options=storage_options,
            **kwargs,
        )


class DaskSeriesEmbedAccessor:
    """``ds.embed()``: a lazy Series of vectors with ``ds``'s partitions and index."""

    def __init__(self, series: Any) -> None:
        self._series = series

    def __call__(
        self,
        *,
        config: EmbedConfig | None = None,
        vector_size: int | None = None,
        workers: int | None = None,
        dedupe: Dedupe = "job",
        **options: Any,
    ) -> Any:
        series = self._series
        source = series.name if series.name is not None else "text"
        name = output_name(series.name) if series.name is not None else "embedding"
        frame = series.to_frame(name=source)
        out = embed_column(
            frame,
            source,
            output=name,
            config=config,
            vector_size=vector_size,
            workers=workers,
            dedupe=dedupe,
            **options,
        )
        return out[name]

    def estimate(
        self, *, config: EmbedConfig | None = None, dedupe: Dedupe = "job", **options: Any
    ) -> Estimate:
        """Exact tokens, requests and list-price cost of embedding the Series; sends nothing."""
        return estimate(self._series, self._series.name, config=config, dedupe=dedupe, **options)


# ----------------------------------------------------------------------------- the tasks


@dataclass(frozen=True)
class _Limits:
    """The job's rate limits on the cluster: ``shares`` equal shares of the configured budget.

    A partition task that may send takes, before its job starts, the exact tokens and
    requests it will send from its process's share (a token bucket that starts full and
    refills continuously, holding at most a minute's worth, as the engine's does); the
    engine's own limiter, set to the share, paces the requests within the job. A worker
    process runs one partition of the job at a time, and a ``distributed.Semaphore`` with
    ``shares`` leases lets at most that many processes embed at once, however many
    workers or threads the cluster has.
    """

    name: str
    shares: int
    requests_per_minute: int | None
    """One share's budget (already divided)."""
    tokens_per_minute: int | None

    @contextlib.contextmanager
    def pace(self, values: pd.Series, config: EmbedConfig) -> Iterator[None]:
        tokens, requests = _to_send(values, config)  # before waiting: the cache may only grow
        with _process_lock(self.name):
            semaphore = _semaphore(self.name, self.shares)
            semaphore.acquire()
            try:
                _budget(self).take(tokens, requests)
                yield
            finally:
                semaphore.release()


@dataclass(frozen=True)
class _Job:
    """Everything a partition task needs; pickled into the graph."""

    config: EmbedConfig
    column: Hashable
    output: Hashable
    details: bool
    dim: int
    dim_source: str
    engine_knows_dim: bool
    """Whether the engine can size an all-null column by itself (else this module does)."""
    provenance: dict[str, Any]
    limits: _Limits | None
    model: str
    backend: str
    pause: str
    """The name of the job's 429 pause (a ``distributed.Variable`` when ``cluster_pause``)."""
    cluster_pause: bool

    @contextlib.contextmanager
    def paced(self, values: pd.Series) -> Iterator[None]:
        """Within the job's rate limits (if any) and its pause, for sending ``values``."""
        with shared_limits(gate=_gate(self.pause, self.cluster_pause)):
            if self.limits is None:
                yield
                return
            with self.limits.pace(values, self.config):
                yield


_TEXTS_META = pd.Series([], dtype=object, name="text")


def _texts_to_embed(values: pd.Series, config: EmbedConfig, column: Hashable, on_bad: str) -> pd.Series:
    """The distinct texts of one partition that will be embedded (bad rows raise or are left out)."""
    plan = _plan(values, config, column, on_bad=on_bad)
    used = np.unique(plan.row_text[plan.row_text >= 0])
    return pd.Series([_sendable(plan.texts[i]) for i in used.tolist()], dtype=object, name="text")


def _embed_texts(texts: pd.Series, job: _Job) -> pd.DataFrame:
    """Embed one partition of the job's distinct texts (into the cache); its statistics."""
    if not len(texts):
        return _stats_frame({})
    frame = pd.DataFrame({"text": texts.to_numpy(dtype=object)})
    with job.paced(frame["text"]):  # with details=True, texts the server refuses are left out
        out = api.embed_column(frame, "text", output="vector", details=job.details, config=job.config)
    _fit_dim(out, "vector", job)
    return _stats_frame(out.attrs.get(_SUMMARY_KEY, {}))


def _embed_partition(part: pd.DataFrame, job: _Job, totals: dict[str, Any] | None) -> pd.DataFrame:
    """One partition of the result: embedded as on one machine, attrs the same on every partition."""
    with job.paced(part[job.column]):
        out = _embed_frame(part, job)
    out.attrs[PROVENANCE_ATTR] = job.provenance
    if totals is not None:
        out.attrs[_SUMMARY_KEY] = totals
    else:  # per-partition figures differ, and pandas keeps attrs through concat only when equal
        out.attrs.pop(_SUMMARY_KEY, None)
    return out


def _embed_frame(part: pd.DataFrame, job: _Job) -> pd.DataFrame:
    if not job.engine_knows_dim:
        plan = _plan(part[job.column], job.config, job.column, on_bad="mark" if job.details else "raise")
        if not plan.pieces:  # nothing to send: the engine could not size the column
            return _null_frame(part, job, plan)
    out = api.embed_column(part, job.column, output=job.output, details=job.details, config=job.config)
    return _fit_dim(out, job.output, job)


def _null_frame(part: pd.DataFrame, job: _Job, plan: Plan) -> pd.DataFrame:
    """``part`` with an all-null vector column (and its per-row details)."""
    n = len(part)
    out = part.copy(deep=False)
    out[job.output] = from_numpy(
        np.zeros((n, job.dim), dtype=np.float32), valid=np.zeros(n, dtype=bool), index=part.index
    )
    if job.details:
        for suffix, values in _row_details(plan).items():
            out[f"{job.column}_{suffix}"] = pd.Series(values, index=part.index)
    return out


def _estimate_part(values: pd.Series, config: EmbedConfig, column: Hashable) -> pd.DataFrame:
    found = _estimate(values, config=config, column=column)
    row = found.as_dict()
    row.pop("model")
    row["usd"] = np.nan if row["usd"] is None else row["usd"]
    row["with_text"] = found.rows - found.null_rows - found.empty_rows - found.bad_rows
    return pd.DataFrame([row])


def _prepare_local_dir(directory: Path, overwrite: bool) -> None:
    """Make ``directory``; refuse (or, with ``overwrite``, remove) the part files already there."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot write to {str(directory)!r}: it is a file; give a directory")
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in directory.iterdir() if _PART_FILE.fullmatch(p.name))
    _check_existing(str(directory), len(existing), overwrite)
    for stale in existing:
        stale.unlink()


def _prepare_remote_dir(url: str, storage_options: Mapping[str, Any] | None, overwrite: bool) -> None:
    """As :func:`_prepare_local_dir`, for an fsspec URL."""
    shown = public_location(url)
    fs, root = url_filesystem(url, storage_options, what="to_parquet")
    fs.invalidate_cache(root)
    if fs.isfile(root):
        raise InputError(f"cannot write to {shown!r}: it is a file; give a directory")
    fs.makedirs(root, exist_ok=True)
    fs.invalidate_cache(root)
    try:
        listed = fs.ls(root, detail=False)
    except FileNotFoundError:
        listed = []
    existing = sorted(p for p in map(str, listed) if _PART_FILE.fullmatch(p.rstrip("/").rpartition("/")[2]))
    _check_existing(shown, len(existing), overwrite)
    for stale in existing:
        fs.rm_file(stale)


def _check_existing(shown: str, count: int, overwrite: bool) -> None:
    if count and not overwrite:
        raise InputError(
            f"{shown!r} already holds {count} part file(s); pass overwrite=True "
            "to replace them, or write to another directory"
        )


def _write_part(
    part: pd.DataFrame,
    directory: str,
    width: int,
    provenance: Mapping[str, Any] | None,
    text_hash_column: Hashable | None,
    kwargs: Mapping[str, Any],
    storage_options: Mapping[str, Any],
    partition_info: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    name = f"part.{number:0{width}d}.parquet"
    if not is_remote(directory):
        path = Path(directory) / name
        write_parquet(part, path, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        return pd.DataFrame({"rows": [len(part)]}, dtype="int64")
    # An object store: write the file here, then store it as one whole object (a PUT, or a
    # multipart upload that appears only when complete), so a reader never sees half a part.
    fs, root = url_filesystem(directory, storage_options, what="to_parquet")
    with tempfile.TemporaryDirectory(prefix="embedframe-part-") as scratch:
        local = Path(scratch) / name
        write_parquet(part, local, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        fs.put_file(str(local), f"{root}/{name}")
    return pd.DataFrame({"rows": [len(part)]}, dtype="int64")


def _totals(stats: pd.DataFrame, model: str, backend: str) -> dict[str, Any]:
    """The job's figures, summed over the embedded partitions."""
    totals: dict[str, Any] = {k: int(stats[k].sum()) for k in _SUMMED}
    totals["seconds"] = float(stats["seconds"].sum())
    totals["model"] = model
    totals["backend"] = backend
    return totals


# -------------------------------------------------------------------------------- helpers


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ConfigError(f"embedframe.dask needs Dask: pip install 'dask[dataframe]' ({exc})") from exc
    register()
    return dd


def _delayed(fn: Any) -> Any:
    from dask.delayed import delayed

    return delayed(fn, pure=True)


def _compute(*collections: Any) -> tuple[Any, ...]:
    from dask.base import compute

    return tuple(compute(*collections))  # type: ignore[no-untyped-call]


def _check_column(ddf: Any, column: Hashable) -> None:
    if column not in ddf.columns:
        shown = list(ddf.columns[:20])
        raise InputError(f"no column {column!r} in the frame; its columns are {shown}")


def _job_config(config: EmbedConfig | None, options: Mapping[str, Any]) -> EmbedConfig:
    """The config every task gets: the cache pinned to one location, no progress bars.

    ``cache=True`` is resolved here, on the client, so that every worker uses the same
    directory whatever its environment; a local path becomes absolute, an fsspec URL
    (``s3://...``) is passed on as it is, with ``cache_storage_options``.
    """
    cfg = resolve_config(config, options)
    changes: dict[str, Any] = {"progress": False}
    if cfg.cache is True:
        from .cache import default_cache_dir

        changes["cache"] = str(default_cache_dir().expanduser().absolute())
    elif cfg.cache is not False and cfg.cache_url is None:
        changes["cache"] = str(local_path(cfg.cache, what="the vector cache"))
    return cfg.replace(**changes)


def _mode(dedupe: str, cfg: EmbedConfig) -> Dedupe:
    if dedupe not in ("job", "partition"):
        raise ConfigError(f"dedupe must be 'job' or 'partition', got {dedupe!r}")
    if dedupe == "job" and cfg.cache is False:
        return "partition"  # the job-wide pass hands vectors over through the cache
    return cast(Dedupe, dedupe)


def _vector_size(
    ddf: Any, column: Hashable, cfg: EmbedConfig, resolved: EmbedConfig, given: int | None
) -> tuple[int, str]:
    """The vectors' size, and where it comes from."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise ConfigError(f"vector_size must be a positive integer, got {given!r}")
        return given, "vector_size="
    if resolved.dimensions is not None:
        return resolved.dimensions, "dimensions="
    known = resolved.model_info.dimensions
    if known is not None:
        return known, f"the model table's size for {resolved.model!r}"
    text = _first_text(ddf[column], cfg)
    if text is None:
        raise InputError(
            f"column {column!r} has no text to embed and the size of {resolved.model!r}'s vectors is "
            "not known; pass vector_size=... (or dimensions=...)"
        )
    probe = api.embed([text], config=cfg)
    dtype = cast(pd.ArrowDtype, probe.dtype)
    return int(dtype.pyarrow_dtype.list_size), "a probe request"


def _first_text(series: Any, cfg: EmbedConfig) -> str | None:
    """The first text of the column that would be sent whole, computing one partition at a time."""
    for i in range(series.npartitions):
        for value in series.partitions[i].compute().tolist():
            if not isinstance(value, str) or not value.strip():
                continue
            if cfg.long_text == "error" and len(_sendable(value).encode("utf-8")) > cfg.input_limit:
                continue
            return value
    return None


def _share_limits(cfg: EmbedConfig, workers: int | None) -> tuple[EmbedConfig, int]:
    """The per-task config with its share of the rate limits, and the number of shares (0: none)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    rpm, tpm = cfg.requests_per_minute, cfg.tokens_per_minute
    if rpm is None and tpm is None:
        return cfg, 0
    shares = workers if workers is not None else (_cluster_workers() or 1)
    if rpm is not None:
        shares = min(shares, rpm)
    if tpm is not None:  # every share must still fit one input of the largest size
        shares = min(shares, max(1, tpm // cfg.input_limit))
    shares = max(1, shares)
    split = cfg.replace(
        requests_per_minute=None if rpm is None else rpm // shares,
        tokens_per_minute=None if tpm is None else tpm // shares,
    )
    return split, shares


def _cluster_workers() -> int | None:
    """Workers of the current ``distributed`` client, if there is one."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        client = get_client()
        return len(client.nthreads()) or None  # type: ignore[no-untyped-call]
    except Exception:  # no client, or one that cannot answer now
        return None


_per_job: dict[str, Any] = {}
_per_job_lock = threading.Lock()


def _once(key: tuple[str, str], make: Any) -> Any:
    """One object per process and key (a job's lock, semaphore or budget)."""
    with _per_job_lock:
        found = _per_job.get("\0".join(key))
        if found is None:
            found = _per_job["\0".join(key)] = make()
        return found


def _process_lock(name: str) -> threading.Lock:
    return cast(threading.Lock, _once((name, "lock"), threading.Lock))


def _semaphore(name: str, leases: int) -> Any:
    """The job's semaphore: a ``distributed.Semaphore`` on a worker, else a local one."""
    return _once((name, "semaphore"), lambda: _make_semaphore(name, leases))


def _budget(limits: _Limits) -> _Budget:
    return cast(
        _Budget,
        _once((limits.name, "budget"), lambda: _Budget(limits.requests_per_minute, limits.tokens_per_minute)),
    )


def _make_semaphore(name: str, leases: int) -> Any:
    try:
        from distributed import Semaphore, get_worker
    except ImportError:
        return threading.BoundedSemaphore(leases)
    try:
        get_worker()
    except ValueError:  # the threaded or synchronous scheduler: one process
        return threading.BoundedSemaphore(leases)
    semaphore = Semaphore(max_leases=leases, name=name)  # type: ignore[no-untyped-call]
    semaphore.register()  # type: ignore[no-untyped-call]
    return semaphore


def _start_pause(name: str) -> bool:
    """Create the job's shared pause on the current ``distributed`` cluster; ``False`` if there is none."""
    try:
        from distributed import Variable, get_client
    except ImportError:
        return False
    try:
        client = get_client()
    except ValueError:  # no distributed client: the threaded or synchronous scheduler
        return False
    Variable(name, client=client).set(0.0)  # type: ignore[no-untyped-call]
    return True


def _gate(name: str, cluster: bool) -> Gate:
    """The job's pause in this process: one for all its threads, seen cluster-wide if ``cluster``."""
    return cast(Gate, _once((name, "gate"), lambda: _make_gate(name, cluster)))


def _make_gate(name: str, cluster: bool) -> Gate:
    if cluster:
        try:
            from distributed import Variable, get_client, get_worker

            get_worker()
        except (ImportError, ValueError):  # not on a worker: this process is the whole job
            pass
        else:
            # the client is bound here, in the task's thread: the gate's helper threads
            # could not find it themselves
            return _ClusterGate(Variable(name, client=get_client()))  # type: ignore[no-untyped-call]
    return Gate()


class _ClusterGate(Gate):
    """A 429 pause every worker of the job honours, through a ``distributed.Variable``.

    A worker told to wait (a 429, or ``x-ratelimit-remaining-*`` at zero) publishes the
    wall-clock time it waits until. While the job sends, a helper thread in each worker
    process reads it every :data:`_PAUSE_POLL_S` into the local pause, so sending never
    waits for the scheduler. Clocks of one cluster agree to far less than a pause under
    NTP, and the pause only spares the server: retries stay correct without it.
    """

    def __init__(self, variable: Any) -> None:
        super().__init__()
        self._variable = variable
        self._used = time.monotonic()
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()
        self._publishing = threading.Lock()

    def hold(self, seconds: float) -> None:
        super().hold(seconds)
        until = time.time() + seconds
        threading.Thread(target=self._publish, args=(until,), name="embedframe-pause", daemon=True).start()

    async def wait(self) -> None:
        self._used = time.monotonic()
        with self._lock:
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="embedframe-pause-poll", daemon=True)
                self._poller.start()
        await super().wait()

    def _poll(self) -> None:
        """Read the shared pause until the job has not sent for a while."""
        while time.monotonic() - self._used < _PAUSE_IDLE_S:
            until = self._read()
            if until is not None and until > time.time():
                super().hold(until - time.time())
            time.sleep(_PAUSE_POLL_S)

    def _read(self) -> float | None:
        try:
            return float(self._variable.get(timeout=_PAUSE_TIMEOUT_S))
        except Exception as exc:  # the scheduler is unreachable or slow: pause locally only
            log.debug("could not read the cluster-wide pause: %s", exc)
            return None

    def _publish(self, until: float) -> None:
        with self._publishing:
            try:
                if until > float(self._variable.get(timeout=_PAUSE_TIMEOUT_S)):
                    self._variable.set(until)
            except Exception as exc:
                log.debug("could not publish the cluster-wide pause: %s", exc)


class _Bucket:
    """``per_minute`` units a minute, refilled continuously, at most a minute's worth, starting
    full (as the engine's buckets); a take larger than the bucket waits for a full one and
    leaves it in debt, so the next take waits for the whole amount to be refilled."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = threading.Lock()

    def _try(self, amount: float) -> float:
        with self._lock:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now
            short = min(amount, self.capacity) - self.level
            if short <= 0:
                self.level -= amount
                return 0.0
            return short / self.rate

    def take(self, amount: float) -> None:
        if amount <= 0:
            return
        while (wait := self._try(amount)) > 0:
            time.sleep(wait)


class _Budget:
    """One process's share of the job's request and token budgets."""

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self.requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None

    def take(self, tokens: int, requests: int) -> None:
        if self.requests is not None:
            self.requests.take(requests)
        if self.tokens is not None:
            self.tokens.take(tokens)


def _to_send(values: pd.Series, config: EmbedConfig) -> tuple[int, int]:
    """Exact tokens and requests a job on ``values`` sends now (what the cache holds is not sent)."""
    backend = resolve_backend(config, announce=False)
    cfg = backend.config
    plan = _plan(values, cfg, values.name, on_bad="mark")
    if not plan.pieces:
        return 0, 0
    store = open_cache(cfg)
    if store is None:
        todo = np.arange(len(plan.pieces))
    else:
        todo = np.flatnonzero(~store.contains(piece_keys(cfg, plan.pieces)))
    if not len(todo):
        return 0, 0
    tokenizer = backend.tokenizer
    counts = np.array(
        [
            int(plan.piece_bound[i])
            if plan.piece_exact[i]
            else len(tokenizer.encode_ordinary(plan.pieces[i]))
            for i in todo.tolist()
        ],
        dtype=np.int64,
    )
    max_tokens = min(cfg.max_tokens_per_request, cfg.tokens_per_minute or cfg.max_tokens_per_request)
    batches = pack(
        counts,
        np.ones(len(counts), dtype=bool),
        max_inputs=cfg.max_inputs_per_request,
        max_tokens=max(max_tokens, int(counts.max())),
        count=lambda i: int(counts[i]),
    )
    return int(counts.sum()), len(batches)


def _plan(values: pd.Series, config: EmbedConfig, column: Hashable, *, on_bad: str) -> Plan:
    """The plan the engine makes for ``values`` (no request)."""
    backend = resolve_backend(config, announce=False)
    return plan_for(values.to_numpy(dtype=object), values.index, backend, column=column, on_bad=on_bad)


def _row_details(plan: Plan) -> dict[str, Any]:
    return api.row_details(cast(JobResult, types.SimpleNamespace(plan=plan)))


def _sendable(text: str) -> str:
    """``text`` as it is sent: lone surrogates become U+FFFD (as the engine does)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _fit_dim(out: pd.DataFrame, name: Hashable, job: _Job) -> pd.DataFrame:
    """``out`` with its vector column of the job's size; vectors of another size raise."""
    column = out[name]
    if column.dtype == vector_dtype(job.dim):
        return out
    if column.notna().any():
        size = getattr(getattr(column.dtype, "pyarrow_dtype", None), "list_size", column.dtype)
        raise ResponseError(
            f"the server sent {size}-dimensional vectors, but the column was set up for {job.dim} "
            f"(from {job.dim_source}); pass vector_size=... (or dimensions=...) to match the server"
        )
    n = len(out)  # no vector at all (every text refused): the engine guessed the size
    out[name] = from_numpy(
        np.zeros((n, job.dim), dtype=np.float32), valid=np.zeros(n, dtype=bool), index=out.index
    )
    return out


def _output_meta(meta: pd.DataFrame, job: _Job) -> pd.DataFrame:
    """The empty frame with the result's columns and dtypes (Dask's ``meta``)."""
    out = meta.copy()
    out[job.output] = from_numpy(np.zeros((0, job.dim), dtype=np.float32), index=out.index)
    if job.details:
        empty = _plan(pd.Series([], dtype=object), job.config, job.column, on_bad="mark")
        for suffix, values in _row_details(empty).items():
            out[f"{job.column}_{suffix}"] = pd.Series(values, index=out.index)
    out.attrs[PROVENANCE_ATTR] = job.provenance
    return out


def _stats_meta() -> pd.DataFrame:
    return _stats_frame({}).iloc[:0]


def _stats_frame(stats: Mapping[str, Any]) -> pd.DataFrame:
    row: dict[str, Any] = {k: int(stats.get(k, 0)) for k in _SUMMED}
    row["seconds"] = float(stats.get("seconds", 0.0))
    return pd.DataFrame([row])


def _estimate_meta() -> pd.DataFrame:
    row: dict[str, Any] = {f: 0 for f in Estimate.__dataclass_fields__ if f not in ("model", "usd")}
    row["usd"] = 0.0
    row["with_text"] = 0
    return pd.DataFrame([row]).iloc[:0]


def _sum_estimates(rows: pd.DataFrame, resolved: EmbedConfig, sent: pd.DataFrame) -> Estimate:
    """One :class:`Estimate` from per-partition ones: row counts from ``rows``, what is sent from ``sent``."""

    def total(frame: pd.DataFrame, name: str) -> int:
        return int(frame[name].sum()) if len(frame) else 0

    distinct = total(sent, "distinct_texts")
    duplicates = total(rows, "duplicate_rows") if sent is rows else total(rows, "with_text") - distinct
    tokens = total(sent, "tokens")
    price = resolved.model_info.usd_per_million_tokens
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
        usd=None if price is None else tokens * price / 1_000_000,
    )


# ---------------------------------------------------------------------------- registering

_registered = False
_register_lock = threading.Lock()


def register() -> None:
    """Register ``.embed`` on Dask DataFrames and Series (imports ``dask.dataframe``; idempotent)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        from dask.dataframe.extensions import register_dataframe_accessor, register_series_accessor

        register_dataframe_accessor("embed")(DaskEmbedAccessor)  # type: ignore[no-untyped-call]
        register_series_accessor("embed")(DaskSeriesEmbedAccessor)  # type: ignore[no-untyped-call]
        _registered = True


class _RegisteringLoader(importlib.abc.Loader):
    """Runs ``dask.dataframe``'s own loader, then registers the accessors."""

    def __init__(self, inner: importlib.abc.Loader, finder: _RegisterOnImport) -> None:
        self._inner = inner
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self._inner  # the module sees its real loader (resources, reload)
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        self._finder.remove()
        try:
            register()
        except Exception as exc:  # never break the user's import of Dask
            warnings.warn(f"embedframe: could not register ddf.embed ({exc!r})", RuntimeWarning, stacklevel=2)


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``dask.dataframe`` so the accessors appear when it is imported."""

    target = "dask.dataframe"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.target:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _RegisteringLoader(spec.loader, self)
            return spec
        return None

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def _register_lazily() -> None:
    """Register now if ``dask.dataframe`` is loaded, else when it is; nothing without Dask."""
    if "dask.dataframe" in sys.modules:
        register()
        return
    try:
        if importlib.util.find_spec("dask") is None:
            return
    except (ImportError, ValueError):
        return
    if not any(type(f).__name__ == _RegisterOnImport.__name__ for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


_register_lazily()
