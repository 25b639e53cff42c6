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
the engine's meaning: they are split into ``workers`` equal shares (default: the number of
workers of the current ``distributed`` client when the graph is built). Each worker
process keeps one share, as the engine's own limiter, for the whole job, across the
partitions it runs (one at a time), and the engine paces every request by it. A
``distributed.Semaphore`` with ``workers`` leases lets at most that many processes embed at
once, so a cluster that grows does not grow the budget. With no client-side limits the
budget is what the server's ``x-ratelimit-*`` headers report, split the same way (each
process paces itself at ``1/workers`` of it). Every worker also lowers its budget to its
share of what the headers say is left of the account. A 429 pauses every worker of the cluster (a pause published in a
``distributed.Variable``, read by each worker every 0.2 s while it sends).

The modules: ``_tasks`` (what runs on the workers: the engine, fitted to the graph),
``_cluster`` (budget shares, the semaphore and the shared pause), ``_write`` (Parquet parts)
and ``_register`` (the accessors appear when ``dask.dataframe`` is imported).
"""

from __future__ import annotations

import collections
import functools
import logging
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal, Unpack, cast

import pandas as pd

from .. import api
from .._core.plan import sendable
from .._job.backend import resolve_backend
from .._storage.cachestore import is_remote, local_path, public_location
from ..config import EmbedConfig, default_cache, resolve_config
from ..errors import ConfigError, InputError
from ..estimate import Estimate
from ..options import EmbedOptions, takes_options
from ..provenance import PROVENANCE_ATTR, attached_provenance, provenance_for
from ..vectors import output_name
from ._cluster import Cluster, share_limits
from ._register import register, register_lazily
from ._tasks import (
    TEXTS_META,
    Job,
    embed_partition,
    embed_texts,
    estimate_meta,
    estimate_part,
    output_meta,
    stats_meta,
    sum_estimates,
    texts_to_embed,
    totals,
)
from ._write import (
    WRITTEN_META,
    existing_job,
    inputs_of,
    job_marker,
    prepare_local_dir,
    prepare_remote_dir,
    remove_marker,
    series_digest,
    write_marker,
    write_part,
    write_started,
)
from .accessor import DaskEmbedAccessor, DaskSeriesEmbedAccessor

__all__ = [
    "DaskEmbedAccessor",
    "DaskSeriesEmbedAccessor",
    "embed_column",
    "estimate",
    "register",
    "to_parquet",
]

Dedupe = Literal["job", "partition"]

log = logging.getLogger("embedframe")

_share_limits = share_limits
"""The per-task config and number of shares (kept under its old name for the tests)."""


# ---------------------------------------------------------------------------------- the API


@takes_options
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
    **options: Unpack[EmbedOptions],
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
    api.get_column(ddf._meta, column)
    cfg = _job_config(config, options)
    mode = _mode(dedupe, cfg)
    name = output if output is not None else output_name(column)
    backend = resolve_backend(cfg, announce=False)
    resolved = backend.config
    dim, source = _vector_size(ddf, column, cfg, resolved, vector_size)
    task_config, shares = share_limits(cfg, workers)
    provenance = dict(ddf._meta.attrs.get(PROVENANCE_ATTR, {}))
    provenance[str(name)] = provenance_for(
        resolved, dimensions=dim, column=column, vector_column=name, model=resolved.model
    )
    # What the vectors were made from, as Dask names it (its token of the input column), so
    # a rerun into the same directory can tell the same job from another.
    token = _tokenize(ddf[column])
    provenance[str(name)]["dask_input"] = token
    _remember_input(token, ddf[column])
    job = Job(
        config=task_config,
        column=column,
        output=name,
        details=bool(details),
        dim=dim,
        dim_source=source,
        provenance=provenance,
        cluster=Cluster.start(task_config, shares, workers),
        model=str(resolved.model),
        backend=backend.description,
    )
    meta = output_meta(ddf._meta, job)
    if mode == "partition":
        return ddf.map_partitions(embed_partition, job, None, meta=meta)
    texts = ddf[column].map_partitions(
        texts_to_embed, task_config, column, "mark" if details else "raise", meta=TEXTS_META
    )
    distinct = texts.drop_duplicates(split_out=ddf.npartitions)
    stats = distinct.map_partitions(embed_texts, job, meta=stats_meta())
    job_totals = _delayed(totals)(stats, job.model, job.backend)
    return ddf.map_partitions(embed_partition, job, job_totals, meta=meta)


@takes_options
def estimate(
    ddf: Any,
    column: Hashable,
    *,
    config: EmbedConfig | None = None,
    dedupe: Dedupe = "job",
    **options: Unpack[EmbedOptions],
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
        api.get_column(ddf._meta, column)
        series = ddf[column]
    cfg = _job_config(config, options)
    mode = _mode(dedupe, cfg)
    resolved = resolve_backend(cfg, announce=False).config
    per_partition = series.map_partitions(estimate_part, cfg, column, meta=estimate_meta())
    if mode == "partition":
        (rows,) = _compute(per_partition)
        return sum_estimates(rows, resolved, rows)
    texts = series.map_partitions(texts_to_embed, cfg, column, "mark", meta=TEXTS_META)
    distinct = texts.drop_duplicates(split_out=series.npartitions)
    per_text = distinct.map_partitions(estimate_part, cfg, "text", meta=estimate_meta())
    rows, sent = _compute(per_partition, per_text)
    return sum_estimates(rows, resolved, sent)


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
    else:
        if storage_options:
            raise ConfigError("storage_options are for an fsspec URL (s3://...); the path here is local")
        target = str(local_path(path, what="to_parquet"))
    provenance = attached_provenance(ddf._meta)
    marker = job_marker(provenance, ddf.npartitions, {"text_hash_column": text_hash_column, **kwargs})
    content = functools.partial(_input_content, provenance, ddf.npartitions)
    prior = None if overwrite else existing_job(target, storage_options, marker, content)
    if prior is not None and prior.rows is not None:
        # The same job, finished: nothing to send or write (a scheduler's rerun).
        log.info(
            "%s already holds this job, finished (%d rows): nothing to do",
            public_location(target),
            prior.rows,
        )
        return _delayed(int)(prior.rows) if not compute else None
    if prior is not None:
        # The same job, stopped before it finished: its parts are written again (the
        # vector cache spares what was paid), no overwrite=True needed for a retry.
        log.info("%s holds this job, unfinished: writing its parts again", public_location(target))
        overwrite = True
    if overwrite:
        remove_marker(target, storage_options)
    if is_remote(target):
        prepare_remote_dir(target, storage_options, overwrite)
    else:
        prepare_local_dir(Path(target), overwrite)
    write_started(target, storage_options, marker)
    width = max(5, len(str(ddf.npartitions - 1)))
    written = ddf.map_partitions(
        write_part,
        target,
        width,
        provenance,
        text_hash_column,
        kwargs,
        dict(storage_options or {}),
        meta=WRITTEN_META,
        enforce_metadata=False,
    )
    total = _delayed(write_marker)(written, target, dict(storage_options or {}), marker)
    if not compute:
        return total
    total.compute()
    return None


# -------------------------------------------------------------------------------- helpers


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ConfigError(f"embedframe.dask needs Dask: pip install 'dask[dataframe]' ({exc})") from exc
    register()
    return dd


_INPUTS: collections.OrderedDict[str, Any] = collections.OrderedDict()
"""The input columns of the jobs this process built, by Dask token (the latest few)."""
_INPUTS_KEPT = 32


def _remember_input(token: str, series: Any) -> None:
    _INPUTS[token] = series
    _INPUTS.move_to_end(token)
    while len(_INPUTS) > _INPUTS_KEPT:
        _INPUTS.popitem(last=False)


def _input_content(provenance: Mapping[str, Any] | None, parts: int) -> list[str] | None:
    """The digest of each partition of the texts a frame's vectors were made from, read now
    (no request is sent); ``None`` when that input is not known to this process, or is
    several columns."""
    inputs = inputs_of(provenance)
    series = _INPUTS.get(inputs[0][1]) if len(inputs) == 1 else None
    if series is None or series.npartitions != parts:
        return None
    digests = series.map_partitions(lambda s: pd.Series([series_digest(s)]), meta=(None, object))
    (found,) = _compute(digests)
    return [str(d) for d in found]


def _tokenize(collection: Any) -> str:
    from dask.base import tokenize

    return str(tokenize(collection))


def _delayed(fn: Any) -> Any:
    from dask.delayed import delayed

    return delayed(fn, pure=True)


def _compute(*collections: Any) -> tuple[Any, ...]:
    from dask.base import compute

    return tuple(compute(*collections))  # type: ignore[no-untyped-call]


def _job_config(config: EmbedConfig | None, options: Mapping[str, Any]) -> EmbedConfig:
    """The config every task gets: the cache pinned to one location, no progress bars.

    ``cache=True`` is resolved here, on the client, so that every worker uses the same
    directory whatever its environment; a local path becomes absolute, an fsspec URL
    (``s3://...``) is passed on as it is, with ``cache_storage_options``.
    """
    cfg = resolve_config(config, options)
    changes: dict[str, Any] = {"progress": False}
    if cfg.cache is True:
        changes["cache"] = str(default_cache())  # $EMBEDFRAME_CACHE_DIR as the client sees it
    elif cfg.cache is not False and cfg.cache_url is None:
        changes["cache"] = str(local_path(cfg.cache, what="the vector cache"))
    return cfg.derive(**changes)


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
    known = resolved.expected_dimensions
    if known is not None:
        where = "dimensions=" if resolved.dimensions else f"the model table's size for {resolved.model!r}"
        return known, where
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
            if cfg.long_text == "error" and len(sendable(value).encode("utf-8")) > cfg.input_limit:
                continue
            return value
    return None


register_lazily()
