"""Embed a file larger than memory: stream it in batches of rows, write Parquet parts, resume.

The input (Parquet, CSV or JSON Lines) is read in batches of ``batch_rows`` rows; each
batch is embedded and written as one Parquet part, atomically, next to a manifest that
pins the input and the options. A rerun after a crash skips the parts already written
(and the cache makes the batch in progress cheap), so the output never gets duplicate
rows. With a ``.parquet`` destination the parts are merged into that one file at the end,
one part at a time, so peak memory stays bounded by the batch size.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import is_scalar

from ._job.sync import run_sync
from ._storage.inputs import (
    InputOptions,
    InputSummary,
    check_column,
    check_input,
    fingerprint,
    input_format,
    read_batches,
)
from ._storage.outputs import (
    JOB_KEY,
    job_changes,
    job_identity,
    job_signature,
    open_parts_dir,
    part_done,
    stored_job,
    write_manifest,
)
from ._wire.limits import shared_limits
from .api import aembed_column, output_name
from .config import EmbedConfig, resolve_config
from .errors import InputError
from .estimate import Estimate, estimate
from .options import EmbedOptions, takes_options
from .parquet import frame_to_table, read_provenance, write_table
from .provenance import PROVENANCE_ATTR

__all__ = [
    "FileStats",
    "aembed_file",
    "embed_file",
    "estimate_file",
    "job_changes",
    "job_identity",
    "read_batches",
]


@dataclass
class FileStats:
    """What a file job did."""

    rows: int = 0
    parts_written: int = 0
    parts_skipped: int = 0
    requests: int = 0
    tokens: int = 0
    """Tokens billed (the server's ``usage``)."""
    tokens_sent: int = 0
    """Token budget spent on the wire, retries and splits included: an upper bound."""
    cache_hits: int = 0
    error_rows: int = 0
    null_vectors: int = 0
    """Rows written with a null vector (null, empty or bad text)."""
    already_done: bool = False
    """The output already held this very job, finished: nothing was read, sent or written."""
    seconds: float = 0.0
    usd: float | None = None
    model: str = ""
    outputs: list[str] = field(default_factory=list)


@takes_options
async def aembed_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    column: Hashable,
    output: Hashable | None = None,
    batch_rows: int = 20_000,
    format: str | None = None,
    file_encoding: str | None = None,
    delimiter: str | None = None,
    dtype: Mapping[str, str] | None = None,
    details: bool = False,
    drop_null_vectors: bool = False,
    overwrite: bool = False,
    on_part: Callable[[int, int], None] | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> FileStats:
    """Embed ``column`` of the file ``src`` into ``dst``, carrying every other column through.

    ``dst`` ending in ``.parquet`` gives one file; any other ``dst`` is a directory of part
    files (``part-00000.parquet``, ...). A CSV's columns are carried as text (``01234``
    stays ``"01234"``) unless ``dtype`` (``{"stars": "int64"}``) gives their types; its empty
    fields are nulls, as pandas reads them. ``file_encoding`` (default UTF-8) and
    ``delimiter`` (default ``,``) say how the file is written. The whole input is read once
    before anything is sent, so a bad line is reported before it costs anything.

    Rerunning the same call resumes after a crash, and does nothing (sends nothing, leaves
    the output as it is) when the job had finished. The same job means the same input
    content, options and resolved server, model and tokenizer (:func:`job_identity`);
    another job into an existing output is refused unless ``overwrite=True``.
    ``drop_null_vectors=True`` writes only the rows that have a vector (for consumers such
    as LanceDB that refuse null vectors); the summary still counts the rows left out.
    ``on_part(part_number, rows)`` is called after each part is written.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    started = time.perf_counter()
    cfg = resolve_config(config, options)
    opts = InputOptions(format=format, encoding=file_encoding, delimiter=delimiter, dtype=dtype or {})
    source, target = Path(src), Path(dst)
    kind = input_format(source, format)
    if not source.exists():
        raise InputError(f"input file {str(source)!r} does not exist")
    single = target.suffix.lower() in (".parquet", ".pq")
    parts = target.with_name(target.name + ".parts") if single else target
    vector_column = output if output is not None else output_name(column)
    identity = job_identity(cfg, column=column, vector_column=vector_column, details=details)
    previous = stored_job(single, target, parts)
    signature = job_signature(identity, fingerprint(source, previous), batch_rows, kind, opts)
    if drop_null_vectors:  # recorded only when on, so outputs written before it still match
        signature["drop_null_vectors"] = True
    if not overwrite:
        done = _already_done(single, target, parts, previous, signature)
        if done is not None:
            done.seconds = time.perf_counter() - started
            return done
    summary = check_input(source, column=column, batch_rows=batch_rows, options=opts)
    created = open_parts_dir(parts, signature, previous if parts.exists() else None, overwrite)
    stats = FileStats()
    try:
        await _embed_parts(
            source,
            parts,
            column,
            output,
            vector_column,
            batch_rows,
            details,
            on_part,
            cfg,
            opts,
            summary,
            signature,
            stats,
        )
    except BaseException:
        if created and stats.parts_written == 0:
            shutil.rmtree(parts, ignore_errors=True)  # nothing to resume: leave nothing behind
        raise
    from .models import model_info

    price = model_info(stats.model).usd_per_million_tokens if stats.model else None
    stats.usd = stats.tokens * price / 1_000_000 if price is not None else None
    if single:
        write_table(sorted(parts.glob("part-*.parquet")), target)
        shutil.rmtree(parts)
        stats.outputs = [str(target)]
    else:
        write_manifest(parts, {**signature, "finished": {"rows": stats.rows}})
        stats.outputs = sorted(str(p) for p in parts.glob("part-*.parquet"))
    stats.seconds = time.perf_counter() - started
    return stats


def _already_done(
    single: bool, target: Path, parts: Path, previous: dict[str, Any] | None, signature: dict[str, Any]
) -> FileStats | None:
    """The stats of this very job found finished in the output, or None; raises for another job there."""
    if single and target.exists():
        if previous is None:
            raise InputError(
                f"{str(target)!r} exists and was not written by an embedframe file job; pass "
                "overwrite=True to replace it, or choose another destination"
            )
        changed = job_changes(previous, signature)
        if changed:
            raise InputError(
                f"{str(target)!r} exists and holds a different job (changed: {', '.join(changed)}); "
                "pass overwrite=True to replace it, or choose another destination"
            )
        files = [target]
    elif (
        not single
        and previous is not None
        and "finished" in previous
        and not job_changes(previous, signature)
    ):
        files = sorted(parts.glob("part-*.parquet"))
    else:
        return None
    stats = FileStats(already_done=True, parts_skipped=len(files), usd=0.0, outputs=[str(f) for f in files])
    try:
        for f in files:
            stats.rows += pq.ParquetFile(f).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None  # a part damaged since: resume, which rewrites it
    if not single and stats.rows != previous.get("finished", {}).get("rows"):
        return None  # a part removed since: resume, which writes it again
    if files:
        stats.model = str(read_provenance(files[0]).get("model") or "")
    return stats


async def _embed_parts(
    source: Path,
    parts: Path,
    column: Hashable,
    output: Hashable | None,
    vector_column: Hashable,
    batch_rows: int,
    details: bool,
    on_part: Callable[[int, int], None] | None,
    cfg: EmbedConfig,
    opts: InputOptions,
    summary: InputSummary,
    signature: Mapping[str, Any],
    stats: FileStats,
) -> None:
    """Embed the input batch by batch into ``parts``, skipping the parts already written."""
    job = json.dumps(dict(signature), sort_keys=True).encode()
    # One budget for the whole file: each batch is its own job, and a fresh full bucket per
    # batch would let the file as a whole go over tokens_per_minute.
    with shared_limits():
        batches = read_batches(source, batch_rows=batch_rows, text_column=column, options=opts)
        size: int | None = None  # of the vectors in the parts so far
        for number, frame in enumerate(batches):
            part = parts / f"part-{number:05d}.parquet"
            stats.rows += len(frame)
            if part_done(part, len(frame)):
                stats.parts_skipped += 1
                size = size or _stored_size(part, vector_column)
                stats.model = stats.model or str(read_provenance(part).get("model") or "")
                stats.null_vectors += _null_count(part, vector_column)
                continue
            batch_cfg = _config_for_batch(cfg, frame, column, size)
            out = await aembed_column(frame, column, output=output, details=details, config=batch_cfg)
            if size is None and out[vector_column].notna().any():
                size = _size_of(out[vector_column])
            summary_ = out.attrs.get("embedframe", {})
            stats.model = summary_.get("model", "")
            stats.requests += summary_.get("requests", 0)
            stats.tokens += summary_.get("tokens", 0)
            stats.tokens_sent += summary_.get("tokens_sent", 0)
            stats.cache_hits += summary_.get("cache_hits", 0)
            stats.error_rows += summary_.get("error_rows", 0)
            stats.null_vectors += int(out[vector_column].isna().sum())
            if details:
                out[column] = _writable_texts(out[column])
            table = frame_to_table(
                out,
                provenance=out.attrs[PROVENANCE_ATTR][str(vector_column)],
                drop_null_vectors=bool(signature.get("drop_null_vectors")),
            )
            table = _as_input_types(table, summary.schema, {str(column), str(vector_column)})
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), JOB_KEY: job})
            write_table(table, part)
            stats.parts_written += 1
            if on_part is not None:
                on_part(number, len(frame))


def _as_input_types(table: pa.Table, schema: pa.Schema | None, skip: set[str]) -> pa.Table:
    """``table`` with each carried column cast to the type it has over the whole input.

    A JSON Lines column of integers gets nulls (floats) in some batches only; every part
    must have the same schema, or the parts could not be merged.
    """
    if schema is None:
        return table
    for i, f in enumerate(table.schema):
        if f.name in skip or f.name not in schema.names:
            continue
        want = schema.field(f.name).type
        if not f.type.equals(want) and not pa.types.is_null(want):
            table = table.set_column(i, pa.field(f.name, want), table.column(i).cast(want))
    return table


def _null_count(part: Path, vector_column: Hashable) -> int:
    file = pq.ParquetFile(part)
    if str(vector_column) not in file.schema_arrow.names:
        return 0
    return sum(b.column(0).null_count for b in file.iter_batches(columns=[str(vector_column)]))


def _config_for_batch(
    cfg: EmbedConfig, frame: pd.DataFrame, column: Hashable, size: int | None
) -> EmbedConfig:
    """``cfg``, or for a batch with no text to send, ``cfg`` sized like the parts so far.

    Nothing is sent for such a batch, so its null vectors would otherwise take the model
    table's size (which a server may not match), or fail for a model whose size is not known.
    """
    if size is None or cfg.dimensions is not None or not cfg.model_info.supports_dimensions:
        return cfg
    if column not in frame.columns or _has_text(frame[column]):
        return cfg
    return cfg.replace(dimensions=size)


def _has_text(values: pd.Series) -> bool:
    """Whether any value is a string with something other than whitespace: something to send."""
    return any(isinstance(v, str) and v and not v.isspace() for v in values.tolist())


def _size_of(vectors: pd.Series) -> int | None:
    dtype = vectors.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_fixed_size_list(dtype.pyarrow_dtype):
        return int(dtype.pyarrow_dtype.list_size)
    return None


def _stored_size(part: Path, vector_column: Hashable) -> int | None:
    """The size of the vectors in a part file written earlier."""
    schema = pq.read_schema(part)
    if str(vector_column) not in schema.names:
        return None
    t = schema.field(str(vector_column)).type
    return int(t.list_size) if pa.types.is_fixed_size_list(t) else None


def _writable_texts(texts: pd.Series) -> pd.Series:
    """The text column with each value that is not a string (a bad row, reported as such) as its ``str()``.

    Parquet cannot store a column that mixes strings with numbers, bytes or lists.
    """
    if texts.dtype != object:
        return texts
    values = texts.tolist()
    bad = [i for i, v in enumerate(values) if not isinstance(v, str) and not (is_scalar(v) and pd.isna(v))]
    if not bad:
        return texts
    for i in bad:
        values[i] = str(values[i])
    return pd.Series(values, index=texts.index, name=texts.name, dtype=object)


@takes_options
def embed_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    column: Hashable,
    output: Hashable | None = None,
    batch_rows: int = 20_000,
    format: str | None = None,
    file_encoding: str | None = None,
    delimiter: str | None = None,
    dtype: Mapping[str, str] | None = None,
    details: bool = False,
    drop_null_vectors: bool = False,
    overwrite: bool = False,
    on_part: Callable[[int, int], None] | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> FileStats:
    """Sync :func:`aembed_file`."""
    return run_sync(
        aembed_file(
            src,
            dst,
            column=column,
            output=output,
            batch_rows=batch_rows,
            format=format,
            file_encoding=file_encoding,
            delimiter=delimiter,
            dtype=dtype,
            details=details,
            drop_null_vectors=drop_null_vectors,
            overwrite=overwrite,
            on_part=on_part,
            config=config,
            **options,
        )
    )


@takes_options
def estimate_file(
    src: str | os.PathLike[str],
    *,
    column: Hashable,
    batch_rows: int = 1_000_000,
    format: str | None = None,
    file_encoding: str | None = None,
    delimiter: str | None = None,
    dtype: Mapping[str, str] | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> Estimate:
    """What :func:`embed_file` would send for ``column`` of ``src``, read the same way; no network.

    The file is read ``batch_rows`` rows at a time, so memory stays bounded; the counts
    are summed over the batches.
    """
    opts = InputOptions(format=format, encoding=file_encoding, delimiter=delimiter, dtype=dtype or {})
    source = Path(src)
    total: dict[str, Any] | None = None
    for frame in read_batches(source, batch_rows=batch_rows, text_column=column, options=opts):
        if total is None:
            check_column(source, column, list(frame.columns))
        part = estimate(frame[column], column=column, config=config, **options).as_dict()
        if total is None:
            total = part
            continue
        for key, value in part.items():
            summed = key != "max_input_tokens"  # a setting, the same for every batch
            if summed and isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = (total[key] or 0) + value
    if total is None:  # pragma: no cover  (read_batches always gives a frame, or raises)
        total = estimate(pd.Series([], dtype=object), config=config, **options).as_dict()
    return Estimate(**total)
